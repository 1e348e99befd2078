package fhir

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/portico-health/portico/store"
	"golang.org/x/text/unicode/norm"
)

// Open ends of periods and ranges: about ±31,700 years in unix milliseconds, beyond any date
// FHIR can write, and finite so that backends can store them as numbers.
const (
	MinTime = -1e15
	MaxTime = 1e15
)

// Open ends of number and quantity ranges (a Range without low or high): the largest finite
// floats, so that every backend (and JSON) can hold them.
const (
	negInf = -math.MaxFloat64
	posInf = math.MaxFloat64
)

// NormalizeString is the normalised form of string search: lower case, accents and other
// combining marks removed (Unicode NFD, then the marks dropped), so that "Müller" and
// "MULLER" both give "muller". Whitespace is kept as written.
func NormalizeString(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		for i := 0; i < len(s); i++ {
			if c := s[i]; c >= 'A' && c <= 'Z' {
				return strings.ToLower(s)
			}
		}
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	d := norm.NFD.String(s)
	for _, r := range d {
		if unicode.Is(unicode.Mn, r) {
			continue
		}
		switch r {
		case 'ß':
			b.WriteString("ss")
			continue
		case 'æ', 'Æ':
			b.WriteString("ae")
			continue
		case 'œ', 'Œ':
			b.WriteString("oe")
			continue
		case 'ø', 'Ø':
			b.WriteRune('o')
			continue
		case 'đ', 'Đ':
			b.WriteRune('d')
			continue
		case 'ł', 'Ł':
			b.WriteRune('l')
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// ---- dates ----

// DateRange returns the range [low, high) in unix milliseconds that a FHIR date, dateTime or
// instant covers at its precision: "2020" is the whole year, "2020-03-01T10:00:00Z" one
// second, ".5" fractions a tenth of a second. Dates and dateTimes without a timezone are taken
// as UTC. Seconds may be left out ("2020-03-01T10:00", a search form).
func DateRange(s string) (low, high float64, err error) {
	bad := func(why string) (float64, float64, error) {
		return 0, 0, fmt.Errorf("invalid date %q: %s", s, why)
	}
	num := func(from, n int) (int, bool) {
		if len(s) < from+n {
			return 0, false
		}
		v := 0
		for i := from; i < from+n; i++ {
			c := s[i]
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		return v, true
	}
	year, ok := num(0, 4)
	if !ok {
		return bad("expected a four-digit year")
	}
	month, day, hour, minute, sec := 1, 1, 0, 0, 0
	var frac float64 // milliseconds
	fracDigits := 0
	prec := 'y'
	i := 4
	if i < len(s) && s[i] == '-' {
		if month, ok = num(5, 2); !ok || month < 1 || month > 12 {
			return bad("expected a month 01-12")
		}
		prec, i = 'm', 7
		if i < len(s) && s[i] == '-' {
			if day, ok = num(8, 2); !ok || day < 1 || day > daysIn(year, month) {
				return bad("expected a day of the month")
			}
			prec, i = 'd', 10
			if i < len(s) && s[i] == 'T' {
				if hour, ok = num(11, 2); !ok || hour > 23 || len(s) < 14 || s[13] != ':' {
					return bad("expected a time hh:mm")
				}
				if minute, ok = num(14, 2); !ok || minute > 59 {
					return bad("expected minutes")
				}
				prec, i = 'M', 16
				if i < len(s) && s[i] == ':' {
					if sec, ok = num(17, 2); !ok || sec > 60 {
						return bad("expected seconds")
					}
					if sec == 60 {
						sec = 59
					}
					prec, i = 's', 19
					if i < len(s) && s[i] == '.' {
						j := i + 1
						for j < len(s) && s[j] >= '0' && s[j] <= '9' {
							j++
						}
						fracDigits = j - i - 1
						if fracDigits == 0 {
							return bad("expected digits after '.'")
						}
						f, _ := strconv.ParseFloat("0"+s[i:j], 64)
						frac = f * 1000
						prec, i = 'f', j
					}
				}
			}
		}
	}
	loc := time.UTC
	if i < len(s) {
		if prec == 'y' || prec == 'm' || prec == 'd' {
			return bad("unexpected text after the date")
		}
		switch c := s[i]; {
		case c == 'Z' && i == len(s)-1:
		case (c == '+' || c == '-') && len(s) == i+6 && s[i+3] == ':':
			h, ok1 := num(i+1, 2)
			m, ok2 := num(i+4, 2)
			if !ok1 || !ok2 || h > 14 || m > 59 {
				return bad("invalid timezone")
			}
			off := h*3600 + m*60
			if c == '-' {
				off = -off
			}
			loc = time.FixedZone("", off)
		default:
			return bad("expected Z or a timezone ±hh:mm")
		}
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, 0, loc)
	var end time.Time
	switch prec {
	case 'y':
		end = t.AddDate(1, 0, 0)
	case 'm':
		end = t.AddDate(0, 1, 0)
	case 'd':
		end = t.AddDate(0, 0, 1)
	case 'M':
		end = t.Add(time.Minute)
	default:
		end = t.Add(time.Second)
	}
	low = float64(t.UnixMilli())
	high = float64(end.UnixMilli())
	if prec == 'f' {
		low += frac
		high = low + math.Pow10(3-fracDigits)
		if !(low < high) {
			high = math.Nextafter(low, math.Inf(1))
		}
	}
	return low, high, nil
}

// ---- numbers ----

// NumberRange returns the value of a decimal literal and the range of its implicit precision:
// half a unit of the last digit written on each side, so "100" is [99.5, 100.5), "1.50" is
// [1.495, 1.505) and "1e2" is [50, 150).
func NumberRange(s string) (value, low, high float64, err error) {
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant = s[:i]
		exp, err = strconv.Atoi(strings.TrimPrefix(s[i+1:], "+"))
		if err != nil {
			return 0, 0, 0, fmt.Errorf("invalid number %q", s)
		}
	}
	digits := strings.TrimLeft(mant, "+-")
	if digits == "" || strings.Trim(digits, "0123456789.") != "" || strings.Count(digits, ".") > 1 ||
		digits == "." || strings.HasPrefix(digits, ".") || strings.HasSuffix(digits, ".") {
		return 0, 0, 0, fmt.Errorf("invalid number %q", s)
	}
	value, err = strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(value, 0) || math.IsNaN(value) {
		return 0, 0, 0, fmt.Errorf("invalid number %q", s)
	}
	decimals := 0
	if i := strings.IndexByte(digits, '.'); i >= 0 {
		decimals = len(digits) - i - 1
	}
	// The bounds are (10·M ∓ 5)·10^(exp-decimals-1) for the mantissa digits M, converted
	// from decimal text so that "1.50" gives exactly the float nearest 1.495.
	m := strings.Replace(digits, ".", "", 1)
	if n, perr := strconv.ParseInt(m, 10, 64); perr == nil && n < math.MaxInt64/10-5 {
		if strings.HasPrefix(mant, "-") {
			n = -n
		}
		scale := exp - decimals - 1
		lo, err1 := strconv.ParseFloat(strconv.FormatInt(n*10-5, 10)+"e"+strconv.Itoa(scale), 64)
		hi, err2 := strconv.ParseFloat(strconv.FormatInt(n*10+5, 10)+"e"+strconv.Itoa(scale), 64)
		if err1 == nil || err2 == nil {
			lo, hi = widen(lo, hi)
			return value, lo, hi, nil
		}
	}
	half := math.Pow10(exp-decimals) / 2
	low, high = widen(value-half, value+half)
	return value, low, high, nil
}

// widen keeps a range non-empty where float64 cannot hold its precision (more than 15
// significant digits): at least one ulp on each side.
func widen(lo, hi float64) (float64, float64) {
	lo, hi = max(lo, negInf), min(hi, posInf) // 1e308 is near the end of float64
	if lo < hi {
		return lo, hi
	}
	mid := lo
	return math.Nextafter(mid, math.Inf(-1)), math.Nextafter(mid, math.Inf(1))
}

// ---- sort keys ----

// floatKey encodes f as 16 hex digits whose bytewise order is the numeric order.
func floatKey(f float64) string {
	b := math.Float64bits(f)
	if b>>63 == 0 {
		b ^= 1 << 63
	} else {
		b = ^b
	}
	const hex = "0123456789abcdef"
	var out [16]byte
	for i := 15; i >= 0; i-- {
		out[i] = hex[b&15]
		b >>= 4
	}
	return string(out[:])
}

// FloatSortKey is the SortKey of a date (unix milliseconds), number or quantity: 16 hex digits
// of the IEEE bits, transformed so that bytewise order is numeric order.
func FloatSortKey(f float64) string { return floatKey(f) }

// ---- search values ----

// splitUnescaped splits s on sep where it is not escaped with a backslash.
func splitUnescaped(s string, sep byte) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case sep:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// unescape removes FHIR search escapes: \, \| \$ \\ become , | $ \.
func unescape(s string) string {
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && strings.IndexByte(`,|$\`, s[i+1]) >= 0 {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

var prefixes = map[string]store.Prefix{
	"eq": store.PrefixEq, "ne": store.PrefixNe, "gt": store.PrefixGt, "lt": store.PrefixLt,
	"ge": store.PrefixGe, "le": store.PrefixLe, "sa": store.PrefixSa, "eb": store.PrefixEb,
	"ap": store.PrefixAp,
}

func cutSearchPrefix(s string) (store.Prefix, string) {
	if len(s) >= 2 {
		if p, ok := prefixes[s[:2]]; ok {
			return p, s[2:]
		}
	}
	return store.PrefixEq, s
}

// errEmpty is returned for an empty value.
var errEmpty = errors.New("empty value")

// ParseSearchValue parses one value of a search parameter of the given kind (already split on
// unescaped commas by the caller) into a store.Value, as ExtractIndex's entries expect it:
//
//   - token: "code", "system|code", "|code", "system|"; :text the normalised text; :of-type
//     "system|code|value"; :missing "true"/"false" (in Text).
//   - string: normalised, or as written for :exact.
//   - reference: "Type/id", "id", an absolute URL; :identifier "system|value".
//   - uri: as written.
//   - date: [prefix]yyyy[-mm[-dd[Thh:mm[:ss[.f]][zone]]]] as a range.
//   - number: [prefix]number, with the range of its implicit precision.
//   - quantity: [prefix]number[|system|code], "number||code" for a code of any system.
//
// Composite values need the parameter's components: see ParseCompositeValue. Errors name what
// is wrong with the value, not the parameter.
func ParseSearchValue(kind store.ParamKind, modifier store.Modifier, raw string) (store.Value, error) {
	if modifier == store.ModMissing {
		if raw != "true" && raw != "false" {
			return store.Value{}, fmt.Errorf(":missing takes true or false, not %q", raw)
		}
		return store.Value{Text: raw}, nil
	}
	if raw == "" {
		return store.Value{}, errEmpty
	}
	switch kind {
	case store.KindToken:
		return parseToken(modifier, raw)
	case store.KindString:
		s := unescape(raw)
		if modifier == store.ModExact {
			return store.Value{Text: s}, nil
		}
		return store.Value{Text: NormalizeString(s)}, nil
	case store.KindURI:
		return store.Value{Text: unescape(raw)}, nil
	case store.KindReference:
		if modifier == store.ModIdentifier {
			return parseToken(store.ModNone, raw)
		}
		s := unescape(raw)
		typ, id, url := ParseReference(s)
		switch {
		case url != "":
			return store.Value{RefURL: url}, nil
		case typ != "":
			return store.Value{RefType: typ, RefID: id}, nil
		case strings.Contains(s, "/"):
			return store.Value{}, fmt.Errorf("invalid reference %q: expected Type/id, id or an absolute URL", s)
		}
		return store.Value{RefID: s}, nil
	case store.KindDate:
		p, s := cutSearchPrefix(raw)
		lo, hi, err := DateRange(s)
		if err != nil {
			return store.Value{}, err
		}
		return store.Value{Prefix: p, Low: lo, High: hi}, nil
	case store.KindNumber:
		p, s := cutSearchPrefix(raw)
		_, lo, hi, err := NumberRange(s)
		if err != nil {
			return store.Value{}, err
		}
		return store.Value{Prefix: p, Low: lo, High: hi}, nil
	case store.KindQuantity:
		p, s := cutSearchPrefix(raw)
		parts := splitUnescaped(s, '|')
		if len(parts) != 1 && len(parts) != 3 {
			return store.Value{}, fmt.Errorf("invalid quantity %q: expected number, number|system|code or number||code", raw)
		}
		_, lo, hi, err := NumberRange(parts[0])
		if err != nil {
			return store.Value{}, err
		}
		v := store.Value{Prefix: p, Low: lo, High: hi, AnySystem: true, AnyCode: true}
		if len(parts) == 3 {
			v.System, v.Code = unescape(parts[1]), unescape(parts[2])
			v.AnySystem = v.System == ""
			v.AnyCode = v.Code == ""
			if v.AnyCode && !v.AnySystem {
				return store.Value{}, fmt.Errorf("invalid quantity %q: a system needs a code", raw)
			}
		}
		return v, nil
	case store.KindComposite:
		return store.Value{}, errors.New("composite values need their parameter (ParseCompositeValue)")
	}
	return store.Value{}, fmt.Errorf("parameters of this type cannot be searched")
}

func parseToken(modifier store.Modifier, raw string) (store.Value, error) {
	switch modifier {
	case store.ModText:
		return store.Value{Text: NormalizeString(unescape(raw))}, nil
	case store.ModOfType:
		parts := splitUnescaped(raw, '|')
		if len(parts) != 3 || parts[1] == "" || parts[2] == "" {
			return store.Value{}, fmt.Errorf("invalid :of-type value %q: expected system|code|value", raw)
		}
		return store.Value{System: unescape(parts[0]), Code: unescape(parts[1]), Text: unescape(parts[2])}, nil
	}
	parts := splitUnescaped(raw, '|')
	switch len(parts) {
	case 1:
		return store.Value{Code: unescape(parts[0]), AnySystem: true}, nil
	case 2:
		v := store.Value{System: unescape(parts[0]), Code: unescape(parts[1])}
		if v.Code == "" {
			if v.System == "" {
				return store.Value{}, fmt.Errorf("invalid token %q: neither system nor code", raw)
			}
			v.AnyCode = true
		}
		return v, nil
	}
	return store.Value{}, fmt.Errorf("invalid token %q: more than one unescaped '|'", raw)
}

// ParseCompositeValue parses a value of a composite parameter: one part per component,
// separated by an unescaped '$' ("http://loinc.org|8480-6$gt100").
func ParseCompositeValue(sp *SearchParam, raw string) (store.Value, error) {
	if ParamKind(sp.Type) != store.KindComposite {
		return store.Value{}, fmt.Errorf("%s is not a composite parameter", sp.Code)
	}
	parts := splitUnescaped(raw, '$')
	if len(parts) != len(sp.Components) {
		return store.Value{}, fmt.Errorf("invalid composite value %q: expected %d parts separated by '$'", raw, len(sp.Components))
	}
	v := store.Value{Components: make([]store.Value, len(parts))}
	for i, part := range parts {
		kind := ComponentKind(sp.Components[i])
		if kind == 0 {
			return store.Value{}, fmt.Errorf("unknown component %s", sp.Components[i].Definition)
		}
		c, err := ParseSearchValue(kind, store.ModNone, part)
		if err != nil {
			return store.Value{}, fmt.Errorf("part %d: %w", i+1, err)
		}
		v.Components[i] = c
	}
	return v, nil
}

// ParamKind maps SearchParameter.type to store.ParamKind; 0 for an unknown type.
func ParamKind(typ string) store.ParamKind {
	switch typ {
	case "token":
		return store.KindToken
	case "string":
		return store.KindString
	case "reference":
		return store.KindReference
	case "date":
		return store.KindDate
	case "number":
		return store.KindNumber
	case "quantity":
		return store.KindQuantity
	case "uri":
		return store.KindURI
	case "composite":
		return store.KindComposite
	case "special":
		return store.KindSpecial
	}
	return 0
}
