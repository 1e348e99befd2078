package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestCrashRecovery kills `portico serve` with SIGKILL in the middle of a write load, three
// times, restarting it on the same data directory each time, and checks after every restart
// that nothing acknowledged was lost or torn: every acknowledged version reads back (vread)
// with the content that was written, no resource's current version is older than its last
// acknowledged one, every resource's history is exactly versions 1..n, and every stored
// version is valid JSON.
func TestCrashRecovery(t *testing.T) {
	addr, dir := freeAddr(t), t.TempDir()
	led := &ledger{last: map[key]int64{}}
	pat, obs := example(t, "patient-full.json"), example(t, "observation-lab.json")
	owners := make([]*owned, crashWorkers)
	for w := range owners {
		owners[w] = &owned{versions: map[key]int64{}}
	}
	for cycle := range crashCycles {
		p := startPortico(t, addr, dir)
		c := newClient(p.base)
		if cycle > 0 {
			verify(t, c, led)
			resync(t, c, owners)
		}
		ctx, cancel := context.WithCancel(context.Background())
		var killed atomic.Bool
		var wg sync.WaitGroup
		for w := range crashWorkers {
			wr := &writer{t: t, c: c, led: led, own: owners[w], pat: pat, obs: obs, w: w, killed: &killed}
			wg.Go(func() { wr.run(ctx) })
		}
		after := time.Second + rand.N(time.Second)
		time.Sleep(after)
		killed.Store(true)
		p.kill()
		cancel()
		wg.Wait()
		t.Logf("cycle %d: SIGKILL after %v; %d acknowledged writes so far", cycle+1, after.Round(time.Millisecond), led.count())
		if t.Failed() {
			return
		}
	}
	p := startPortico(t, addr, dir)
	c := newClient(p.base)
	verify(t, c, led)
	verifyAllStored(t, c, led.count())
}

const (
	crashWorkers = 8
	crashCycles  = 3
	maxOwnedObs  = 40 // Observations each writer creates, then only updates
)

// key names one resource.
type key struct{ typ, id string }

// ack is one acknowledged write: the version the server answered and the hash of the content
// that was sent.
type ack struct {
	key
	version int64
	hash    string
}

// ledger is every acknowledged write of the test.
type ledger struct {
	mu   sync.Mutex
	acks []ack
	last map[key]int64
}

func (l *ledger) record(a ack) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if prev := l.last[a.key]; a.version <= prev {
		return fmt.Errorf("%s/%s: version %d acknowledged after version %d", a.typ, a.id, a.version, prev)
	}
	l.acks = append(l.acks, a)
	l.last[a.key] = a.version
	return nil
}

func (l *ledger) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acks)
}

func (l *ledger) snapshot() ([]ack, map[key]int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	last := make(map[key]int64, len(l.last))
	for k, v := range l.last {
		last[k] = v
	}
	return append([]ack(nil), l.acks...), last
}

// owned are one writer's resources, with the version it last knows of each. A writer is the
// only one to write its resources, so its If-Match never conflicts.
type owned struct {
	patient  string
	obs      []key
	versions map[key]int64
}

// writer is one goroutine of the write load.
type writer struct {
	t        *testing.T
	c        *client
	led      *ledger
	own      *owned
	pat, obs map[string]any
	w, n     int
	killed   *atomic.Bool
}

// run creates and updates resources until the server goes away. A failed request is expected
// only after the kill; an answer with an unexpected status fails the test.
func (wr *writer) run(ctx context.Context) {
	for i := 0; ctx.Err() == nil; i++ {
		var err error
		switch {
		case wr.own.patient == "":
			err = wr.create(ctx, "Patient")
		case i%3 == 0 && len(wr.own.obs) < maxOwnedObs:
			err = wr.create(ctx, "Observation")
		case i%3 == 1 || len(wr.own.obs) == 0:
			err = wr.update(ctx, key{"Patient", wr.own.patient})
		default:
			err = wr.update(ctx, wr.own.obs[rand.IntN(len(wr.own.obs))])
		}
		var gone *goneError
		if errors.As(err, &gone) {
			if !wr.killed.Load() {
				wr.t.Errorf("writer %d: the server went away before the kill: %v", wr.w, gone.err)
			}
			return
		}
		if err != nil {
			wr.t.Errorf("writer %d: %v", wr.w, err)
			return
		}
	}
}

// goneError is a request that got no answer: the server was killed (or crashed).
type goneError struct{ err error }

func (e *goneError) Error() string { return e.err.Error() }

// body is the next content of a resource of the writer (id "" for a create).
func (wr *writer) body(typ, id string) ([]byte, string, error) {
	wr.n++
	var m map[string]any
	if typ == "Patient" {
		m = clone(wr.t, wr.pat)
		m["name"].([]any)[0].(map[string]any)["family"] = fmt.Sprintf("Alvarez-%d-%d", wr.w, wr.n)
	} else {
		m = clone(wr.t, wr.obs)
		m["subject"] = map[string]any{"reference": "Patient/" + wr.own.patient}
		m["valueQuantity"].(map[string]any)["value"] = json.Number(fmt.Sprintf("%d.%02d", wr.n%7, wr.n%100))
	}
	if id != "" {
		m["id"] = id
	}
	data, err := json.Marshal(m)
	if err != nil {
		return nil, "", err
	}
	hash, err := contentHash(data)
	return data, hash, err
}

func (wr *writer) create(ctx context.Context, typ string) error {
	data, hash, err := wr.body(typ, "")
	if err != nil {
		return err
	}
	r, err := wr.c.do(ctx, http.MethodPost, typ, data)
	if err != nil {
		return &goneError{err}
	}
	if r.status != http.StatusCreated {
		return fmt.Errorf("POST %s: status %d: %.300s", typ, r.status, r.body)
	}
	id, v, err := written(r)
	if err != nil || v != 1 {
		return fmt.Errorf("POST %s: version %d: %v", typ, v, err)
	}
	k := key{typ, id}
	if err := wr.led.record(ack{k, v, hash}); err != nil {
		return err
	}
	wr.own.versions[k] = v
	if typ == "Patient" {
		wr.own.patient = id
	} else {
		wr.own.obs = append(wr.own.obs, k)
	}
	return nil
}

func (wr *writer) update(ctx context.Context, k key) error {
	data, hash, err := wr.body(k.typ, k.id)
	if err != nil {
		return err
	}
	prev := wr.own.versions[k]
	r, err := wr.c.do(ctx, http.MethodPut, k.typ+"/"+k.id, data, "If-Match", fmt.Sprintf(`W/"%d"`, prev))
	if err != nil {
		return &goneError{err}
	}
	if r.status != http.StatusOK {
		return fmt.Errorf("PUT %s/%s If-Match %d: status %d: %.300s", k.typ, k.id, prev, r.status, r.body)
	}
	id, v, err := written(r)
	if err != nil || id != k.id || v != prev+1 {
		return fmt.Errorf("PUT %s/%s If-Match %d: answered %s version %d: %v", k.typ, k.id, prev, id, v, err)
	}
	wr.own.versions[k] = v
	return wr.led.record(ack{k, v, hash})
}
