package main

import (
	"regexp"
	"strings"
	"unicode"
)

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// initialisms are spelled the Go way in identifiers (ID, not Id).
var initialisms = map[string]string{
	"Id": "ID", "Url": "URL", "Uri": "URI", "Uuid": "UUID", "Oid": "OID",
	"Http": "HTTP", "Json": "JSON", "Xml": "XML",
}

// goName turns a FHIR camelCase name into an exported Go identifier: birthDate -> BirthDate,
// valueUri -> ValueURI.
func goName(s string) string {
	var b strings.Builder
	for _, w := range camelWords(upperFirst(s)) {
		if up, ok := initialisms[w]; ok {
			w = up
		}
		b.WriteString(w)
	}
	return b.String()
}

// camelWords splits "ValueBase64Binary" into Value, Base64, Binary.
func camelWords(s string) []string {
	var words []string
	start := 0
	for i := 1; i < len(s); i++ {
		if unicode.IsUpper(rune(s[i])) && !unicode.IsUpper(rune(s[i-1])) {
			words = append(words, s[start:i])
			start = i
		}
	}
	return append(words, s[start:])
}

// codeName turns a code into the tail of a constant name: entered-in-error -> EnteredInError,
// 4.0.1 -> 4_0_1 (an underscore only between two digit runs, where joining would be ambiguous).
// Codes without letters or digits ("<=") use their display instead.
func codeName(code, display string) string {
	name := identWords(strings.ReplaceAll(code, "+", " plus "))
	if name == "" {
		name = identWords(display)
	}
	return name
}

func identWords(s string) string {
	var b strings.Builder
	for _, w := range strings.FieldsFunc(s, func(r rune) bool { return !isASCIIAlnum(r) }) {
		if b.Len() > 0 && isDigit(b.String()[b.Len()-1]) && isDigit(w[0]) {
			b.WriteByte('_')
		}
		b.WriteString(upperFirst(w))
	}
	return b.String()
}

func isASCIIAlnum(r rune) bool {
	return r < 0x80 && (unicode.IsLetter(r) || unicode.IsDigit(r))
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

var exportedIdent = regexp.MustCompile(`^[A-Z][A-Za-z0-9]*$`)

// codeTypeName is the Go type name of a value set's codes: its published name when that is
// already a Go identifier (AdministrativeGender), else one made from the last segment of its
// url (medicationrequest-status -> MedicationrequestStatus).
func codeTypeName(x *expansion) string {
	if exportedIdent.MatchString(x.name) {
		return x.name
	}
	return urlTypeName(x)
}

func urlTypeName(x *expansion) string {
	return identWords(x.url[strings.LastIndexByte(x.url, '/')+1:])
}
