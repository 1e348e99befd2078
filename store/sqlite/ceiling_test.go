package sqlite_test

import (
	"bytes"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/portico-health/portico/store"
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

// TestRawReader reads a body written through the Store, beside the open Store.
func TestRawReader(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, sqlite.Config{Dir: dir})
	defer s.Close()
	body := []byte(`{"resourceType":"Basic","id":"b"}`)
	if err := s.Write(t.Context(), store.Write{Op: store.OpCreate, Type: "Basic", ID: "b", Version: 1,
		LastUpdated: time.Now(), Body: body}); err != nil {
		t.Fatalf("Write: %v", err)
	}
	r, err := sqlite.OpenRawReader(t.Context(), dir, 0)
	if err != nil {
		t.Fatalf("OpenRawReader: %v", err)
	}
	defer r.Close()
	if got, err := r.Body(t.Context(), "Basic", "b"); err != nil || !bytes.Equal(got, body) {
		t.Errorf("Body = %q, %v; want %q", got, err, body)
	}
	if _, err := r.Body(t.Context(), "Basic", "missing"); !errors.Is(err, sql.ErrNoRows) {
		t.Errorf("Body of a missing resource: err %v, want sql.ErrNoRows", err)
	}
	if _, err := sqlite.OpenRawReader(t.Context(), t.TempDir(), 0); err == nil {
		t.Error("OpenRawReader on a directory without a database succeeded")
	}
}
