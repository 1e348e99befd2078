package sqlite

import (
	"testing"

	"github.com/portico-health/portico/store"
	"github.com/portico-health/portico/store/storetest"
)

// TestConformanceWalk runs the suite with every search walking its order's index (the plan of
// unselective clauses, with the second phase for resources lacking the sort key), which the
// suite's small data sets would otherwise never reach.
func TestConformanceWalk(t *testing.T) {
	saved := driveThreshold
	driveThreshold = 1
	t.Cleanup(func() { driveThreshold = saved })
	storetest.RunTests(t, func(t *testing.T) store.Store {
		s, err := Open(t.Context(), Config{Dir: t.TempDir()})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}
