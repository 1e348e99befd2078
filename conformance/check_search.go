package conformance

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// searchChecks cover type search (R4 search.html) on data each check creates: a Patient with
// an identifier unique to the run and three Observations of it, at different dates with two
// codes, so that every query can be narrowed to this check's resources.
var searchChecks = []check{
	{"by-identifier", checkSearchIdentifier},
	{"by-reference", checkSearchReference},
	{"by-token-and-reference", checkSearchCode},
	{"date-prefixes", checkSearchDates},
	{"sort", checkSearchSort},
	{"count-paging", checkSearchPaging},
	{"include", checkSearchInclude},
	{"revinclude", checkSearchRevinclude},
	{"post", checkSearchPost},
	{"malformed-value", checkSearchMalformed},
	{"unknown-parameter-ignored", checkSearchUnknown},
}

// searchFixture is the data of one search check.
type searchFixture struct {
	patient *created
	obs     []*created // by date: 2024-01-10 (718-7), 2024-02-10 (718-7), 2024-03-10 (4548-4)
}

var searchObsDates = []string{"2024-01-10T09:00:00Z", "2024-02-10T09:00:00Z", "2024-03-10T09:00:00Z"}

func (s *session) searchFixture(ctx context.Context) (*searchFixture, error) {
	if err := s.requireType("Patient", "search-type", "create"); err != nil {
		return nil, err
	}
	if err := s.requireType("Observation", "search-type", "create"); err != nil {
		return nil, err
	}
	p, err := s.newPatient(ctx)
	if err != nil {
		return nil, err
	}
	f := &searchFixture{patient: p, obs: make([]*created, len(searchObsDates))}
	// Created out of date order, so that a sorted search cannot pass by creation order.
	for _, i := range []int{1, 2, 0} {
		value := s.nextValue()
		body := edit(fixture("observation.json", "value", value), func(r obj) {
			r["subject"] = obj{"reference": "Patient/" + p.id}
			r["effectiveDateTime"] = searchObsDates[i]
			if i == 2 {
				r["code"] = obj{"coding": []any{obj{"system": "http://loinc.org", "code": "4548-4", "display": "Hemoglobin A1c"}}}
			}
		})
		c, err := s.create(ctx, "Observation", body)
		if err != nil {
			return nil, fmt.Errorf("creating an Observation to search: %w", err)
		}
		c.value = value
		f.obs[i] = c
	}
	return f, nil
}

// searchset GETs path and requires a 200 searchset Bundle; it returns the Bundle and the ids
// of its match entries in order.
func (s *session) searchset(ctx context.Context, method, path string, body []byte, headers ...string) (obj, []string, error) {
	r, err := s.do(ctx, method, path, body, headers...)
	if err != nil {
		return nil, nil, err
	}
	if err := r.want(http.StatusOK); err != nil {
		return nil, nil, err
	}
	b, err := r.resource("Bundle")
	if err != nil {
		return nil, nil, err
	}
	if t := str(b, "type"); t != "searchset" {
		return nil, nil, fmt.Errorf("%s: Bundle.type %q, want searchset", r, t)
	}
	var ids []string
	for i, e := range list(b, "entry") {
		mode := str(e, "search", "mode")
		if mode == "" {
			mode = "match"
		}
		if mode != "match" {
			continue
		}
		id := str(e, "resource", "id")
		if id == "" || str(e, "fullUrl") == "" {
			return nil, nil, fmt.Errorf("%s: entry[%d] lacks fullUrl or resource.id", r, i)
		}
		ids = append(ids, id)
	}
	return b, ids, nil
}

// sameIDs fails unless got holds exactly want (in any order when !ordered).
func sameIDs(what string, got []string, ordered bool, want ...string) error {
	g, w := slices.Clone(got), slices.Clone(want)
	if !ordered {
		slices.Sort(g)
		slices.Sort(w)
	}
	if !slices.Equal(g, w) {
		return fmt.Errorf("%s: matched %v, want %v", what, got, want)
	}
	return nil
}

