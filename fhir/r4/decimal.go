package r4

import (
	"errors"
	"strconv"
)

// Decimal is a FHIR decimal held as its JSON number literal, so that precision survives a
// round trip: 1.50 is read and written as 1.50 (a float64 would write 1.5, and FHIR says the
// trailing zero is significant).
type Decimal string

// NewDecimal returns the decimal of a JSON number literal such as "1.50".
func NewDecimal(literal string) (Decimal, error) {
	if !isNumber(literal) {
		return "", errors.New("r4: " + strconv.Quote(literal) + " is not a decimal")
	}
	return Decimal(literal), nil
}

// Float64 is the value of d, possibly rounded.
func (d Decimal) Float64() (float64, error) { return strconv.ParseFloat(string(d), 64) }

// String is the literal.
func (d Decimal) String() string { return string(d) }

// MarshalJSON writes the literal as a JSON number.
func (d Decimal) MarshalJSON() ([]byte, error) {
	if !isNumber(string(d)) {
		return nil, errors.New("r4: " + strconv.Quote(string(d)) + " is not a decimal")
	}
	return []byte(d), nil
}

// UnmarshalJSON accepts a JSON number (FHIR JSON never quotes decimals) and keeps its literal.
func (d *Decimal) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		return nil // as encoding/json does for other types: null leaves the value unchanged
	}
	if !isNumber(string(data)) {
		return errors.New("r4: a decimal must be a JSON number, not " + string(data))
	}
	*d = Decimal(data)
	return nil
}

// isNumber reports whether s is a JSON number, which is also the FHIR decimal grammar:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func isNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i == len(s) || !isDigit(s[i]) {
			return false
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i == len(s) || !isDigit(s[i]) {
			return false
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	return i == len(s)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
