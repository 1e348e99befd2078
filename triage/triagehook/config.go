package triagehook

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/portico-health/portico/internal/jsonpos"
	"github.com/portico-health/portico/triage"
)

// ConfigFile is the triage configuration file (--triage-config): where messages go, the clinic
// calendar, the answer targets and the automatic replies. docs/triage.md documents every field;
// default-config.json is what Portico uses without the flag.
type ConfigFile struct {
	Version int `json:"version"`
	// Practice is the sender of automatic replies (usually Organization/...). Optional.
	Practice *Ref `json:"practice,omitempty"`
	// OnCall are the recipients added to every stat message.
	OnCall []Ref `json:"on_call,omitempty"`
	// Routes: the first route whose categories and priorities match a message adds its
	// recipients to it.
	Routes   []Route        `json:"routes,omitempty"`
	Calendar CalendarConfig `json:"calendar"`
	// Targets: the answer target of each priority (stat, asap, urgent, routine).
	Targets map[string]Target `json:"targets"`
	// Replies: the automatic replies, by kind ("stat", "after_hours") and language.
	Replies map[string]map[string]string `json:"replies"`
	// DefaultLanguage of the replies when the message's language has no text ("en").
	DefaultLanguage string `json:"default_language"`
}

// Ref is a FHIR Reference as written in the configuration.
type Ref struct {
	Reference string `json:"reference"`
	Display   string `json:"display,omitempty"`
}

// Route maps categories and priorities to recipients.
type Route struct {
	ID         string   `json:"id"`
	Categories []string `json:"categories,omitempty"` // message-category codes; empty: any
	Priorities []string `json:"priorities,omitempty"` // request-priority codes; empty: any
	Recipients []Ref    `json:"recipients,omitempty"`
	// GeneralPractitioner adds the patient's Patient.generalPractitioner (the patient is the
	// sender, or the subject when a RelatedPerson writes).
	GeneralPractitioner bool `json:"general_practitioner,omitempty"`

	// CareTeam adds the members of the patient's active CareTeams (practitioners, roles and
	// organizations; never the patient or their relatives).
	CareTeam bool `json:"care_team,omitempty"`
}

// Target is the answer target of one priority.
type Target struct {
	// Within is a Go duration ("15m", "4h", "27h"): opening time of the calendar, or wall
	// time when Clock is "wall".
	Within string `json:"within"`
	Clock  string `json:"clock,omitempty"` // ClockBusiness (default) or ClockWall
}

// The clocks of a target: the codes of the CodeSystem triage-target-clock
// (definitions/package), which $triage-stats answers in targetClock.
const (
	ClockBusiness = "business" // opening hours only
	ClockWall     = "wall"     // all time, night and day
)

//go:embed default-config.json
var defaultConfigJSON []byte

// DefaultConfigJSON is the shipped configuration.
func DefaultConfigJSON() []byte { return bytes.Clone(defaultConfigJSON) }

// Config is a validated configuration. It is immutable.
type Config struct {
	File     ConfigFile
	Calendar *Calendar
	targets  map[triage.Priority]target
	review   target
}

type target struct {
	d    time.Duration
	wall bool
}

// ErrInvalidConfig is wrapped by every validation error of LoadConfig and ParseConfig.
var ErrInvalidConfig = errors.New("invalid triage configuration")

// LoadConfig reads and validates the configuration at path; "" is the shipped default.
func LoadConfig(path string) (*Config, error) {
	if path == "" {
		return ParseConfig(defaultConfigJSON)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("triage config: %w", err)
	}
	c, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("triage config %s: %w", path, err)
	}
	return c, nil
}

