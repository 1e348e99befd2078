package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// verify checks, after a restart, every acknowledged write and the history of every resource
// written.
func verify(t *testing.T, c *client, led *ledger) {
	t.Helper()
	ctx := t.Context()
	acks, last := led.snapshot()

	jobs := make(chan ack)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for a := range jobs {
				if err := checkVRead(ctx, c, a); err != nil {
					t.Error(err)
				}
			}
		})
	}
	for _, a := range acks {
		jobs <- a
	}
	close(jobs)
	wg.Wait()

	keys := make(chan key)
	for range 8 {
		wg.Go(func() {
			for k := range keys {
				if err := checkHistory(ctx, c, k, last[k]); err != nil {
					t.Error(err)
				}
			}
		})
	}
	for k := range last {
		keys <- k
	}
	close(keys)
	wg.Wait()
}

// checkVRead reads one acknowledged version back and compares its content.
func checkVRead(ctx context.Context, c *client, a ack) error {
	path := fmt.Sprintf("%s/%s/_history/%d", a.typ, a.id, a.version)
	r, err := c.do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	if r.status != http.StatusOK {
		return fmt.Errorf("acknowledged %s lost: status %d: %.200s", path, r.status, r.body)
	}
	if !json.Valid(r.body) {
		return fmt.Errorf("%s: stored body is not valid JSON: %.200s", path, r.body)
	}
	got, err := contentHash(r.body)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if got != a.hash {
		return fmt.Errorf("%s: content differs from what was acknowledged: %.300s", path, r.body)
	}
	return nil
}

// checkHistory checks that the current version of k is at least acked and that its history
// holds exactly versions 1..current, each valid JSON.
func checkHistory(ctx context.Context, c *client, k key, acked int64) error {
	r, err := c.do(ctx, http.MethodGet, k.typ+"/"+k.id, nil)
	if err != nil {
		return err
	}
	if r.status != http.StatusOK {
		return fmt.Errorf("%s/%s: status %d after the restart", k.typ, k.id, r.status)
	}
	cur, err := strconv.ParseInt(strings.Trim(strings.TrimPrefix(r.header.Get("ETag"), "W/"), `"`), 10, 64)
	if err != nil {
		return fmt.Errorf("%s/%s: ETag %q", k.typ, k.id, r.header.Get("ETag"))
	}
	if cur < acked {
		return fmt.Errorf("%s/%s: current version %d is older than the acknowledged %d", k.typ, k.id, cur, acked)
	}
	entries, err := c.bundleEntries(ctx, k.typ+"/"+k.id+"/_history?_count=1000")
	if err != nil {
		return err
	}
	seen := make(map[int64]bool, len(entries))
	for _, e := range entries {
		res, ok := e["resource"].(map[string]any)
		if !ok {
			return fmt.Errorf("%s/%s: a history entry has no resource", k.typ, k.id)
		}
		v := versionOf(res)
		if v < 1 || v > cur || seen[v] {
			return fmt.Errorf("%s/%s: history entry of version %d (current %d, duplicate %v)", k.typ, k.id, v, cur, seen[v])
		}
		seen[v] = true
	}
	if int64(len(seen)) != cur {
		return fmt.Errorf("%s/%s: history holds %d versions, want 1..%d", k.typ, k.id, len(seen), cur)
	}
	return nil
}

// verifyAllStored reads the whole system history: every stored version of every resource
// (acknowledged or not) must be a valid resource.
func verifyAllStored(t *testing.T, c *client, acked int) {
	t.Helper()
	entries, err := c.bundleEntries(t.Context(), "_history?_count=1000")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		res, ok := e["resource"].(map[string]any)
		if !ok || res["resourceType"] == nil || versionOf(res) < 1 {
			t.Errorf("a stored version is not a valid resource: %v", e)
		}
	}
	if len(entries) < acked {
		t.Errorf("the system history holds %d versions, fewer than the %d acknowledged", len(entries), acked)
	}
	t.Logf("%d versions stored, %d acknowledged", len(entries), acked)
}

// resync sets each writer's known versions to the current ones after a restart: writes that
// were in flight at the kill may have been committed without an answer.
func resync(t *testing.T, c *client, owners []*owned) {
	t.Helper()
	for _, o := range owners {
		for k := range o.versions {
			r, err := c.do(t.Context(), http.MethodGet, k.typ+"/"+k.id, nil)
			if err != nil || r.status != http.StatusOK {
				t.Fatalf("%s/%s after the restart: %v %d", k.typ, k.id, err, r.status)
			}
			v, err := strconv.ParseInt(strings.Trim(strings.TrimPrefix(r.header.Get("ETag"), "W/"), `"`), 10, 64)
			if err != nil {
				t.Fatalf("%s/%s: ETag %q", k.typ, k.id, r.header.Get("ETag"))
			}
			o.versions[k] = v
		}
	}
}
