package triagehook

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/portico-health/portico/api"
	"github.com/portico-health/portico/definitions"
	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/store"
	"github.com/portico-health/portico/triage"
	"github.com/portico-health/portico/triage/triagefhir"
)

// StatsPath is where the workload operation is served, under the FHIR base.
const StatsPath = "/Communication/$triage-stats"

// StatsOperation names the workload operation and its definition, for the CapabilityStatement.
const (
	StatsOperation  = "triage-stats"
	StatsDefinition = definitions.Base + "/OperationDefinition/Communication-triage-stats"
)

// StatsHandler serves GET [base]/Communication/$triage-stats?recipient=Type/id&period=P: a
// Parameters resource with the workload of the triaged patient messages received in the period
// (and addressed to recipient, when given). now is the clock that decides what is overdue.
//
// period is START/END (dates YYYY-MM-DD in the clinic's time zone, or instants; END
// excluded), a single date (that day) or a month YYYY-MM; absent, the last 30 days.
//
// view is the store as the request's caller may see it (a guard view): the figures count only
// what the caller may search.
func (h *Hook) StatsHandler(view func(context.Context) (store.Store, error), base string, now func() time.Time) echo.HandlerFunc {
	if now == nil {
		now = time.Now
	}
	return func(c echo.Context) error {
		out, err := api.Negotiate(c) // the Content-Type of every FHIR answer; 406 before any work
		if err != nil {
			return err
		}
		loc := h.cfg.Calendar.Location()
		at := now()
		start, end, err := parsePeriod(c.QueryParam("period"), loc, at)
		if err != nil {
			return err
		}
		q := store.Query{Types: []string{"Communication"}, Count: 500}
		for _, b := range []struct {
			prefix string
			t      time.Time
		}{{"ge", start}, {"lt", end}} {
			v, err := fhir.ParseSearchValue(store.KindDate, store.ModNone, b.prefix+b.t.UTC().Format(time.RFC3339))
			if err != nil {
				return err
			}
			q.Where = append(q.Where, store.Clause{Param: "received", Kind: store.KindDate, Values: []store.Value{v}})
		}
		if r := c.QueryParam("recipient"); r != "" {
			v, err := fhir.ParseSearchValue(store.KindReference, store.ModNone, r)
			if err != nil {
				return api.NewError(http.StatusBadRequest, "invalid", "recipient: %v", err)
			}
			q.Where = append(q.Where, store.Clause{Param: "recipient", Kind: store.KindReference, Values: []store.Value{v}})
		}
		st, err := view(c.Request().Context())
		if err != nil {
			return err
		}
		s := newStats()
		for {
			page, err := st.Search(c.Request().Context(), q)
			if err != nil {
				return err
			}
			for _, rec := range page.Records {
				body := rec.Body
				if body == nil {
					r, err := st.Read(c.Request().Context(), rec.Type, rec.ID)
					if err != nil {
						continue
					}
					body = r.Body
				}
				v, err := fhir.ParseJSON(body)
				if err == nil && triagefhir.ShouldTriage(&v, base) && findExt(&v, ExtDue) != nil {
					s.add(h, &v, at)
				}
			}
			if page.Next == "" {
				break
			}
			q.Cursor = page.Next
		}
		return out.Write(c, http.StatusOK, s.parameters(h, start, end, c.QueryParam("recipient")))
	}
}

func parsePeriod(p string, loc *time.Location, now time.Time) (time.Time, time.Time, error) {
	s, e, err := parsePeriod0(p, loc, now)
	// FHIR dateTimes run from year 1 to 9999 in every time zone: a period must fit with a day
	// to spare (9999-12 ended in year 10000 and was a 500; year 1 in New York is year 0).
	if err == nil && (s.Year() < 2 || e.Year() > 9998) {
		return time.Time{}, time.Time{}, api.NewError(http.StatusBadRequest, "invalid",
			"period %q: give dates between the years 2 and 9998", p)
	}
	return s, e, err
}

