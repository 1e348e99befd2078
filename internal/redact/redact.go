// Package redact takes the identifiers out of an error message before it is logged, keeping
// the words that say what failed: "sqlite: write Observation/0193f6a2-…: database is locked"
// becomes "sqlite: write Observation/…: database is locked".
//
// It removes what may point at a person or quote what they sent: the id after a resource type
// ("Patient/123"), UUIDs, numbers of more than 3 digits (ids, dates, phone numbers; short ones
// such as an HTTP status or a count stay), e-mail addresses, anything in quotes ("…", '…',
// `…`, «…»), and words that mix letters and digits over 8 or more characters (tokens,
// cursors, hashes). What remains is the error's own vocabulary.
package redact

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Mask replaces what was removed.
const Mask = "…"

// MaxLen bounds a redacted message: longer ones are cut, with Mask at the end.
const MaxLen = 512

// Message returns msg without identifiers, quotes and e-mail addresses, at most about MaxLen
// bytes.
func Message(msg string) string {
	var b strings.Builder
	b.Grow(min(len(msg), MaxLen))
	i := 0
	for i < len(msg) && b.Len() < MaxLen {
		r, size := utf8.DecodeRuneInString(msg[i:])
		if closing, ok := quotes[r]; ok && !apostrophe(msg, i, size) {
			b.WriteRune(r)
			b.WriteString(Mask)
			end := strings.IndexRune(msg[i+size:], closing)
			if end < 0 { // a quote never closed: everything after it may be quoted text
				return b.String()
			}
			b.WriteRune(closing)
			i += size + end + utf8.RuneLen(closing)
			continue
		}
		if !isWordRune(r) {
			b.WriteRune(r)
			i += size
			continue
		}
		end := i + wordEnd(msg[i:])
		writeWord(&b, msg[i:end])
		i = end
	}
	if i < len(msg) {
		b.WriteString(Mask)
	}
	return b.String()
}

// writeWord writes one word with its identifying parts masked. A word is split at '/': after
// a segment that names a resource type ("Patient/123", "/fhir/Observation/abc/_history/2")
// the rest is masked; any other segment is masked when it looks like an identifier (secret).
func writeWord(b *strings.Builder, word string) {
	segs := strings.Split(word, "/")
	for i, seg := range segs {
		if i > 0 {
			b.WriteByte('/')
		}
		if secret(seg) {
			b.WriteString(Mask)
		} else {
			b.WriteString(seg)
		}
		if isTypeName(seg) && i+1 < len(segs) {
			b.WriteString("/" + Mask)
			return
		}
	}
}

// apostrophe reports whether the quote at msg[i:i+size] stands between two letters, as in
// "can't": part of a word, not the start of a quotation.
func apostrophe(msg string, i, size int) bool {
	if msg[i] != '\'' || i == 0 || i+size >= len(msg) {
		return false
	}
	before, _ := utf8.DecodeLastRuneInString(msg[:i])
	after, _ := utf8.DecodeRuneInString(msg[i+size:])
	return unicode.IsLetter(before) && unicode.IsLetter(after)
}

// quotes maps each opening quotation mark to its closing one.
var quotes = map[rune]rune{'"': '"', '\'': '\'', '`': '`', '«': '»', '“': '”', '‘': '’'}

// isWordRune reports whether r belongs to a word: what may form an identifier, a number, a
// path of ids or an e-mail address.
func isWordRune(r rune) bool {
	switch r {
	case '_', '-', '.', '@', '/', '+':
		return true
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r)
}

// wordEnd is the length of the word at the start of s, without trailing dots (the end of a
// sentence).
func wordEnd(s string) int {
	n := 0
	for n < len(s) {
		r, size := utf8.DecodeRuneInString(s[n:])
		if !isWordRune(r) {
			break
		}
		n += size
	}
	for n > 1 && s[n-1] == '.' {
		n--
	}
	return n
}

// isTypeName reports whether s looks like a FHIR resource type: an upper-case letter, then
// letters, 4 or more (Flag, Patient, MedicationRequest; not I/O).
func isTypeName(s string) bool {
	if len(s) < 4 || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// secret reports whether a word may identify something: an e-mail address, a UUID, a run of
// more than 3 digits, or 8 or more characters mixing letters and digits.
func secret(w string) bool {
	if strings.Contains(w, "@") {
		return true
	}
	run, maxRun, letters, digits := 0, 0, 0, 0
	for _, r := range w {
		if unicode.IsDigit(r) {
			digits++
			run++
			maxRun = max(maxRun, run)
			continue
		}
		run = 0
		if unicode.IsLetter(r) {
			letters++
		}
	}
	switch {
	case maxRun > 3:
		return true
	case isUUID(w): // one of letters a-f only has no digit to give it away
		return true
	case digits > 0 && letters > 0 && utf8.RuneCountInString(w) >= 8:
		return true
	}
	return false
}

// isUUID reports whether w holds a UUID (8-4-4-4-12 hex digits) anywhere in it.
func isUUID(w string) bool {
	for i := 0; i+36 <= len(w); i++ {
		if isUUIDAt(w[i : i+36]) {
			return true
		}
	}
	return false
}

func isUUIDAt(s string) bool {
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}
