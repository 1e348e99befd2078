package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/portico-health/portico/store"
)

var lifecycleTests = []test{
	{"Cancellation", testCancellation},
	{"Close", testClose},
}

// testCancellation checks that every method gives up on a cancelled context with an error that
// wraps context.Canceled, and that a cancelled Write is not applied.
func testCancellation(t *testing.T, s *handle) {
	mustWrite(t, s, create("Patient", "p", at(1), tok("identifier", "urn:c", "1")))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()

	calls := map[string]func() error{
		"Read":  func() error { _, err := s.Read(ctx, "Patient", "p"); return err },
		"VRead": func() error { _, err := s.VRead(ctx, "Patient", "p", 1); return err },
		"Search": func() error {
			_, err := s.Search(ctx, store.Query{Types: []string{"Patient"}, Count: 1, Where: []store.Clause{identifier("urn:c", "1")}})
			return err
		},
		"History": func() error { _, err := s.History(ctx, store.HistoryQuery{Count: 1}); return err },
		"Write":   func() error { return s.Write(ctx, update("Patient", "p", 2, at(2))) },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: err %v, want context.Canceled", name, err)
		}
	}
	if got, err := s.Read(t.Context(), "Patient", "p"); err != nil || got.Version != 1 {
		t.Errorf("a cancelled Write was applied: Read = version %d, %v", got.Version, err)
	}
}

// testClose checks that Close waits for writes in flight (each ends with a definite answer)
// and that the store refuses work afterwards.
func testClose(t *testing.T, s *handle) {
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping on an open store: %v", err)
	}
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			// Either outcome is fine while Close races with the write; hanging is not.
			_ = s.Write(t.Context(), create("Patient", fmt.Sprintf("p%d", i), at(1)))
		})
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()
	if err := s.Write(t.Context(), create("Patient", "after", at(2))); err == nil {
		t.Error("Write after Close succeeded")
	}
	if _, err := s.Read(t.Context(), "Patient", "p0"); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("Read after Close: err %v, want a failure other than ErrNotFound", err)
	}
	if err := s.Ping(t.Context()); err == nil {
		t.Error("Ping after Close succeeded")
	}
}
