package fhir

import "strconv"

// primitive validates a primitive value: its JSON type, then its lexical form (the regexes of
// the R4 datatypes page, written out by hand because Go's regexp is too slow for every value
// of every request), then a required binding.
func (v *validator) primitive(val *Value, typeName string, el *Element) {
	want := String
	switch typeName {
	case "boolean":
		want = Bool
	case "integer", "positiveInt", "unsignedInt", "decimal":
		want = Number
	}
	if val.Kind != want {
		v.report("structure", "", "%s must be a JSON %s (FHIR %s), not %s", v.name(), want, typeName, kindName(val.Kind))
		return
	}
	if want == String && val.Text == "" {
		v.report("structure", "", "%s is an empty string; FHIR does not allow empty values", v.name())
		return
	}
	if problem := primitiveProblem(typeName, val.Text); problem != "" {
		v.report("value", "", "%s is not a valid %s: %s", quote(val.Text), typeName, problem)
		return
	}
	if typeName == "code" && el.Binding != nil && el.Binding.Enumerable && !el.Binding.HasCode(val.Text) {
		v.report("code-invalid", "", "%s is not a code of %s (a required binding)", quote(val.Text), el.Binding.URL)
	}
}

// primitiveProblem says what is wrong with the text of a primitive value, "" when nothing.
// decimal needs no check: the JSON number grammar, which the parser enforces, is the FHIR
// decimal grammar.
func primitiveProblem(typeName, s string) string {
	switch typeName {
	case "string", "markdown":
		return stringProblem(s)
	case "code":
		return codeProblem(s)
	case "id":
		return idProblem(s)
	case "uri", "url", "canonical":
		return uriProblem(s)
	case "oid":
		return oidProblem(s)
	case "uuid":
		return uuidProblem(s)
	case "base64Binary":
		return base64Problem(s)
	case "date":
		return dateTimeProblem(s, dateOnly)
	case "dateTime":
		return dateTimeProblem(s, dateOrDateTime)
	case "instant":
		return dateTimeProblem(s, instantOnly)
	case "time":
		return timeProblem(s)
	case "integer", "positiveInt", "unsignedInt":
		return integerProblem(typeName, s)
	case "xhtml":
		// The narrative is not parsed as XHTML: that needs an XML parser and the rules of
		// section 2.6.2.2 (no scripts, no forms); only its outer element is checked.
		if len(s) < 5 || s[:4] != "<div" || (s[4] != '>' && s[4] != ' ' && s[4] != '\t' && s[4] != '\n' && s[4] != '\r' && s[4] != '/') {
			return "the narrative must be an XHTML <div> element"
		}
	}
	return ""
}

// stringProblem: strings must not contain control characters other than tab, CR and LF.
func stringProblem(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
			return "control character at byte " + strconv.Itoa(i)
		}
	}
	return ""
}

// codeProblem: [^\s]+(\s[^\s]+)* — no leading, trailing or repeated whitespace.
func codeProblem(s string) string {
	if p := stringProblem(s); p != "" {
		return p
	}
	if isSpace(s[0]) || isSpace(s[len(s)-1]) {
		return "leading or trailing whitespace"
	}
	for i := 1; i < len(s); i++ {
		if isSpace(s[i]) && isSpace(s[i-1]) {
			return "repeated whitespace"
		}
	}
	return ""
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// idProblem: [A-Za-z0-9\-\.]{1,64}.
func idProblem(s string) string {
	if len(s) > 64 {
		return "longer than 64 characters"
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '-' && c != '.' {
			return "only letters, digits, '-' and '.' are allowed"
		}
	}
	return ""
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// uriProblem: \S* — no whitespace (relative and absolute URIs alike).
func uriProblem(s string) string {
	for i := 0; i < len(s); i++ {
		if isSpace(s[i]) || s[i] < 0x20 {
			return "whitespace is not allowed"
		}
	}
	return ""
}

// oidProblem: urn:oid:[0-2](\.(0|[1-9][0-9]*))+.
func oidProblem(s string) string {
	const bad = "must be urn:oid: followed by a dotted OID such as 2.16.840.1"
	rest, ok := cutPrefix(s, "urn:oid:")
	if !ok || len(rest) < 3 || rest[0] < '0' || rest[0] > '2' {
		return bad
	}
	rest = rest[1:]
	for rest != "" {
		if rest[0] != '.' || len(rest) < 2 || !isDigit(rest[1]) {
			return bad
		}
		n := 1
		for n < len(rest) && isDigit(rest[n]) {
			n++
		}
		if rest[1] == '0' && n > 2 {
			return bad // no leading zeros
		}
		rest = rest[n:]
	}
	return ""
}

// uuidProblem: urn:uuid: and a lowercase UUID.
func uuidProblem(s string) string {
	rest, ok := cutPrefix(s, "urn:uuid:")
	if !ok || len(rest) != 36 {
		return "must be urn:uuid: followed by a lowercase UUID"
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return "must be urn:uuid: followed by a lowercase UUID"
			}
		default:
			if !isDigit(c) && (c < 'a' || c > 'f') {
				return "must be urn:uuid: followed by a lowercase UUID"
			}
		}
	}
	return ""
}

func cutPrefix(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && s[:len(prefix)] == prefix {
		return s[len(prefix):], true
	}
	return s, false
}

// base64Problem: (\s*([0-9a-zA-Z\+/=]){4}\s*)+ — groups of four base64 characters, whitespace
// between them, padding only at the end.
func base64Problem(s string) string {
	n, pad := 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isSpace(c):
			continue
		case c == '=':
			pad++
		case pad > 0:
			return "padding '=' in the middle"
		case isAlnum(c) || c == '+' || c == '/':
		default:
			return "not a base64 character at byte " + strconv.Itoa(i)
		}
		n++
	}
	if n == 0 || n%4 != 0 || pad > 2 {
		return "base64 must come in groups of four characters"
	}
	return ""
}

// integerProblem: an integer literal (no fraction, no exponent) in 32-bit range; positiveInt
// is at least 1 and unsignedInt at least 0.
func integerProblem(typeName, s string) string {
	n, err := strconv.ParseInt(s, 10, 32)
	switch {
	case err != nil && err.(*strconv.NumError).Err == strconv.ErrRange:
		return "out of the 32-bit range"
	case err != nil:
		return "not a whole number"
	case typeName == "positiveInt" && n < 1:
		return "must be 1 or more"
	case typeName == "unsignedInt" && (n < 0 || s[0] == '-'):
		return "must be 0 or more"
	}
	return ""
}
