package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// twoPorticosOnMongo starts one mongo-java-server and two `portico serve` processes on it, each with
// its own address, and returns a client for each.
func twoPorticosOnMongo(t *testing.T, db string) [2]*client {
	t.Helper()
	requireMongoJar(t)
	maddr := startJavaMongo(t, 0)
	uri := "mongodb://" + maddr + "/" + db
	var cs [2]*client
	for i := range cs {
		p := startPorticoMongo(t, freeAddr(t), uri, true)
		cs[i] = newClient(p.base)
	}
	return cs
}

// TestMongoTwoProcessesNoLostUpdate: goroutines spread over two Portico processes on one
// MongoDB update one resource with If-Match (read, PUT, on 412 read again) until N updates
// succeeded. A lost update would show as a version number acknowledged twice, a final version
// below 1+N or a gap in the history.
func TestMongoTwoProcessesNoLostUpdate(t *testing.T) {
	if testing.Short() {
		t.Skip("starts MongoDB and two Portico processes")
	}
	cs := twoPorticosOnMongo(t, "portico_e2e_lost_update")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()

	r, err := cs[0].do(ctx, http.MethodPut, "Patient/shared", []byte(`{"resourceType":"Patient","id":"shared","name":[{"family":"Start"}]}`))
	if err != nil || r.status != http.StatusCreated {
		t.Fatalf("create: %v %d %s", err, r.status, r.body)
	}

	const (
		workers = 16 // half on each process
		total   = 300
	)
	var (
		claimed  atomic.Int64 // updates handed out: each worker claims one, then retries it until it succeeds
		conflict atomic.Int64 // 412 answers
		mu       sync.Mutex
		acked    = map[int64]string{} // version -> the worker and attempt that got it
		failures []string
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		failures = append(failures, fmt.Sprintf(format, args...))
		mu.Unlock()
		cancel()
	}
	var wg sync.WaitGroup
	for w := range workers {
		c := cs[w%2]
		wg.Go(func() {
			for n := claimed.Add(1); n <= total; n = claimed.Add(1) {
				for attempt := 0; ; attempt++ {
					if ctx.Err() != nil {
						return
					}
					cur, err := c.do(ctx, http.MethodGet, "Patient/shared", nil)
					if err != nil || cur.status != http.StatusOK {
						fail("worker %d: read: %v %d %s", w, err, cur.status, cur.body)
						return
					}
					res, err := decodeObject(cur.body)
					if err != nil {
						fail("worker %d: read: %v", w, err)
						return
					}
					v := versionOf(res)
					res["name"] = []any{map[string]any{"family": fmt.Sprintf("w%d-u%d", w, n)}}
					delete(res, "meta")
					body, _ := json.Marshal(res)
					up, err := c.do(ctx, http.MethodPut, "Patient/shared", body, "If-Match", fmt.Sprintf(`W/"%d"`, v))
					if err != nil {
						fail("worker %d: update: %v", w, err)
						return
					}
					if up.status == http.StatusPreconditionFailed {
						conflict.Add(1)
						continue
					}
					if up.status != http.StatusOK {
						fail("worker %d: update under If-Match %d: status %d %s (want 200 or 412)", w, v, up.status, up.body)
						return
					}
					_, got, err := written(up)
					if err != nil {
						fail("worker %d: %v", w, err)
						return
					}
					mu.Lock()
					if prev, dup := acked[got]; dup {
						failures = append(failures, fmt.Sprintf("version %d acknowledged twice: to %s and to worker %d", got, prev, w))
					}
					acked[got] = fmt.Sprintf("worker %d (If-Match %d)", w, v)
					mu.Unlock()
					if got != v+1 {
						fail("worker %d: If-Match %d succeeded with version %d (want %d)", w, v, got, v+1)
						return
					}
					break
				}
			}
		})
	}
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	if t.Failed() {
		return
	}
	t.Logf("%d updates from %d workers on 2 processes, %d answered 412 and retried", total, workers, conflict.Load())
	if len(acked) != total {
		t.Errorf("%d distinct versions acknowledged, want %d", len(acked), total)
	}
	for v := int64(2); v <= 1+total; v++ {
		if _, ok := acked[v]; !ok {
			t.Errorf("version %d was never acknowledged", v)
		}
	}

	// Both processes see the same final state.
	for i, c := range cs {
		r, err := c.do(ctx, http.MethodGet, "Patient/shared", nil)
		if err != nil || r.status != http.StatusOK {
			t.Fatalf("final read on process %d: %v %d", i, err, r.status)
		}
		res, err := decodeObject(r.body)
		if err != nil {
			t.Fatal(err)
		}
		if v := versionOf(res); v != 1+total {
			t.Errorf("process %d: final meta.versionId %d, want %d", i, v, 1+total)
		}
	}
	entries, err := cs[1].bundleEntries(ctx, "Patient/shared/_history?_count=50")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int64]int{}
	var versions []int64
	for _, e := range entries {
		res, _ := e["resource"].(map[string]any)
		v := versionOf(res)
		seen[v]++
		versions = append(versions, v)
	}
	sort.Slice(versions, func(i, j int) bool { return versions[i] < versions[j] })
	if len(entries) != 1+total {
		t.Errorf("_history has %d entries, want %d", len(entries), 1+total)
	}
	for v := int64(1); v <= 1+total; v++ {
		if seen[v] != 1 {
			t.Errorf("_history holds version %d %d times, want once", v, seen[v])
		}
	}
	if t.Failed() {
		t.Logf("history versions: %v", versions)
	}
}