func parsePeriod0(p string, loc *time.Location, now time.Time) (time.Time, time.Time, error) {
	bad := func() (time.Time, time.Time, error) {
		return time.Time{}, time.Time{}, api.NewError(http.StatusBadRequest, "invalid",
			"period %q: give START/END (dates YYYY-MM-DD or instants), a date, or a month YYYY-MM", p)
	}
	if p == "" {
		return now.Add(-30 * 24 * time.Hour), now.Add(time.Second), nil
	}
	one := func(s string) (time.Time, bool, error) { // the instant, and whether it was a date
		if t, err := time.ParseInLocation("2006-01-02", s, loc); err == nil {
			return t, true, nil
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		return t, false, err
	}
	if a, b, ok := strings.Cut(p, "/"); ok {
		s, _, err1 := one(a)
		e, _, err2 := one(b)
		if err1 != nil || err2 != nil || !e.After(s) {
			return bad()
		}
		return s, e, nil
	}
	if t, err := time.ParseInLocation("2006-01", p, loc); err == nil && len(p) == 7 {
		return t, t.AddDate(0, 1, 0), nil
	}
	if t, isDate, err := one(p); err == nil && isDate {
		return t, t.AddDate(0, 0, 1), nil
	}
	return bad()
}

type prioStats struct {
	count, answered, onTime, overdue int
	responses                        []float64 // minutes, in the clock of the target
}

type stats struct {
	total, outOfHours, overdue int
	prio                       map[triage.Priority]*prioStats
	cats                       map[string]int
}

func newStats() *stats {
	s := &stats{prio: map[triage.Priority]*prioStats{}, cats: map[string]int{}}
	for p := triage.Routine; p <= triage.Stat; p++ {
		s.prio[p] = &prioStats{}
	}
	return s
}

func (s *stats) add(h *Hook, v *fhir.Value, now time.Time) {
	p, ok := triage.ParsePriority(str(v.Get("priority")))
	if !ok {
		p = triage.Routine
	}
	ps := s.prio[p]
	s.total++
	ps.count++
	for _, c := range arr(v.Get("category")) {
		for _, cd := range arr(c.Get("coding")) {
			if str(cd.Get("system")) == triagefhir.CategoryCodeSystem {
				s.cats[str(cd.Get("code"))]++
			}
		}
	}
	if findExt(v, ExtOutOfHours) != nil {
		s.outOfHours++
	}
	if r := findExt(v, ExtResponse); r != nil {
		ps.answered++
		key := "businessElapsed"
		if h.cfg.targets[p].wall {
			key = "elapsed"
		}
		for _, sub := range arr(r.Get("extension")) {
			switch str(sub.Get("url")) {
			case key:
				if d := sub.Get("valueDuration"); d != nil {
					var f float64
					if err := json.Unmarshal([]byte(d.Get("value").Text), &f); err == nil {
						ps.responses = append(ps.responses, f)
					}
				}
			case "onTime":
				if b := sub.Get("valueBoolean"); b != nil && b.Text == "true" {
					ps.onTime++
				}
			}
		}
		return
	}
	if str(v.Get("status")) == "in-progress" {
		if due, err := parseDateTime(str(findExtValue(v, ExtDue, "valueDateTime"))); err == nil && due.Before(now) {
			ps.overdue++
			s.overdue++
		}
	}
}

// percentile is the nearest-rank percentile of sorted values.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func (s *stats) parameters(h *Hook, start, end time.Time, recipient string) []byte {
	type param = map[string]any
	ps := []param{{"name": "period", "valuePeriod": map[string]string{
		"start": formatLocal(start, h.cfg.Calendar.Location()), "end": formatLocal(end, h.cfg.Calendar.Location())}}}
	if recipient != "" {
		ps = append(ps, param{"name": "recipient", "valueReference": map[string]string{"reference": recipient}})
	}
	ps = append(ps, param{"name": "total", "valueInteger": s.total})
	for p := triage.Stat; p >= triage.Routine; p-- {
		x := s.prio[p]
		sort.Float64s(x.responses)
		parts := []param{
			{"name": "priority", "valueCode": p.String()},
			{"name": "count", "valueInteger": x.count},
			{"name": "answered", "valueInteger": x.answered},
			{"name": "answeredOnTime", "valueInteger": x.onTime},
			{"name": "overdue", "valueInteger": x.overdue},
			{"name": "target", "valueDuration": minutes(h.cfg.targets[p].d)},
		}
		clock := ClockBusiness
		if h.cfg.targets[p].wall {
			clock = ClockWall
		}
		parts = append(parts, param{"name": "targetClock", "valueCode": clock})
		if len(x.responses) > 0 {
			parts = append(parts,
				param{"name": "medianResponse", "valueDuration": minutes(time.Duration(percentile(x.responses, 0.5) * float64(time.Minute)))},
				param{"name": "p90Response", "valueDuration": minutes(time.Duration(percentile(x.responses, 0.9) * float64(time.Minute)))})
		}
		ps = append(ps, param{"name": "byPriority", "part": parts})
	}
	codes := make([]string, 0, len(s.cats))
	for c := range s.cats {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	for _, c := range codes {
		ps = append(ps, param{"name": "byCategory", "part": []param{
			{"name": "category", "valueCoding": map[string]string{"system": triagefhir.CategoryCodeSystem, "code": c}},
			{"name": "count", "valueInteger": s.cats[c]}}})
	}
	share := 0.0
	if s.total > 0 {
		share = float64(s.outOfHours) / float64(s.total)
	}
	ps = append(ps,
		param{"name": "overdue", "valueInteger": s.overdue},
		param{"name": "outOfHours", "valueInteger": s.outOfHours},
		param{"name": "outOfHoursShare", "valueDecimal": json.Number(strconv.FormatFloat(math.Round(share*1000)/1000, 'f', -1, 64))})
	out, _ := json.Marshal(map[string]any{"resourceType": "Parameters", "parameter": ps})
	return out
}

// OpenQueue counts the open patient messages (status in-progress) past their due time at now,
// and those with the review flag: the figures of the triage gauges of the server's metrics.
// Each is one counting search on the index (store.Query.Total, a page of one), not a read of
// the messages.
func OpenQueue(ctx context.Context, st store.Store, now time.Time) (overdue, review int, err error) {
	open := store.Clause{Param: "status", Kind: store.KindToken, Values: []store.Value{{Code: "in-progress", AnySystem: true}}}
	due, err := fhir.ParseSearchValue(store.KindDate, store.ModNone, "lt"+now.UTC().Format(time.RFC3339))
	if err != nil {
		return 0, 0, err
	}
	count := func(where store.Clause) (int, error) {
		page, err := st.Search(ctx, store.Query{Types: []string{"Communication"}, Where: []store.Clause{open, where}, Count: 1, Total: true})
		return page.Total, err
	}
	if overdue, err = count(store.Clause{Param: "due", Kind: store.KindDate, Values: []store.Value{due}}); err != nil {
		return 0, 0, err
	}
	flag := store.Clause{Param: "_tag", Kind: store.KindToken, Values: []store.Value{{System: triagefhir.FlagSystem, Code: "review"}}}
	if review, err = count(flag); err != nil {
		return 0, 0, err
	}
	return overdue, review, nil
}
