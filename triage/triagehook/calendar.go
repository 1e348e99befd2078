package triagehook

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Calendar is a clinic's business calendar: opening hours per weekday in a time zone, and
// holidays (whole local days closed). It is immutable and safe for concurrent use. Every
// computation works on local dates and builds instants with time.Date in the zone, so
// daylight-saving changes are handled: 08:00 is 08:00 local on both sides of a change.
type Calendar struct {
	loc      *time.Location
	hours    [7][]span // by time.Weekday
	holidays map[string]bool
}

// span is an opening interval in minutes after local midnight, [open, close).
type span struct{ open, close int }

// CalendarConfig is the "calendar" section of the triage configuration.
type CalendarConfig struct {
	// TimeZone is an IANA time zone name ("America/New_York").
	TimeZone string `json:"time_zone"`
	// Hours maps a weekday name (monday ... sunday, lower case) to opening intervals
	// "HH:MM-HH:MM" (24-hour, local time, close after open; "24:00" allowed as a close).
	// A weekday that is absent or has no interval is closed.
	Hours map[string][]string `json:"hours"`
	// Holidays are local dates (YYYY-MM-DD) on which the clinic is closed all day.
	Holidays []string `json:"holidays"`
}

var weekdays = map[string]time.Weekday{"sunday": time.Sunday, "monday": time.Monday, "tuesday": time.Tuesday,
	"wednesday": time.Wednesday, "thursday": time.Thursday, "friday": time.Friday, "saturday": time.Saturday}

// NewCalendar checks cfg and builds the calendar; it reports every problem at once.
func NewCalendar(cfg CalendarConfig) (*Calendar, []string) {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	c := &Calendar{holidays: map[string]bool{}}
	if cfg.TimeZone == "" {
		bad("calendar.time_zone: required (an IANA time zone such as America/New_York)")
	} else if loc, err := time.LoadLocation(cfg.TimeZone); err != nil {
		bad("calendar.time_zone: %q is not a known IANA time zone", cfg.TimeZone)
	} else {
		c.loc = loc
	}
	open := false
	for name, ivs := range cfg.Hours {
		wd, ok := weekdays[name]
		if !ok {
			bad("calendar.hours: %q is not a weekday (monday ... sunday)", name)
			continue
		}
		var spans []span
		for _, iv := range ivs {
			s, err := parseSpan(iv)
			if err != nil {
				bad("calendar.hours.%s: %v", name, err)
				continue
			}
			spans = append(spans, s)
		}
		sort.Slice(spans, func(i, j int) bool { return spans[i].open < spans[j].open })
		for i := 1; i < len(spans); i++ {
			if spans[i].open < spans[i-1].close {
				bad("calendar.hours.%s: intervals overlap", name)
			}
		}
		c.hours[wd] = spans
		open = open || len(spans) > 0
	}
	if !open {
		bad("calendar.hours: the clinic is never open (give opening hours for at least one weekday)")
	}
	for _, h := range cfg.Holidays {
		if _, err := time.Parse("2006-01-02", h); err != nil {
			bad("calendar.holidays: %q is not a date YYYY-MM-DD", h)
			continue
		}
		c.holidays[h] = true
	}
	if c.loc == nil {
		c.loc = time.UTC
	}
	return c, problems
}

func parseSpan(s string) (span, error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), "-")
	if !ok {
		return span{}, fmt.Errorf("%q is not an interval HH:MM-HH:MM", s)
	}
	o, err1 := parseClock(a)
	cl, err2 := parseClock(b)
	if err1 != nil || err2 != nil {
		return span{}, fmt.Errorf("%q is not an interval HH:MM-HH:MM", s)
	}
	if cl <= o {
		return span{}, fmt.Errorf("%q closes before it opens", s)
	}
	return span{o, cl}, nil
}

func parseClock(s string) (int, error) {
	h, m, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok || len(h) != 2 || len(m) != 2 {
		return 0, fmt.Errorf("bad time")
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || mm < 0 || mm > 59 || hh > 24 || (hh == 24 && mm != 0) {
		return 0, fmt.Errorf("bad time")
	}
	return hh*60 + mm, nil
}

// Location is the calendar's time zone.
func (c *Calendar) Location() *time.Location { return c.loc }

// maxDays bounds the search for opening hours (a calendar whose holidays close it for longer
// falls back to wall-clock time).
const maxDays = 800

// intervals are the opening intervals of the local day i days after t's local date.
func (c *Calendar) intervals(t time.Time, i int) [][2]time.Time {
	lt := t.In(c.loc)
	y, m, d := lt.Date()
	day := time.Date(y, m, d+i, 0, 0, 0, 0, c.loc)
	if c.holidays[day.Format("2006-01-02")] {
		return nil
	}
	spans := c.hours[day.Weekday()]
	out := make([][2]time.Time, 0, len(spans))
	for _, s := range spans {
		dy, dm, dd := day.Date()
		o := time.Date(dy, dm, dd, s.open/60, s.open%60, 0, 0, c.loc)
		cl := time.Date(dy, dm, dd, s.close/60, s.close%60, 0, 0, c.loc)
		out = append(out, [2]time.Time{o, cl})
	}
	return out
}

// IsOpen reports whether t falls in opening hours.
func (c *Calendar) IsOpen(t time.Time) bool {
	for _, iv := range c.intervals(t, 0) {
		if !t.Before(iv[0]) && t.Before(iv[1]) {
			return true
		}
	}
	return false
}

// NextOpen is t when the clinic is open at t, else the next opening instant.
func (c *Calendar) NextOpen(t time.Time) time.Time { return c.Add(t, 0) }

// Add returns the instant when d of opening time has passed after t: a message received at
// 16:59 on a Friday with 9 hours to go, Monday a holiday, is due on Tuesday at 16:59 for a
// clinic open 08:00-17:00. With d == 0 it is NextOpen.
func (c *Calendar) Add(t time.Time, d time.Duration) time.Time {
	for i := 0; i < maxDays; i++ {
		for _, iv := range c.intervals(t, i) {
			start := iv[0]
			if t.After(start) {
				start = t
			}
			if !start.Before(iv[1]) {
				continue
			}
			avail := iv[1].Sub(start)
			if d < avail || (d == 0) {
				return start.Add(d)
			}
			if d == avail {
				return iv[1]
			}
			d -= avail
		}
	}
	return t.Add(d)
}

// Between is the opening time between a and b (0 when b is not after a).
func (c *Calendar) Between(a, b time.Time) time.Duration {
	var total time.Duration
	for i := 0; i < maxDays; i++ {
		ivs := c.intervals(a, i)
		for _, iv := range ivs {
			lo, hi := iv[0], iv[1]
			if lo.Before(a) {
				lo = a
			}
			if hi.After(b) {
				hi = b
			}
			if hi.After(lo) {
				total += hi.Sub(lo)
			}
		}
		// stop once the day started after b
		lt := a.In(c.loc)
		y, m, d := lt.Date()
		if !time.Date(y, m, d+i+1, 0, 0, 0, 0, c.loc).Before(b) {
			break
		}
	}
	return total
}
