package ratelimit

import (
	"context"
	"sync"
	"time"
)

// Slots bounds the requests a key (a client acting for a user) has in flight at once: a
// caller that sends many requests in parallel runs them one batch at a time instead of
// taking every core from the others. A nil *Slots allows everything.
type Slots struct {
	mu      sync.Mutex
	max     int
	inUse   map[string]int
	waiting map[string]int           // requests of the key waiting for a slot
	freed   map[string]chan struct{} // closed when a slot of the key is released
}

// waitersPerSlot bounds how many requests of one key may wait, per slot: a caller cannot
// fill the server's shared bound on waiting requests (and so have everyone else's parallel
// requests refused) by queueing hundreds behind one slow request of its own.
const waitersPerSlot = 8

// NewSlots returns slots for perKey requests in flight per key, or nil (no limit) when
// perKey <= 0.
func NewSlots(perKey int) *Slots {
	if perKey <= 0 {
		return nil
	}
	return &Slots{max: perKey, inUse: map[string]int{}, waiting: map[string]int{}, freed: map[string]chan struct{}{}}
}

// Acquire takes a slot of key, waiting up to maxWait for one to be released. ok false: none
// was free in time, ctx ended, or waitersPerSlot per slot of the key already wait. release
// gives the slot back; call it once.
func (s *Slots) Acquire(ctx context.Context, key string, maxWait time.Duration) (release func(), ok bool) {
	if s == nil {
		return func() {}, true
	}
	var deadline <-chan time.Time
	queued := false
	defer func() {
		if queued {
			s.mu.Lock()
			if s.waiting[key]--; s.waiting[key] <= 0 {
				delete(s.waiting, key)
			}
			s.mu.Unlock()
		}
	}()
	for {
		s.mu.Lock()
		if s.inUse[key] < s.max {
			s.inUse[key]++
			s.mu.Unlock()
			var once sync.Once
			return func() { once.Do(func() { s.release(key) }) }, true
		}
		if maxWait <= 0 || (!queued && s.waiting[key] >= waitersPerSlot*s.max) {
			s.mu.Unlock()
			return nil, false
		}
		if !queued {
			queued = true
			s.waiting[key]++
		}
		ch := s.freed[key]
		if ch == nil {
			ch = make(chan struct{})
			s.freed[key] = ch
		}
		s.mu.Unlock()
		if deadline == nil {
			t := time.NewTimer(maxWait)
			defer t.Stop()
			deadline = t.C
		}
		select {
		case <-ch:
		case <-deadline:
			return nil, false
		case <-ctx.Done():
			return nil, false
		}
	}
}

// Max is the slots of each key (0 for nil Slots: no limit).
func (s *Slots) Max() int {
	if s == nil {
		return 0
	}
	return s.max
}

// InUse is the number of slots of key taken now.
func (s *Slots) InUse(key string) int {
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inUse[key]
}

func (s *Slots) release(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inUse[key]--; s.inUse[key] <= 0 {
		delete(s.inUse, key) // the map holds only keys in flight: bounded by the requests served
	}
	if ch := s.freed[key]; ch != nil {
		close(ch) // wake every waiter of the key; one of them takes the slot
		delete(s.freed, key)
	}
}