// ParseConfig decodes and validates a configuration. It reports every problem at once
// (Problems inside ErrInvalidConfig).
func ParseConfig(data []byte) (*Config, error) {
	var f ConfigFile
	if err := jsonpos.DecodeStrict(data, &f); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	var p Problems
	bad := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	if f.Version != 1 {
		bad("version: must be 1")
	}
	cats := map[string]bool{}
	for _, c := range triage.Categories {
		cats[c.Code] = true
	}
	checkRef := func(where string, ref Ref) {
		parts := strings.Split(ref.Reference, "/")
		if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
			bad("%s: reference %q is not Type/id", where, ref.Reference)
		}
	}
	if f.Practice != nil {
		checkRef("practice", *f.Practice)
	}
	for i, ref := range f.OnCall {
		checkRef(fmt.Sprintf("on_call[%d]", i), ref)
	}
	ids := map[string]bool{}
	for i, rt := range f.Routes {
		where := fmt.Sprintf("routes[%d]", i)
		if rt.ID == "" {
			bad("%s.id: required", where)
		} else if ids[rt.ID] {
			bad("%s.id: %q is used twice", where, rt.ID)
		}
		ids[rt.ID] = true
		for _, c := range rt.Categories {
			if !cats[c] {
				bad("%s.categories: %q is not a message category (%s)", where, c, categoryCodes())
			}
		}
		for _, pr := range rt.Priorities {
			if _, ok := triage.ParsePriority(pr); !ok {
				bad("%s.priorities: %q is not routine, urgent, asap or stat", where, pr)
			}
		}
		if len(rt.Recipients) == 0 && !rt.GeneralPractitioner && !rt.CareTeam {
			bad("%s: no recipients, and general_practitioner and care_team are false", where)
		}
		for j, ref := range rt.Recipients {
			checkRef(fmt.Sprintf("%s.recipients[%d]", where, j), ref)
		}
	}
	cal, probs := NewCalendar(f.Calendar)
	p = append(p, probs...)
	if f.Targets == nil {
		f.Targets = map[string]Target{}
	}
	c := &Config{File: f, Calendar: cal, targets: map[triage.Priority]target{}}
	if _, ok := f.Targets[TargetReview]; !ok {
		f.Targets[TargetReview] = Target{Within: "1h", Clock: ClockWall}
	}
	for _, code := range []string{"stat", "asap", "urgent", "routine", TargetReview} {
		t, ok := f.Targets[code]
		if !ok {
			bad("targets.%s: required", code)
			continue
		}
		d, err := time.ParseDuration(t.Within)
		if err != nil || d < 0 {
			bad("targets.%s.within: %q is not a duration such as 4h or 15m", code, t.Within)
		}
		if t.Clock != "" && t.Clock != ClockBusiness && t.Clock != ClockWall {
			bad("targets.%s.clock: %q is not business or wall", code, t.Clock)
		}
		if code == TargetReview {
			c.review = target{d: d, wall: t.Clock == ClockWall}
			continue
		}
		pr, _ := triage.ParsePriority(code)
		c.targets[pr] = target{d: d, wall: t.Clock == ClockWall}
	}
	for code := range f.Targets {
		if _, ok := triage.ParsePriority(code); !ok && code != TargetReview {
			bad("targets: %q is not routine, urgent, asap, stat or review", code)
		}
	}
	if f.DefaultLanguage == "" {
		bad("default_language: required (e.g. en)")
	}
	for _, kind := range replyKinds {
		texts := f.Replies[kind]
		if kind == ReplyReceived && texts == nil {
			continue // optional: without it, a message in opening hours gets no acknowledgement
		}
		if texts[f.DefaultLanguage] == "" {
			bad("replies.%s: needs a text in the default language %q", kind, f.DefaultLanguage)
		}
	}
	for kind, texts := range f.Replies {
		if !contains(replyKinds, kind) {
			bad("replies: %q is not one of %s", kind, strings.Join(replyKinds, ", "))
		}
		for lang, text := range texts {
			if strings.TrimSpace(text) == "" {
				bad("replies.%s.%s: empty text", kind, lang)
			}
			if kind == ReplyAfterHours || kind == ReplyReceived {
				if rest := strings.NewReplacer("{opens}", "", "{due}", "").Replace(text); strings.ContainsAny(rest, "{}") {
					bad("replies.%s.%s: only the placeholders {opens} and {due} are known", kind, lang)
				}
			}
		}
	}
	if len(p) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, p)
	}
	return c, nil
}