// expectMatches runs the GET search q and compares its matches, in any order, with want.
func (s *session) expectMatches(ctx context.Context, q string, want ...string) error {
	_, ids, err := s.searchset(ctx, http.MethodGet, q, nil)
	if err != nil {
		return err
	}
	return sameIDs(q, ids, false, want...)
}

func (f *searchFixture) ids(idx ...int) []string {
	var out []string
	for _, i := range idx {
		out = append(out, f.obs[i].id)
	}
	return out
}

func checkSearchIdentifier(ctx context.Context, s *session) error {
	f, err := s.searchFixture(ctx)
	if err != nil {
		return err
	}
	q := "Patient?identifier=" + url.QueryEscape(identifierSystem+"|"+f.patient.value)
	b, ids, err := s.searchset(ctx, http.MethodGet, q, nil)
	if err != nil {
		return err
	}
	if err := sameIDs(q, ids, false, f.patient.id); err != nil {
		return err
	}
	for _, l := range list(b, "link") {
		if str(l, "relation") == "self" && str(l, "url") != "" {
			return nil
		}
	}
	return fmt.Errorf("%s: the Bundle has no self link", q)
}

func checkSearchReference(ctx context.Context, s *session) error {
	f, err := s.searchFixture(ctx)
	if err != nil {
		return err
	}
	for _, q := range []string{
		"Observation?subject=Patient/" + f.patient.id,
		"Observation?patient=" + f.patient.id,
		"Observation?subject:Patient=" + f.patient.id,
	} {
		if err := s.expectMatches(ctx, q, f.ids(0, 1, 2)...); err != nil {
			return err
		}
	}
	return nil
}

func checkSearchCode(ctx context.Context, s *session) error {
	f, err := s.searchFixture(ctx)
	if err != nil {
		return err
	}
	for _, tc := range []struct {
		q    string
		want []int
	}{
		{"code=" + url.QueryEscape("http://loinc.org|718-7"), []int{0, 1}},
		{"code=4548-4", []int{2}},
		{"code=4548-4,718-7", []int{0, 1, 2}},
		{"code=" + url.QueryEscape("http://snomed.info/sct|718-7"), nil},
	} {
		q := "Observation?patient=Patient/" + f.patient.id + "&" + tc.q
		if err := s.expectMatches(ctx, q, f.ids(tc.want...)...); err != nil {
			return err
		}
	}
	return nil
}

func checkSearchDates(ctx context.Context, s *session) error {
	f, err := s.searchFixture(ctx)
	if err != nil {
		return err
	}
	for _, tc := range []struct {
		date string
		want []int
	}{
		{"2024-02-10", []int{1}},
		{"2024-02", []int{1}},
		{"ge2024-02-10", []int{1, 2}},
		{"gt2024-02-10", []int{2}},
		{"lt2024-02-10", []int{0}},
		{"le2024-02", []int{0, 1}},
		{"ne2024-02", []int{0, 2}},
		{"2023", nil},
	} {
		q := "Observation?patient=Patient/" + f.patient.id + "&date=" + tc.date
		if err := s.expectMatches(ctx, q, f.ids(tc.want...)...); err != nil {
			return err
		}
	}
	return nil
}

func checkSearchSort(ctx context.Context, s *session) error {
	f, err := s.searchFixture(ctx)
	if err != nil {
		return err
	}
	base := "Observation?patient=Patient/" + f.patient.id
	_, ids, err := s.searchset(ctx, http.MethodGet, base+"&_sort=date", nil)
	if err != nil {
		return err
	}
	if err := sameIDs("_sort=date", ids, true, f.ids(0, 1, 2)...); err != nil {
		return err
	}
	_, ids, err = s.searchset(ctx, http.MethodGet, base+"&_sort=-date", nil)
	if err != nil {
		return err
	}
	return sameIDs("_sort=-date", ids, true, f.ids(2, 1, 0)...)
}