// TestMongoTwoProcessesDuplicateID: both processes PUT the same new client-chosen id at the
// same moment. Exactly one creates it (201); the other either updates it (200, version 2: its
// retry saw the first) or is refused (409/412). Never two version-1 records.
func TestMongoTwoProcessesDuplicateID(t *testing.T) {
	if testing.Short() {
		t.Skip("starts MongoDB and two Portico processes")
	}
	cs := twoPorticosOnMongo(t, "portico_e2e_duplicate_id")
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()

	const rounds = 40
	outcomes := map[string]int{}
	for round := range rounds {
		id := "dup-" + strconv.Itoa(round)
		var (
			start  = make(chan struct{})
			wg     sync.WaitGroup
			status [2]int
			errs   [2]error
		)
		for i, c := range cs {
			body := fmt.Appendf(nil, `{"resourceType":"Patient","id":%q,"name":[{"family":"from-process-%d"}]}`, id, i)
			wg.Go(func() {
				<-start
				r, err := c.do(ctx, http.MethodPut, "Patient/"+id, body)
				status[i], errs[i] = r.status, err
			})
		}
		close(start)
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		created, other := 0, 0
		for _, s := range status {
			switch s {
			case http.StatusCreated:
				created++
			case http.StatusOK, http.StatusConflict, http.StatusPreconditionFailed:
				other = s
			default:
				t.Errorf("%s: status %d (want 201, 200, 409 or 412)", id, s)
			}
		}
		if created != 1 {
			t.Errorf("%s: statuses %v: want exactly one 201", id, status)
			continue
		}
		outcomes[fmt.Sprintf("201+%d", other)]++

		entries, err := cs[round%2].bundleEntries(ctx, "Patient/"+id+"/_history")
		if err != nil {
			t.Fatal(err)
		}
		want := 1
		if other == http.StatusOK {
			want = 2
		}
		count := map[int64]int{}
		for _, e := range entries {
			res, _ := e["resource"].(map[string]any)
			count[versionOf(res)]++
		}
		if len(entries) != want || count[1] != 1 || (want == 2 && count[2] != 1) {
			t.Errorf("%s: statuses %v but history versions %v (want versions 1..%d once each)", id, status, count, want)
		}
	}
	t.Logf("outcomes over %d rounds: %v", rounds, outcomes)
}
