// Package jsonpos decodes configuration files with errors that say where the problem is: the
// line and column, and for a value of the wrong type the field it is for. encoding/json alone
// reports a truncated file as "unexpected EOF" and a type error with a byte offset.
package jsonpos

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Error is a decoding problem at a place in the file.
type Error struct {
	Line, Column int    // 1-based; Column counts characters
	Field        string // the JSON path of the value ("routes.0.id"), when known
	Msg          string
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("line %d, column %d: %s: %s", e.Line, e.Column, e.Field, e.Msg)
	}
	return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e.Msg)
}

// DecodeStrict decodes data, which must hold one JSON value and nothing after it, into v,
// refusing fields v does not have. Its errors are *Error where the place is known.
func DecodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return locate(data, err)
	}
	end := int(dec.InputOffset())
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		line, col := Position(data, skipSpace(data, end))
		return &Error{Line: line, Column: col, Msg: "more after the end of the JSON value"}
	}
	return nil
}

// unknownField matches encoding/json's error for a field v does not have.
var unknownField = regexp.MustCompile(`^json: unknown field ("(?:[^"\\]|\\.)*")$`)

// locate turns an encoding/json error into an *Error.
func locate(data []byte, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		line, col := Position(data, int(syn.Offset)-1)
		return &Error{Line: line, Column: col, Msg: strings.TrimPrefix(syn.Error(), "json: ")}
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		line, col := Position(data, len(data))
		msg := "the file ends inside a value (a closing } or ] or \" missing?)"
		if len(bytes.TrimSpace(data)) == 0 {
			msg = "the file is empty"
		}
		return &Error{Line: line, Column: col, Msg: msg}
	case errors.As(err, &typ):
		// Offset is just past the value: its place is where it starts.
		line, col := Position(data, valueStart(data, int(typ.Offset)))
		return &Error{Line: line, Column: col, Field: typ.Field,
			Msg: fmt.Sprintf("%s where %s is expected", article(typ.Value), jsonKind(typ.Type))}
	}
	if m := unknownField.FindStringSubmatch(err.Error()); m != nil {
		name, _ := strconv.Unquote(m[1])
		// encoding/json does not say where: the first key of that name is the likely place.
		if i := keyOffset(data, m[1]); i >= 0 {
			line, col := Position(data, i)
			return &Error{Line: line, Column: col, Msg: fmt.Sprintf("unknown field %q", name)}
		}
		return fmt.Errorf("unknown field %q", name)
	}
	return errors.New(strings.TrimPrefix(err.Error(), "json: "))
}

// Position is the 1-based line and column (in characters) of byte offset off in data.
func Position(data []byte, off int) (line, col int) {
	off = max(0, min(off, len(data)))
	before := data[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	start := bytes.LastIndexByte(before, '\n') + 1
	return line, utf8.RuneCount(before[start:]) + 1
}

// valueStart is the offset where the value that ends at end begins: encoding/json reports a
// type error just past the value (a scalar) or at its start (an object or array).
func valueStart(data []byte, end int) int {
	end = max(0, min(end, len(data)))
	i := end
	for i > 0 && isSpace(data[i-1]) {
		i--
	}
	if i == 0 {
		return 0
	}
	switch c := data[i-1]; {
	case c == '"': // a string: back to its opening quote
		for j := i - 2; j >= 0; j-- {
			if data[j] == '"' && !escaped(data, j) {
				return j
			}
		}
		return 0
	case c == '{' || c == '[': // an object or array: reported just past its opening
		return i - 1
	case c == '}' || c == ']' || c == ',' || c == ':':
		return skipSpace(data, end)
	}
	j := i // a number, true, false or null
	for j > 0 && !isSpace(data[j-1]) && !strings.ContainsRune(":,[{", rune(data[j-1])) {
		j--
	}
	return j
}

func escaped(data []byte, quote int) bool {
	n := 0
	for k := quote - 1; k >= 0 && data[k] == '\\'; k-- {
		n++
	}
	return n%2 == 1
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && isSpace(data[i]) {
		i++
	}
	return i
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// keyOffset is the offset of the first member name quoted (a JSON string with its quotes)
// followed by a colon, or -1.
func keyOffset(data []byte, quoted string) int {
	for from := 0; ; {
		i := bytes.Index(data[from:], []byte(quoted))
		if i < 0 {
			return -1
		}
		i += from
		if j := skipSpace(data, i+len(quoted)); j < len(data) && data[j] == ':' {
			return i
		}
		from = i + 1
	}
}

// article names a JSON value kind as encoding/json reports it ("string", "number", "object",
// "array", "bool").
func article(kind string) string {
	switch kind {
	case "array", "object":
		return "an " + kind
	case "bool":
		return "true or false"
	}
	if n, ok := strings.CutPrefix(kind, "number "); ok { // "number -1" for an out-of-range value
		return "the number " + n
	}
	return "a " + kind
}

// jsonKind names what a Go type is written as in JSON.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "another value"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number of at least 0"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return "a " + t.String()
}