// checkSearchPaging: _count=1 pages through the three Observations by next links, each once.
func checkSearchPaging(ctx context.Context, s *session) error {
	f, err := s.searchFixture(ctx)
	if err != nil {
		return err
	}
	path := "Observation?patient=Patient/" + f.patient.id + "&_count=1"
	var all []string
	for pages := 0; path != ""; pages++ {
		if pages > 5 {
			return fmt.Errorf("more than 5 pages of _count=1 for 3 matches")
		}
		b, ids, err := s.searchset(ctx, http.MethodGet, path, nil)
		if err != nil {
			return err
		}
		if len(ids) > 1 {
			return fmt.Errorf("%s: %d matches on a page of _count=1", path, len(ids))
		}
		all = append(all, ids...)
		path = ""
		for _, l := range list(b, "link") {
			if str(l, "relation") == "next" {
				next := str(l, "url")
				rel, ok := strings.CutPrefix(next, s.base+"/")
				if !ok {
					return fmt.Errorf("next link %q is not under the base %s", next, s.base)
				}
				path = rel
			}
		}
	}
	return sameIDs("following next links with _count=1", all, false, f.ids(0, 1, 2)...)
}

func checkSearchInclude(ctx context.Context, s *session) error {
	f, err := s.searchFixture(ctx)
	if err != nil {
		return err
	}
	q := "Observation?patient=Patient/" + f.patient.id + "&code=4548-4&_include=Observation:patient"
	b, ids, err := s.searchset(ctx, http.MethodGet, q, nil)
	if err != nil {
		return err
	}
	if err := sameIDs(q, ids, false, f.ids(2)...); err != nil {
		return err
	}
	for _, e := range list(b, "entry") {
		if str(e, "search", "mode") == "include" && str(e, "resource", "resourceType") == "Patient" && str(e, "resource", "id") == f.patient.id {
			return nil
		}
	}
	return fmt.Errorf("%s: no entry with search.mode include for Patient/%s", q, f.patient.id)
}

func checkSearchRevinclude(ctx context.Context, s *session) error {
	f, err := s.searchFixture(ctx)
	if err != nil {
		return err
	}
	q := "Patient?_id=" + f.patient.id + "&_revinclude=Observation:patient"
	b, ids, err := s.searchset(ctx, http.MethodGet, q, nil)
	if err != nil {
		return err
	}
	if err := sameIDs(q, ids, false, f.patient.id); err != nil {
		return err
	}
	var included []string
	for _, e := range list(b, "entry") {
		if str(e, "search", "mode") == "include" {
			included = append(included, str(e, "resource", "id"))
		}
	}
	return sameIDs(q+" (included)", included, false, f.ids(0, 1, 2)...)
}

func checkSearchPost(ctx context.Context, s *session) error {
	f, err := s.searchFixture(ctx)
	if err != nil {
		return err
	}
	form := url.Values{"patient": {"Patient/" + f.patient.id}, "date": {"ge2024-02-01"}}.Encode()
	_, ids, err := s.searchset(ctx, http.MethodPost, "Observation/_search?code=718-7", []byte(form),
		"Content-Type", "application/x-www-form-urlencoded")
	if err != nil {
		return err
	}
	return sameIDs("POST Observation/_search", ids, false, f.ids(1)...)
}

// checkSearchMalformed: a value that does not parse for its parameter's type is an error
// (search.html#errors: 400 with an OperationOutcome), never an empty result.
func checkSearchMalformed(ctx context.Context, s *session) error {
	if err := s.requireType("Patient", "search-type"); err != nil {
		return err
	}
	for _, q := range []string{"Patient?birthdate=not-a-date", "Patient?birthdate=xx2020-01-01"} {
		r, err := s.do(ctx, http.MethodGet, q, nil)
		if err != nil {
			return err
		}
		if err := r.outcome(http.StatusBadRequest); err != nil {
			return err
		}
	}
	return nil
}

// checkSearchUnknown: by default a server ignores a parameter it does not know (search.html#errors).
func checkSearchUnknown(ctx context.Context, s *session) error {
	f, err := s.searchFixture(ctx)
	if err != nil {
		return err
	}
	q := "Patient?_id=" + f.patient.id + "&portico-no-such-parameter=1"
	return s.expectMatches(ctx, q, f.patient.id)
}
