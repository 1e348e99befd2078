package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/portico-health/portico/server"
)

// The benchmarks measure create, read and update over real HTTP on loopback, with Portico in
// process (server.New behind httptest.NewServer; the request log discarded), on a store that
// holds only what the benchmark wrote. b.N drives them; each runs GOMAXPROCS×4 client
// goroutines. cmd/portico-load measures the same on a preloaded store, with Portico in a
// process of its own, beside the ceilings.
//
//	go test -run '^$' -bench . -benchtime 2s ./e2e

// benchServer starts Portico in process on a new data directory.
func benchServer(b *testing.B) (*client, map[string]any) {
	b.Helper()
	cfg := server.Defaults()
	cfg.DataDir = b.TempDir()
	cfg.Auth = server.AuthNone // a benchmark of the FHIR API, not of authorization
	srv, err := server.New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	b.Cleanup(func() {
		hs.Close()
		_ = srv.Close()
	})
	c := newClient(hs.URL + "/fhir")
	c.hc.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
	return c, example(b, "observation-lab.json")
}

// marshal encodes a JSON value or fails the benchmark.
func marshal(b *testing.B, v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// seed creates n Observations and returns their ids.
func seed(b *testing.B, c *client, body []byte, n int) []string {
	b.Helper()
	ids := make([]string, n)
	for i := range ids {
		r, err := c.do(b.Context(), http.MethodPost, "Observation", body)
		if err != nil || r.status != http.StatusCreated {
			b.Fatalf("seed: %v %d", err, r.status)
		}
		if ids[i], _, err = written(r); err != nil {
			b.Fatal(err)
		}
	}
	return ids
}

func BenchmarkCreate(b *testing.B) {
	c, obs := benchServer(b)
	body := marshal(b, obs)
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r, err := c.do(b.Context(), http.MethodPost, "Observation", body)
			if err != nil || r.status != http.StatusCreated {
				b.Errorf("create: %v %d", err, r.status)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
}

func BenchmarkRead(b *testing.B) {
	c, obs := benchServer(b)
	ids := seed(b, c, marshal(b, obs), 1000)
	var next atomic.Int64
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := ids[int(next.Add(1))%len(ids)]
			r, err := c.do(b.Context(), http.MethodGet, "Observation/"+id, nil)
			if err != nil || r.status != http.StatusOK {
				b.Errorf("read: %v %d", err, r.status)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reads/s")
}

// BenchmarkUpdate gives each client goroutine a resource of its own, updated with If-Match.
func BenchmarkUpdate(b *testing.B) {
	c, obs := benchServer(b)
	const parallelism = 4
	ids := seed(b, c, marshal(b, obs), parallelism*runtime.GOMAXPROCS(0))
	var next atomic.Int64
	b.SetParallelism(parallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		id := ids[next.Add(1)-1]
		m := clone(b, obs)
		m["id"] = id
		body := marshal(b, m)
		path := "Observation/" + id
		for v := int64(1); pb.Next(); v++ {
			r, err := c.do(b.Context(), http.MethodPut, path, body, "If-Match", fmt.Sprintf(`W/"%d"`, v))
			if err != nil || r.status != http.StatusOK {
				b.Errorf("update: %v %d: %s", err, r.status, strings.TrimSpace(string(r.body)))
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "updates/s")
}
