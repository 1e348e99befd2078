package server

import (
	"bytes"
	"testing"

	"github.com/portico-health/portico/store/sqlite"
)

// TestCursorKeyShared: the cursor key is made once and read back by every later start (and
// every other instance on the store), so that next links keep working across them.
func TestCursorKeyShared(t *testing.T) {
	dir := t.TempDir()
	open := func() *sqlite.Store {
		st, err := sqlite.Open(t.Context(), sqlite.Config{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	st := open()
	first, err := cursorKey(t.Context(), st)
	if err != nil || len(first) != 32 {
		t.Fatalf("first key: %d bytes, %v", len(first), err)
	}
	again, err := cursorKey(t.Context(), st)
	if err != nil || !bytes.Equal(first, again) {
		t.Fatalf("second read: %v, same key %v", err, bytes.Equal(first, again))
	}
	st.Close()
	st = open()
	defer st.Close()
	if after, err := cursorKey(t.Context(), st); err != nil || !bytes.Equal(first, after) {
		t.Errorf("after a restart: %v, same key %v", err, bytes.Equal(first, after))
	}
}
