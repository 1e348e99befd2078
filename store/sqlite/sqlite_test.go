package sqlite_test

import (
	"log/slog"
	"testing"

	"github.com/portico-health/portico/store"
	"github.com/portico-health/portico/store/sqlite"
	"github.com/portico-health/portico/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.RunTests(t, func(t *testing.T) store.Store {
		return openTest(t, sqlite.Config{})
	})
}

// openTest opens a store in a fresh directory, logging to the test's output.
func openTest(t testing.TB, cfg sqlite.Config) *sqlite.Store {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := sqlite.Open(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}
