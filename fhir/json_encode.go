package fhir

import "unicode/utf8"

// AppendJSON appends the compact JSON encoding of v to dst.
func AppendJSON(dst []byte, v Value) []byte {
	return appendValue(dst, v, "", "")
}

// AppendIndentJSON appends v indented with two spaces per level (for _pretty=true).
func AppendIndentJSON(dst []byte, v Value) []byte {
	return appendValue(dst, v, "\n", "  ")
}

// Marshal returns the compact JSON encoding of v.
func (v Value) Marshal() []byte { return AppendJSON(nil, v) }

func appendValue(dst []byte, v Value, prefix, indent string) []byte {
	switch v.Kind {
	case Null:
		return append(dst, "null"...)
	case Bool, Number:
		return append(dst, v.Text...)
	case String:
		return appendString(dst, v.Text)
	case Array:
		if len(v.Arr) == 0 {
			return append(dst, "[]"...)
		}
		dst = append(dst, '[')
		inner := prefix + indent
		for i, e := range v.Arr {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, inner...)
			dst = appendValue(dst, e, inner, indent)
		}
		dst = append(dst, prefix...)
		return append(dst, ']')
	case Object:
		if len(v.Obj) == 0 {
			return append(dst, "{}"...)
		}
		dst = append(dst, '{')
		inner := prefix + indent
		for i, m := range v.Obj {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, inner...)
			dst = appendString(dst, m.Key)
			dst = append(dst, ':')
			if indent != "" {
				dst = append(dst, ' ')
			}
			dst = appendValue(dst, m.Value, inner, indent)
		}
		dst = append(dst, prefix...)
		return append(dst, '}')
	}
	return dst
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string, escaping only what JSON requires (plus U+2028/9,
// which break JavaScript parsers that embed JSON).
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
