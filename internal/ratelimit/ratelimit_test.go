package ratelimit

import (
	"strconv"
	"testing"
	"time"
)

// TestLimiter: a burst of twice the rate per key, then refusals with the wait until the next
// token; other keys unaffected; refill with time; nil and zero rates allow everything; a
// flood of keys stays bounded.
func TestLimiter(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := New(2) // bursts of 4
	for i := range 4 {
		if ok, _ := l.Allow("a", now); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, retry := l.Allow("a", now)
	if ok || retry <= 0 || retry > time.Second {
		t.Fatalf("past the burst: ok %v, retry %v; want refused with a wait of at most 500 ms", ok, retry)
	}
	if RetryAfter(retry) != "1" {
		t.Errorf("RetryAfter(%v) = %s, want 1", retry, RetryAfter(retry))
	}
	if ok, _ := l.Allow("b", now); !ok {
		t.Error("another key was refused")
	}
	if ok, _ := l.Allow("a", now.Add(500*time.Millisecond)); !ok {
		t.Error("no refill after 500 ms at 2/s")
	}
	if ok, _ := l.Allow("a", now.Add(500*time.Millisecond)); ok {
		t.Error("refilled more than one token in 500 ms")
	}
	for _, off := range []*Limiter{nil, New(0), New(-1)} {
		for range 100 {
			if ok, _ := off.Allow("a", now); !ok {
				t.Fatal("a disabled limiter refused")
			}
		}
	}
	for i := range maxKeys + 10 {
		l.Allow(strconv.Itoa(i), now)
	}
	if n := len(l.buckets); n > maxKeys {
		t.Errorf("%d keys tracked, want at most %d", n, maxKeys)
	}
}

// TestReserve: within maxWait a request past the burst is granted with a wait that grows with
// each one queued; past maxWait it is refused.
func TestReserve(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := New(10) // bursts of 20, one token per 100 ms
	for range 20 {
		if ok, wait := l.Reserve("a", now, time.Second); !ok || wait != 0 {
			t.Fatalf("within the burst: ok %v, wait %v", ok, wait)
		}
	}
	var last time.Duration
	for i := range 10 {
		ok, wait := l.Reserve("a", now, time.Second)
		if !ok || wait <= last || wait > time.Second {
			t.Fatalf("queued request %d: ok %v, wait %v after %v", i+1, ok, wait, last)
		}
		last = wait
	}
	if ok, wait := l.Reserve("a", now, time.Second); ok || wait <= time.Second {
		t.Errorf("past a second of queue: ok %v, wait %v; want refused", ok, wait)
	}
}
