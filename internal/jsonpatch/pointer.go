package jsonpatch

import (
	"strconv"
	"strings"
)

// Pointer is a parsed JSON Pointer (RFC 6901): its reference tokens, unescaped.
// The empty Pointer refers to the whole document.
type Pointer []string

// ParsePointer parses the string form of a JSON Pointer: "" or a sequence of "/token", where
// "~1" stands for "/" and "~0" for "~"; any other "~" sequence is an error.
func ParsePointer(s string) (Pointer, error) {
	if s == "" {
		return Pointer{}, nil
	}
	if s[0] != '/' {
		return nil, &DocumentError{Msg: "JSON Pointer " + strconv.Quote(s) + " does not start with '/'"}
	}
	parts := strings.Split(s[1:], "/")
	for i, p := range parts {
		if !strings.Contains(p, "~") {
			continue
		}
		var b strings.Builder
		for j := 0; j < len(p); j++ {
			if p[j] != '~' {
				b.WriteByte(p[j])
				continue
			}
			if j+1 == len(p) || (p[j+1] != '0' && p[j+1] != '1') {
				return nil, &DocumentError{Msg: "JSON Pointer " + strconv.Quote(s) + " has an invalid '~' escape"}
			}
			if p[j+1] == '0' {
				b.WriteByte('~')
			} else {
				b.WriteByte('/')
			}
			j++
		}
		parts[i] = b.String()
	}
	return Pointer(parts), nil
}

// String is the escaped string form of the pointer.
func (p Pointer) String() string {
	var b strings.Builder
	r := strings.NewReplacer("~", "~0", "/", "~1")
	for _, t := range p {
		b.WriteByte('/')
		b.WriteString(r.Replace(t))
	}
	return b.String()
}

// isPrefixOf reports whether p is a proper prefix of q (q points inside what p points to).
func (p Pointer) isPrefixOf(q Pointer) bool {
	if len(p) >= len(q) {
		return false
	}
	for i := range p {
		if p[i] != q[i] {
			return false
		}
	}
	return true
}

// arrayIndex parses an array index token: "0" or digits without a leading zero, below limit.
func arrayIndex(tok string, limit int) (int, bool) {
	if tok == "" || len(tok) > 9 || (len(tok) > 1 && tok[0] == '0') {
		return 0, false
	}
	n := 0
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n < limit
}
