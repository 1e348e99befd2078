package ratelimit

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestSlotsBoundInFlight(t *testing.T) {
	s := NewSlots(2)
	var running, most atomic.Int64
	var wg sync.WaitGroup
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			release, ok := s.Acquire(context.Background(), "app|alice", 5*time.Second)
			if !ok {
				t.Error("a waiting request was refused within its wait")
				return
			}
			defer release()
			n := running.Add(1)
			for {
				m := most.Load()
				if n <= m || most.CompareAndSwap(m, n) {
					break
				}
			}
			time.Sleep(5 * time.Millisecond)
			running.Add(-1)
		}()
	}
	wg.Wait()
	if most.Load() != 2 {
		t.Errorf("at most %d in flight, want 2", most.Load())
	}
	if s.InUse("app|alice") != 0 {
		t.Errorf("%d slots still taken after every request ended", s.InUse("app|alice"))
	}
}

func TestSlotsRefuseAfterWaitAndKeepKeysApart(t *testing.T) {
	s := NewSlots(1)
	release, ok := s.Acquire(context.Background(), "a", 0)
	if !ok {
		t.Fatal("the first slot was refused")
	}
	if _, ok := s.Acquire(context.Background(), "a", 20*time.Millisecond); ok {
		t.Error("a second request of the same key got a slot while the first held it")
	}
	if r, ok := s.Acquire(context.Background(), "b", 0); !ok {
		t.Error("another key waited for the first key's slot")
	} else {
		r()
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, ok := s.Acquire(ctx, "a", time.Second); ok {
		t.Error("a request whose context ended got a slot")
	}
	release()
	release() // twice: released once
	if r, ok := s.Acquire(context.Background(), "a", 0); !ok || s.InUse("a") != 1 {
		t.Errorf("after release: ok %v, in use %d", ok, s.InUse("a"))
	} else {
		r()
	}
	if NewSlots(0) != nil {
		t.Error("NewSlots(0) is a limit")
	}
	var none *Slots
	if r, ok := none.Acquire(context.Background(), "a", 0); !ok {
		t.Error("nil slots refused")
	} else {
		r()
	}
}

// TestSlotsBoundWaiters: one key queues at most waitersPerSlot per slot; the next is refused
// at once, and another key still waits and gets its turn (the blind review's
// waiter_cap_dos: one patient's queue made everyone else's parallel requests fail).
func TestSlotsBoundWaiters(t *testing.T) {
	s := NewSlots(1)
	hold, _ := s.Acquire(context.Background(), "alice", 0)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range waitersPerSlot {
		wg.Go(func() { s.Acquire(ctx, "alice", time.Minute) })
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		s.mu.Lock()
		n := s.waiting["alice"]
		s.mu.Unlock()
		if n == waitersPerSlot {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d waiting, want %d", n, waitersPerSlot)
		}
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	if _, ok := s.Acquire(context.Background(), "alice", time.Minute); ok || time.Since(start) > time.Second {
		t.Errorf("alice's extra waiter: ok %v after %v, want refused at once", ok, time.Since(start))
	}
	bobHold, _ := s.Acquire(context.Background(), "bob", 0)
	go func() { time.Sleep(20 * time.Millisecond); bobHold() }()
	if r, ok := s.Acquire(context.Background(), "bob", time.Second); !ok {
		t.Error("bob waited in vain while alice's queue was full")
	} else {
		r()
	}
	cancel()
	wg.Wait()
	hold()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.waiting) != 0 || len(s.inUse) != 0 {
		t.Errorf("left behind: waiting %v, in use %v", s.waiting, s.inUse)
	}
}
