package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/portico-health/portico/store"
)

var historyTests = []test{
	{"Queries", testHistoryQueries},
	{"PagingWhileWriting", testHistoryPagingWhileWriting},
}

// testHistoryQueries checks instance, type and system history with Since and At against a
// fixed timeline, at several page sizes so that paging is checked on every query too.
func testHistoryQueries(t *testing.T, s *handle) {
	writeAll(t, s, []store.Write{
		create("Patient", "a", at(1)),
		create("Patient", "b", at(2)),
		update("Patient", "a", 2, at(3)),
		create("Observation", "o", at(4)),
		del("Patient", "a", 3, at(5)),
		update("Patient", "b", 2, at(6)),
		update("Patient", "a", 4, at(7)),
		create("Patient", "c", at(8)),
		create("Patient", "d", at(8)), // same instant as c, committed after it: listed first
	})
	v := func(id string, version int64) string {
		if id == "o" {
			return key("Observation", id, version)
		}
		return key("Patient", id, version)
	}
	a1, a2, a3, a4 := v("a", 1), v("a", 2), v("a", 3), v("a", 4)
	b1, b2, c1, d1, o1 := v("b", 1), v("b", 2), v("c", 1), v("d", 1), v("o", 1)

	cases := []struct {
		name string
		q    store.HistoryQuery
		want []string
	}{
		{"instance", store.HistoryQuery{Type: "Patient", ID: "a"}, []string{a4, a3, a2, a1}},
		{"instance of a missing resource", store.HistoryQuery{Type: "Patient", ID: "zz"}, nil},
		{"type", store.HistoryQuery{Type: "Patient"}, []string{d1, c1, a4, b2, a3, a2, b1, a1}},
		{"other type", store.HistoryQuery{Type: "Observation"}, []string{o1}},
		{"system", store.HistoryQuery{}, []string{d1, c1, a4, b2, a3, o1, a2, b1, a1}},
		{"instance since", store.HistoryQuery{Type: "Patient", ID: "a", Since: at(3)}, []string{a4, a3, a2}},
		{"type since", store.HistoryQuery{Type: "Patient", Since: at(6)}, []string{d1, c1, a4, b2}},
		{"system since", store.HistoryQuery{Since: at(3)}, []string{d1, c1, a4, b2, a3, o1, a2}},
		{"since after everything", store.HistoryQuery{Since: at(9)}, nil},
		{"system at", store.HistoryQuery{At: at(4)}, []string{o1, a2, b1}},
		{"at a version's own instant", store.HistoryQuery{At: at(5)}, []string{a3, o1, b1}},
		{"at between versions", store.HistoryQuery{At: at(5).Add(500 * time.Millisecond)}, []string{a3, o1, b1}},
		{"at before everything", store.HistoryQuery{At: at(0)}, nil},
		{"at after everything", store.HistoryQuery{At: at(9)}, []string{d1, c1, a4, b2, o1}},
		{"type at", store.HistoryQuery{Type: "Patient", At: at(3)}, []string{a2, b1}},
		{"instance at a tombstone", store.HistoryQuery{Type: "Patient", ID: "a", At: at(6)}, []string{a3}},
		{"since and at", store.HistoryQuery{Since: at(3), At: at(5)}, []string{a3, o1}},
	}
	for _, c := range cases {
		for _, count := range []int{1, 2, 100} {
			q := c.q
			q.Count = count
			got := historyPages(t, s, q)
			equalKeys(t, fmt.Sprintf("%s (Count %d)", c.name, count), got, c.want)
		}
	}

	page, err := s.History(t.Context(), store.HistoryQuery{Count: 100})
	if err != nil {
		t.Fatalf("History: %v", err)
	}
	for _, r := range page.Records {
		if r.Deleted() != (r.Body == nil) {
			t.Errorf("history entry %s: op %v with body %q", key(r.Type, r.ID, r.Version), r.Op, r.Body)
		}
	}
	_, err = s.History(t.Context(), store.HistoryQuery{Count: 2, Cursor: "%%%"})
	if !errors.Is(err, store.ErrInvalidCursor) {
		t.Errorf("History with a damaged cursor: err %v, want ErrInvalidCursor", err)
	}
}

// testHistoryPagingWhileWriting pages through history while new versions are written between
// pages, some of them back-dated into the range not yet listed (two API nodes whose clocks
// disagree do that): the pages must still list exactly the versions that existed at the first
// page, each once, in order.
func testHistoryPagingWhileWriting(t *testing.T, s *handle) {
	for i := range 20 {
		mustWrite(t, s, create("Patient", fmt.Sprintf("r%02d", i), at(2*i)))
	}
	for v := int64(1); v <= 9; v++ { // update-as-create, then updates
		mustWrite(t, s, update("Patient", "hot", v, at(int(v)+1)))
	}
	queries := map[string]store.HistoryQuery{
		"system":   {Count: 3},
		"type":     {Type: "Patient", Count: 4},
		"instance": {Type: "Patient", ID: "hot", Count: 2},
		"at":       {At: at(30), Count: 3},
	}
	extra := 0
	for name, q := range queries {
		full := q
		full.Count = 1000
		want := historyPages(t, s, full)

		var got []string
		for {
			page, err := s.History(t.Context(), q)
			if err != nil {
				t.Fatalf("%s: History: %v", name, err)
			}
			got = append(got, keys(page.Records)...)
			if page.Next == "" {
				break
			}
			q.Cursor = page.Next
			// A newer version of a listed resource, a back-dated new resource, and a newer
			// version of the resource whose instance history is being paged.
			extra++
			latest, err := s.Read(t.Context(), "Patient", "hot")
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			mustWrite(t, s, update("Patient", "hot", latest.Version+1, at(100+extra)))
			mustWrite(t, s, create("Patient", fmt.Sprintf("late%03d", extra), at(extra%20)))
		}
		equalKeys(t, name+" paged while writing", got, want)
	}
}
