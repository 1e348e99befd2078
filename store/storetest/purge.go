package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/portico-health/portico/store"
)

var purgeTests = []test{
	{"Purge", testPurge},
}

// testPurge checks that Purge leaves nothing of a resource: no current version, no version by
// number, no history entry, no index entry; that other resources are untouched; that a new
// create starts again at version 1; and that purging what does not exist is no error.
func testPurge(t *testing.T, s *handle) {
	writeAll(t, s, []store.Write{
		create("Key", "k1", at(1), tok("kid", "", "a")),
		update("Key", "k1", 2, at(2), tok("kid", "", "b")),
		create("Key", "k2", at(3), tok("kid", "", "b")),
		create("Key", "gone", at(4)),
		del("Key", "gone", 2, at(5)),
	})
	for _, id := range []string{"k1", "gone", "never"} {
		if err := s.Purge(t.Context(), "Key", id); err != nil {
			t.Fatalf("Purge(Key/%s): %v", id, err)
		}
	}
	if err := s.Purge(t.Context(), "Key", "k1"); err != nil {
		t.Errorf("second Purge: %v", err)
	}
	for _, id := range []string{"k1", "gone"} {
		if _, err := s.Read(t.Context(), "Key", id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Read(Key/%s) after Purge: %v, want ErrNotFound", id, err)
		}
		for v := int64(1); v <= 2; v++ {
			if _, err := s.VRead(t.Context(), "Key", id, v); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("VRead(Key/%s/%d) after Purge: %v, want ErrNotFound", id, v, err)
			}
		}
	}
	k2 := key("Key", "k2", 1)
	for name, q := range map[string]store.HistoryQuery{
		"instance": {Type: "Key", ID: "k1", Count: 10},
		"type":     {Type: "Key", Count: 10},
		"system":   {Count: 10},
	} {
		got := historyPages(t, s, q)
		want := []string{k2}
		if name == "instance" {
			want = nil
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s history after Purge: %v, want %v", name, got, want)
		}
	}
	page, err := s.Search(t.Context(), store.Query{Types: []string{"Key"}, Where: []store.Clause{tokens("kid", code("b"))}, Count: 10, Total: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := keys(page.Records); !slices.Equal(got, []string{k2}) || page.Total != 1 {
		t.Errorf("search after Purge: %v (total %d), want [%s]", got, page.Total, k2)
	}
	mustWrite(t, s, create("Key", "k1", at(6), tok("kid", "", "c")))
	if rec, err := s.Read(t.Context(), "Key", "k1"); err != nil || rec.Version != 1 {
		t.Errorf("create after Purge: version %d, %v", rec.Version, err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.Purge(ctx, "Key", "k2"); !errors.Is(err, context.Canceled) {
		t.Errorf("Purge with a cancelled context: %v, want context.Canceled", err)
	}
	if _, err := s.Read(t.Context(), "Key", "k2"); err != nil {
		t.Errorf("a cancelled Purge was applied: %v", err)
	}
}
