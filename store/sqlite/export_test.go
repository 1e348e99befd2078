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
func (s *Store) HoldSearchSlots(n, m int) (release func()) {
	l := s.lanes
	l.mu.Lock()
	l.free[readPool] -= n
	l.free[overflowPool] -= m
	l.mu.Unlock()
	return func() {
		l.mu.Lock()
		l.free[readPool] += n
		l.free[overflowPool] += m
		l.dispatch()
		l.mu.Unlock()
	}
}

// SetLaneClock replaces the clock by which the lanes judge how long searches ran and how much
// each caller used (before any search runs).
func (s *Store) SetLaneClock(now func() time.Time) { s.lanes.now = now }

// SearchesRunning is how many client searches hold a slot.
func (s *Store) SearchesRunning() int {
	s.lanes.mu.Lock()
	defer s.lanes.mu.Unlock()
	return len(s.lanes.running)
}
