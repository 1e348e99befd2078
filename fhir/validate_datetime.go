package fhir

// The date and time types of R4 (datatypes section 2.24.0.1). A date has the precision the
// client gives (year, month or day); a dateTime with a time must carry a time zone; an instant
// always has both. Dates are checked against the calendar (no 2023-02-29), which the published
// regexes do not do.

type dateTimeForm uint8

const (
	dateOnly       dateTimeForm = iota // YYYY, YYYY-MM, YYYY-MM-DD
	dateOrDateTime                     // a date, or YYYY-MM-DDThh:mm:ss[.sss](Z|+hh:mm)
	instantOnly                        // YYYY-MM-DDThh:mm:ss[.sss](Z|+hh:mm)
)

func dateTimeProblem(s string, form dateTimeForm) string {
	const (
		badDate     = "expected YYYY, YYYY-MM or YYYY-MM-DD"
		badDateTime = "expected YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss with a time zone"
		badInstant  = "expected YYYY-MM-DDThh:mm:ss[.fff] with a time zone (Z or +hh:mm)"
	)
	bad := [...]string{badDate, badDateTime, badInstant}[form]
	year, ok := digits(s, 0, 4)
	if !ok || year == 0 {
		return bad
	}
	if len(s) == 4 {
		return when(form == instantOnly, bad)
	}
	month, ok := digits(s, 5, 2)
	if !ok || s[4] != '-' || month < 1 || month > 12 {
		return bad
	}
	if len(s) == 7 {
		return when(form == instantOnly, bad)
	}
	day, ok := digits(s, 8, 2)
	if !ok || s[7] != '-' {
		return bad
	}
	if day < 1 || day > daysIn(year, month) {
		return "no such day in the calendar"
	}
	if len(s) == 10 {
		return when(form == instantOnly, bad)
	}
	if form == dateOnly || s[10] != 'T' {
		return bad
	}
	rest, ok := clock(s[11:])
	if !ok || !timeZone(rest) {
		return bad
	}
	return ""
}

// timeProblem: hh:mm:ss[.fff], no time zone.
func timeProblem(s string) string {
	if rest, ok := clock(s); !ok || rest != "" {
		return "expected hh:mm:ss with an optional fraction"
	}
	return ""
}

// clock reads hh:mm:ss[.f+] (second 60 is a leap second) and returns what follows.
func clock(s string) (string, bool) {
	h, ok1 := digits(s, 0, 2)
	m, ok2 := digits(s, 3, 2)
	sec, ok3 := digits(s, 6, 2)
	if !ok1 || !ok2 || !ok3 || s[2] != ':' || s[5] != ':' || h > 23 || m > 59 || sec > 60 {
		return "", false
	}
	s = s[8:]
	if s != "" && s[0] == '.' {
		n := 1
		for n < len(s) && isDigit(s[n]) {
			n++
		}
		if n == 1 {
			return "", false
		}
		s = s[n:]
	}
	return s, true
}

// timeZone accepts Z or +hh:mm / -hh:mm up to 14:00.
func timeZone(s string) bool {
	if s == "Z" {
		return true
	}
	if len(s) != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':' {
		return false
	}
	h, ok1 := digits(s, 1, 2)
	m, ok2 := digits(s, 4, 2)
	return ok1 && ok2 && m <= 59 && (h < 14 || h == 14 && m == 0)
}

// digits reads n decimal digits of s at offset at.
func digits(s string, at, n int) (int, bool) {
	if len(s) < at+n {
		return 0, false
	}
	v := 0
	for i := at; i < at+n; i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		v = v*10 + int(s[i]-'0')
	}
	return v, true
}

func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

func when(cond bool, problem string) string {
	if cond {
		return problem
	}
	return ""
}
