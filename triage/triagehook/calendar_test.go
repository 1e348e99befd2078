package triagehook

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/portico-health/portico/triage"
)

func testConfig(t testing.TB) *Config {
	t.Helper()
	data, err := os.ReadFile("testdata/clinic.json")
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseConfig(data)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ny(t testing.TB, s string) time.Time {
	t.Helper()
	loc, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	v, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestDue(t *testing.T) {
	c := testConfig(t)
	for _, tt := range []struct {
		name, at string
		p        triage.Priority
		want     string
	}{
		{"urgent in hours", "2026-01-14 09:00", triage.Urgent, "2026-01-15 09:00"},
		// 16:59 on Friday 16 January, Monday 19 January (MLK day) a holiday: one minute on
		// Friday, then 8h59m from Tuesday 08:00.
		{"friday 16:59 before a holiday, urgent", "2026-01-16 16:59", triage.Urgent, "2026-01-20 16:59"},
		{"friday 16:59 before a holiday, asap", "2026-01-16 16:59", triage.ASAP, "2026-01-20 11:59"},
		{"friday 16:59 before a holiday, routine", "2026-01-16 16:59", triage.Routine, "2026-01-22 16:59"},
		{"friday 16:59 before a holiday, stat is wall clock", "2026-01-16 16:59", triage.Stat, "2026-01-16 17:14"},
		{"friday lunch break is closed", "2026-01-23 11:00", triage.ASAP, "2026-01-23 16:00"},
		{"saturday", "2026-01-17 10:00", triage.ASAP, "2026-01-20 12:00"},
		// DST starts Sunday 8 March 2026 in New York: Monday opens at 08:00 EDT (12:00 UTC),
		// not 13:00 UTC.
		{"weekend before DST starts", "2026-03-07 22:00", triage.ASAP, "2026-03-09 12:00"},
		// DST ends Sunday 1 November 2026.
		{"weekend before DST ends", "2026-10-31 12:00", triage.Urgent, "2026-11-02 17:00"},
		{"after hours on a weekday", "2026-03-10 20:30", triage.Urgent, "2026-03-11 17:00"},
		{"before opening", "2026-03-10 06:00", triage.ASAP, "2026-03-10 12:00"},
		{"exactly at closing", "2026-03-10 17:00", triage.ASAP, "2026-03-11 12:00"},
		{"thanksgiving thursday, friday lunch break", "2026-11-25 16:00", triage.Urgent, "2026-11-27 17:00"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := c.Due(tt.p, ny(t, tt.at))
			if want := ny(t, tt.want); !got.Equal(want) {
				t.Errorf("Due(%s, %s) = %s, want %s", tt.p, tt.at, got.In(c.Calendar.Location()), want)
			}
		})
	}
	if got, want := c.Due(triage.ASAP, ny(t, "2026-03-07 22:00")).UTC(), time.Date(2026, 3, 9, 16, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("DST: %s, want %s", got, want)
	}
}

func TestCalendarOpenAndBetween(t *testing.T) {
	c := testConfig(t).Calendar
	for at, want := range map[string]bool{
		"2026-01-16 16:59": true, "2026-01-16 17:00": false, "2026-01-16 12:30": false,
		"2026-01-19 10:00": false, "2026-01-20 08:00": true, "2026-03-08 10:00": false,
	} {
		if got := c.IsOpen(ny(t, at)); got != want {
			t.Errorf("IsOpen(%s) = %v", at, got)
		}
	}
	if got := c.NextOpen(ny(t, "2026-01-16 17:00")); !got.Equal(ny(t, "2026-01-20 08:00")) {
		t.Errorf("NextOpen = %s", got)
	}
	if got := c.Between(ny(t, "2026-01-16 16:59"), ny(t, "2026-01-20 09:00")); got != 61*time.Minute {
		t.Errorf("Between = %s, want 1h1m", got)
	}
	if got := c.Between(ny(t, "2026-03-06 16:00"), ny(t, "2026-03-09 09:00")); got != 2*time.Hour {
		t.Errorf("Between across DST = %s, want 2h", got)
	}
}

func TestConfigProblems(t *testing.T) {
	_, err := ParseConfig([]byte(`{"version":2,"routes":[{"id":"x","categories":["nope"],"priorities":["soon"]}],
		"calendar":{"time_zone":"Mars/Olympus","hours":{"funday":["9-5"],"monday":["17:00-08:00"]},"holidays":["25/12"]},
		"targets":{"stat":{"within":"soon"}},"default_language":"en","replies":{"stat":{"en":"x"},"after_hours":{"en":"{when}"}}}`))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"version", "nope", "soon", "no recipients", "Mars/Olympus", "funday", "closes before", "never open",
		"25/12", "targets.stat.within", "targets.asap: required", "{opens} and {due}"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not mention %q:\n%v", want, err)
		}
	}
	if _, err := ParseConfig(DefaultConfigJSON()); err != nil {
		t.Errorf("shipped default: %v", err)
	}
}

func TestReplyText(t *testing.T) {
	c := testConfig(t)
	text, lang := c.ReplyText(ReplyAfterHours, "es", ny(t, "2026-01-20 08:00"), ny(t, "2026-01-20 16:59"))
	if lang != "es" || !strings.Contains(text, "martes 20 de enero de 2026 a las 08:00") {
		t.Errorf("%s: %s", lang, text)
	}
	text, lang = c.ReplyText(ReplyAfterHours, "fr", ny(t, "2026-01-20 08:00"), ny(t, "2026-01-20 16:59"))
	if lang != "en" || !strings.Contains(text, "Tuesday 20 January 2026 at 08:00") {
		t.Errorf("%s: %s", lang, text)
	}
}
