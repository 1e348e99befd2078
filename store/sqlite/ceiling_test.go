package sqlite_test

import (
	"testing"
	"time"

	"github.com/portico-health/portico/store/sqlite"
)

// TestCeiling runs a miniature ceiling measurement: the load tool's entry point must work.
func TestCeiling(t *testing.T) {
	res, err := sqlite.Ceiling(t.Context(), sqlite.CeilingConfig{Dir: t.TempDir(), Sync: "normal",
		Preload: 2000, IndexRows: 3, Duration: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("Ceiling: %v", err)
	}
	if res.Insert.Ops == 0 || res.Read.Ops == 0 || res.Driver != sqlite.DriverName {
		t.Errorf("Ceiling = %+v, want both phases measured", res)
	}
	t.Logf("insert %v; read %v", res.Insert, res.Read)

	if _, err := sqlite.Ceiling(t.Context(), sqlite.CeilingConfig{}); err == nil {
		t.Error("Ceiling without a directory succeeded")
	}
}
