package sqlite

import (
	"strings"
	"time"
)

// SchemaText identifies the schema for benchmark caches: a database built by one schema is
// not reused by another.
var SchemaText = strings.Join(schema, "\n")

// HoldSearchSlots takes n slots of the read pool's lane and m of the overflow's, as searches
// in flight would; release gives them back.
func (s *Store) HoldSearchSlots(n, m int) (release func()) { return s.lanes.lanes.Hold(n, m) }

// SetLaneClock replaces the clock by which the lanes judge how long searches ran and how much
// each caller used (before any search runs).
func (s *Store) SetLaneClock(now func() time.Time) { s.lanes.lanes.SetClock(now) }

// SearchesRunning is how many client searches hold a slot.
func (s *Store) SearchesRunning() int { return s.lanes.lanes.Running() }
