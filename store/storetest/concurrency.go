package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/portico-health/portico/store"
)

var concurrencyTests = []test{
	{"OptimisticUpdates", testOptimisticUpdates},
	{"ParallelCreates", testParallelCreates},
}

// testOptimisticUpdates runs the API's update loop from many goroutines on one resource: read
// the current version, write version+1, start again on ErrVersionConflict. No update may be
// lost or applied twice, and versions must stay gap-free.
func testOptimisticUpdates(t *testing.T, s *handle) {
	const workers, perWorker = 32, 3
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for n := range perWorker {
				if err := updateWithRetry(t, s, fmt.Sprintf("w%02d-%d", w, n)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()

	const total = workers * perWorker
	page, err := s.History(t.Context(), store.HistoryQuery{Type: "Patient", ID: "shared", Count: total + 10})
	if err != nil {
		t.Fatalf("History: %v", err)
	}
	if len(page.Records) != total {
		t.Fatalf("history has %d versions, want %d", len(page.Records), total)
	}
	var marks []string
	for i, r := range page.Records {
		if want := int64(total - i); r.Version != want {
			t.Errorf("history entry %d is version %d, want %d", i, r.Version, want)
		}
		marks = append(marks, markOf(r.Body))
	}
	slices.Sort(marks)
	if n := len(slices.Compact(marks)); n != total {
		t.Errorf("%d distinct updates stored, want %d (one lost or applied twice)", n, total)
	}
}

// updateWithRetry writes one new version of Patient/shared carrying mark.
func updateWithRetry(t *testing.T, s store.Store, mark string) error {
	for attempt := 0; attempt < 10000; attempt++ {
		version := int64(1)
		cur, err := s.Read(t.Context(), "Patient", "shared")
		switch {
		case err == nil:
			version = cur.Version + 1
		case !errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("read: %w", err)
		}
		w := update("Patient", "shared", version, time.Now())
		w.Body = fmt.Appendf(nil, `{"resourceType":"Patient","id":"shared","mark":%q}`, mark)
		err = s.Write(t.Context(), w)
		if err == nil {
			return nil
		}
		if !errors.Is(err, store.ErrVersionConflict) {
			return fmt.Errorf("write of version %d: %w", version, err)
		}
	}
	return fmt.Errorf("update %s still conflicting after 10000 attempts", mark)
}

// markOf extracts the mark a body was written with.
func markOf(body []byte) string {
	var v struct{ Mark string }
	if err := json.Unmarshal(body, &v); err != nil || v.Mark == "" {
		return "unreadable: " + string(body)
	}
	return v.Mark
}

// testParallelCreates creates distinct resources from many goroutines at once: every
// acknowledged create is readable and searchable afterwards.
func testParallelCreates(t *testing.T, s *handle) {
	const workers, perWorker = 16, 8
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for n := range perWorker {
				id := fmt.Sprintf("c%02d-%d", w, n)
				if err := s.Write(t.Context(), create("Patient", id, time.Now(), tok("identifier", "urn:par", "x"))); err != nil {
					t.Errorf("create %s: %v", id, err)
				}
			}
		})
	}
	wg.Wait()
	got := searchPages(t, s, store.Query{Types: []string{"Patient"}, Count: 50, Total: true,
		Where: []store.Clause{identifier("urn:par", "x")}}, func(p store.Page) {
		if p.Total != workers*perWorker {
			t.Errorf("Total %d, want %d", p.Total, workers*perWorker)
		}
	})
	if len(got) != workers*perWorker {
		t.Errorf("search found %d of %d created resources", len(got), workers*perWorker)
	}
}
