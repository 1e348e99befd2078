package storetest

import (
	"errors"
	"slices"
	"testing"

	"github.com/portico-health/portico/store"
)

var reindexTests = []test{
	{"Reindex", testReindex},
}

// testReindex checks that Reindex replaces the index of the current version only (searches
// find the new entries, not the old ones, and the sort keys follow), writes no version, and
// changes nothing of a resource written or deleted since the version it names.
func testReindex(t *testing.T, s *handle) {
	rx, ok := s.Store.(store.Reindexer)
	if !ok {
		t.Fatal("the store does not implement store.Reindexer")
	}
	writeAll(t, s, []store.Write{
		create("Key", "k1", at(1), tok("kid", "", "old")),
		create("Key", "k2", at(2), tok("kid", "", "old")),
		update("Key", "k2", 2, at(3), tok("kid", "", "newer")),
		create("Key", "gone", at(4), tok("kid", "", "old")),
		del("Key", "gone", 2, at(5)),
	})
	search := func(c string) []string {
		t.Helper()
		page, err := s.Search(t.Context(), store.Query{Types: []string{"Key"}, Where: []store.Clause{tokens("kid", code(c))}, Count: 10})
		if err != nil {
			t.Fatal(err)
		}
		return keys(page.Records)
	}
	if err := rx.Reindex(t.Context(), "Key", "k1", 1, []store.IndexEntry{tok("kid", "", "new")}); err != nil {
		t.Fatalf("Reindex(Key/k1, 1): %v", err)
	}
	for _, stale := range []struct {
		id      string
		version int64
	}{{"k2", 1}, {"gone", 1}, {"gone", 2}, {"never", 1}} {
		err := rx.Reindex(t.Context(), "Key", stale.id, stale.version, []store.IndexEntry{tok("kid", "", "new")})
		if !errors.Is(err, store.ErrVersionConflict) {
			t.Errorf("Reindex(Key/%s, %d), not the current version: %v, want ErrVersionConflict", stale.id, stale.version, err)
		}
	}
	if got, want := search("new"), []string{key("Key", "k1", 1)}; !slices.Equal(got, want) {
		t.Errorf("kid=new after Reindex: %v, want %v", got, want)
	}
	if got := search("old"); len(got) != 0 {
		t.Errorf("kid=old after Reindex: %v, want none (the old entries are gone)", got)
	}
	if got, want := search("newer"), []string{key("Key", "k2", 2)}; !slices.Equal(got, want) {
		t.Errorf("kid=newer (k2 untouched): %v, want %v", got, want)
	}
	if got := historyPages(t, s, store.HistoryQuery{Type: "Key", ID: "k1", Count: 10}); len(got) != 1 {
		t.Errorf("history of k1 after Reindex: %v, want its one version", got)
	}
}
