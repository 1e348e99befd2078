//go:build unix

package sqlite_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/portico-health/portico/store"
	"github.com/portico-health/portico/store/sqlite"
)

// TestRawSearcherMatchesSearch: the ceiling's hand-written SQL answers the two patient-app
// searches exactly as Store.Search does (same resources, same order), so the load tool
// compares like with like.
func TestRawSearcherMatchesSearch(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTest(t, sqlite.Config{Dir: dir, Sync: "normal"})
	const rows, patients = 4000, 20
	var writes []store.Write
	for i := range rows {
		writes = append(writes, observation(i, patients))
		if i%2 == 0 {
			writes = append(writes, communication(i/2, patients))
		}
	}
	for i := range writes { // bodies that tell the resources apart, so that order is compared
		writes[i].Body = []byte(fmt.Sprintf(`{"resourceType":%q,"id":%q}`, writes[i].Type, writes[i].ID))
	}
	for i := 0; i < len(writes); i += 500 {
		if err := s.Write(ctx, writes[i:min(i+500, len(writes))]...); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := sqlite.OpenRawSearcher(ctx, dir, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	matched := 0
	for p := range 5 {
		pat := fmt.Sprintf("pat%d", p)
		for _, code := range benchCodes[:3] {
			got, err := raw.Observations(ctx, pat, "http://loinc.org", code, 20)
			if err != nil {
				t.Fatal(err)
			}
			page, err := s.Search(ctx, store.Query{Types: []string{"Observation"}, Count: 20,
				Sort:  []store.Sort{{Param: "date", Desc: true}},
				Where: []store.Clause{refClause("patient", "Patient", pat), {Param: "code", Kind: store.KindToken, Values: []store.Value{{System: "http://loinc.org", Code: code}}}}})
			if err != nil {
				t.Fatal(err)
			}
			compareBodies(t, "Observation "+pat+" "+code, got, page.Records)
			matched += len(got)
		}
		got, err := raw.Communications(ctx, pat, "in-progress", 20)
		if err != nil {
			t.Fatal(err)
		}
		page, err := s.Search(ctx, store.Query{Types: []string{"Communication"}, Count: 20,
			Sort:  []store.Sort{{Param: "priority"}, {Param: "sent"}},
			Where: []store.Clause{refClause("recipient", "Patient", pat), codeClause("status", "in-progress")}})
		if err != nil {
			t.Fatal(err)
		}
		compareBodies(t, "Communication "+pat, got, page.Records)
		matched += len(got)
	}
	if matched == 0 {
		t.Fatal("no search matched anything: the test compares nothing")
	}
}

func compareBodies(t *testing.T, what string, raw [][]byte, recs []store.Record) {
	t.Helper()
	var want [][]byte
	for _, r := range recs {
		want = append(want, r.Body)
	}
	if !slices.EqualFunc(raw, want, func(a, b []byte) bool { return string(a) == string(b) }) || len(raw) != len(recs) {
		t.Errorf("%s: raw SQL returned %d bodies, Search %d (or a different order)", what, len(raw), len(recs))
	}
}