// Problems is every problem found in a configuration file.
type Problems []string

func (p Problems) Error() string {
	return fmt.Sprintf("%d problem(s) in the triage configuration:\n  %s", len(p), strings.Join(p, "\n  "))
}

// The kinds of automatic reply: stat (call 911 now), after_hours (when the clinic opens),
// received (every other message: received, the due time, what to do in an emergency), and
// language (a message Portico cannot read: the same in many languages, an interpreter is
// being found).
const (
	ReplyStat       = "stat"
	ReplyAfterHours = "after_hours"
	ReplyReceived   = "received"
	ReplyLanguage   = "language"
)

var replyKinds = []string{ReplyStat, ReplyAfterHours, ReplyReceived, ReplyLanguage}

// TargetReview is the target of a message marked for review (targets.review; default one
// hour of wall time).
const TargetReview = "review"

func categoryCodes() string {
	var cs []string
	for _, c := range triage.Categories {
		cs = append(cs, c.Code)
	}
	return strings.Join(cs, ", ")
}

// Due is when a message of priority p received at t should be answered.
func (c *Config) Due(p triage.Priority, t time.Time) time.Time { return c.due(c.targets[p], t) }

// ReviewDue is when a message marked for review, received at t, should have been looked at.
func (c *Config) ReviewDue(t time.Time) time.Time { return c.due(c.review, t) }

func (c *Config) due(tg target, t time.Time) time.Time {
	if tg.wall {
		return t.Add(tg.d)
	}
	return c.Calendar.Add(t, tg.d)
}

// Route is the first route that matches a category and priority (nil: none).
func (c *Config) Route(category string, p triage.Priority) *Route {
	for i := range c.File.Routes {
		rt := &c.File.Routes[i]
		if len(rt.Categories) > 0 && !contains(rt.Categories, category) {
			continue
		}
		if len(rt.Priorities) > 0 && !contains(rt.Priorities, p.String()) {
			continue
		}
		return rt
	}
	return nil
}

// ReplyText is the automatic reply of a kind in lang (else the default language), with the
// placeholders filled.
func (c *Config) ReplyText(kind, lang string, opens, due time.Time) (text, usedLang string) {
	texts := c.File.Replies[kind]
	usedLang = lang
	if texts[lang] == "" {
		usedLang = c.File.DefaultLanguage
	}
	text = texts[usedLang]
	loc := c.Calendar.Location()
	return strings.NewReplacer("{opens}", FormatWhen(opens.In(loc), usedLang), "{due}", FormatWhen(due.In(loc), usedLang)).Replace(text), usedLang
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

//go:embed dates.json
var datesJSON []byte

// dateFormat is how one language writes a date and time (dates.json, by a translator).
type dateFormat struct {
	Weekdays []string `json:"weekdays"` // Sunday first
	Months   []string `json:"months"`   // January first
	Template string   `json:"template"` // {weekday} {day} {month} {year} {time}
}

var dateFormats = func() map[string]dateFormat {
	var m map[string]dateFormat
	if err := json.Unmarshal(datesJSON, &m); err != nil {
		panic(err) // embedded, and tested
	}
	return m
}()

// FormatWhen writes a local instant for a patient in their language: "Tuesday 9 March 2026 at
// 08:00" (en), "martes 9 de marzo de 2026 a las 08:00" (es); English for a language without
// a format.
func FormatWhen(t time.Time, lang string) string {
	f, ok := dateFormats[lang]
	if !ok {
		f = dateFormats["en"]
	}
	return strings.NewReplacer("{weekday}", f.Weekdays[t.Weekday()], "{day}", fmt.Sprint(t.Day()),
		"{month}", f.Months[t.Month()-1], "{year}", fmt.Sprint(t.Year()), "{time}", t.Format("15:04")).Replace(f.Template)
}
