package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/portico-health/portico/store/sqlite"
)

// searchKind is one of the two searches of issue 3's target.
type searchKind int

const (
	searchObservations   searchKind = iota // Observation?patient=X&code=Y&_sort=-date&_count=20
	searchCommunications                   // Communication?recipient=X&status=in-progress&_sort=priority,sent
)

func (k searchKind) String() string {
	if k == searchObservations {
		return "Observation?patient=X&code=Y&_sort=-date&_count=20"
	}
	return "Communication?recipient=X&status=in-progress&_sort=priority,sent"
}

// searchPick is one search's random arguments: a patient, and for Observations a code (the
// common one half of the time).
type searchPick struct {
	kind    searchKind
	patient string
	code    string
}

func pick(k searchKind, shape searchShape) searchPick {
	p := searchPick{kind: k, patient: searchPatientID(rand.IntN(shape.Patients))}
	if k == searchObservations {
		p.code = searchCode(rand.IntN(shape.Observations))
	}
	return p
}

func (p searchPick) url(base string) string {
	if p.kind == searchObservations {
		return base + "/fhir/Observation?patient=Patient/" + p.patient + "&code=" + url.QueryEscape("http://loinc.org|"+p.code) +
			"&_sort=-date&_count=20"
	}
	return base + "/fhir/Communication?recipient=Patient/" + p.patient + "&status=in-progress&_sort=priority,sent&_count=20"
}

// searchPhases measures the two searches on the search dataset: the raw SQLite ceiling, then
// Portico over HTTP, each with one client per search (latency) and with o.writers clients
// alternating them (throughput).
func searchPhases(ctx context.Context, o *options, rep *report, fx *fixtures, bin, work string) error {
	o = withEmbeddedStore(o) // the dataset is an embedded database whatever --store says
	dir := o.searchDir
	if dir == "" {
		dir = filepath.Join(work, "search")
	}
	shape, err := searchDataset(ctx, o, fx, dir, rep)
	if err != nil {
		return err
	}
	rep.searchShape = shape
	if err := warmPageCache(filepath.Join(dir, sqlite.DatabaseFile)); err != nil {
		return err
	}

	// Ceiling: the hand-written SQL of each search, on Portico's own database file.
	raw, err := sqlite.OpenRawSearcher(ctx, dir, 0)
	if err != nil {
		return err
	}
	var rawMatches atomic.Int64
	rawOp := func(k searchKind) func(int, int) error {
		return func(int, int) error {
			p := pick(k, shape)
			var b [][]byte
			var err error
			if k == searchObservations {
				b, err = raw.Observations(ctx, p.patient, "http://loinc.org", p.code, 20)
			} else {
				b, err = raw.Communications(ctx, p.patient, "in-progress", 20)
			}
			rawMatches.Add(int64(len(b)))
			return err
		}
	}
	for _, k := range []searchKind{searchObservations, searchCommunications} {
		rawMatches.Store(0)
		a := sampleCPU()
		r := run(ctx, 1, o.warmup, o.duration, rawOp(k))
		r.phase, r.unit = "ceiling: raw SQLite "+k.String(), "ops/s"
		r.notes = "hand-written SQL, 1 goroutine" + matchesPer(rawMatches.Load(), r) + r.describeErrors() + otherLoad(a, sampleCPU())
		rep.add(r)
	}
	{
		rawMatches.Store(0)
		a := sampleCPU()
		obs, com := rawOp(searchObservations), rawOp(searchCommunications)
		r := run(ctx, o.writers, o.warmup, o.duration, func(w, i int) error {
			if (w+i)%2 == 0 {
				return obs(w, i)
			}
			return com(w, i)
		})
		r.phase, r.unit = "ceiling: raw SQLite, both searches alternating", "ops/s"
		r.notes = fmt.Sprintf("%d goroutines", o.writers) + matchesPer(rawMatches.Load(), r) + r.describeErrors() + otherLoad(a, sampleCPU())
		rep.add(r)
	}
	if err := raw.Close(); err != nil {
		return err
	}

	// Portico over HTTP, with its real configuration, on the same database.
	var app appCredentials
	if o.auth == "smart" {
		if app, err = registerApp(ctx, bin, o, dir); err != nil {
			return err
		}
	}
	t, err := startPortico(ctx, o, bin, dir, filepath.Join(work, "portico-search.log"))
	if err != nil {
		return err
	}
	if err := requireLoopback(t.base); err != nil {
		_ = t.stop()
		return err
	}
	defer func() {
		if err := t.stop(); err != nil && rep.stopErr == nil {
			rep.stopErr = err
		}
	}()
	if o.auth == "smart" {
		if t.bearer, err = app.token(ctx, t.base); err != nil {
			return err
		}
	}
	var matches atomic.Int64
	httpOp := func(ws []*worker, k searchKind) func(int, int) error {
		return func(w, _ int) error {
			if _, err := ws[w].do(ctx, http.MethodGet, pick(k, shape).url(t.base), nil, nil, http.StatusOK); err != nil {
				return err
			}
			matches.Add(int64(bytes.Count(ws[w].buf.Bytes(), []byte(`"search":{"mode":"match"`))))
			return nil
		}
	}
	for _, k := range []searchKind{searchObservations, searchCommunications} {
		c := newClient(1)
		ws := newWorkers(c, 1, t.bearer)
		matches.Store(0)
		a := sampleCPU(t.pid)
		r := run(ctx, 1, o.warmup, o.duration, httpOp(ws, k))
		c.CloseIdleConnections()
		r.phase, r.unit = "Portico search "+k.String(), "req/s"
		r.notes = "1 client" + matchesPer(matches.Load(), r) + r.describeErrors() + otherLoad(a, sampleCPU(t.pid))
		rep.add(r)
		rep.searchLatency = append(rep.searchLatency, r)
	}
	c := newClient(o.writers)
	defer c.CloseIdleConnections()
	ws := newWorkers(c, o.writers, t.bearer)
	obs, com := httpOp(ws, searchObservations), httpOp(ws, searchCommunications)
	matches.Store(0)
	a := sampleCPU(t.pid)
	r := run(ctx, o.writers, o.warmup, o.duration, func(w, i int) error {
		if (w+i)%2 == 0 {
			return obs(w, i)
		}
		return com(w, i)
	})
	r.phase, r.unit = "Portico search, both searches alternating", "req/s"
	r.notes = fmt.Sprintf("%d clients", o.writers) + matchesPer(matches.Load(), r) + r.describeErrors() + otherLoad(a, sampleCPU(t.pid))
	rep.searchRate = rep.add(r)
	return nil
}

// warmPageCache reads the database file once, so that the searches are measured in the steady
// state of a server that has been running (its database in the OS page cache; this machine
// has 24 GiB for a 5.8 GB file) rather than against a disk whose cache the previous phases
// evicted: cold, the same searches were three to ten times slower.
func warmPageCache(path string) error {
	t0 := time.Now()
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.Copy(io.Discard, f)
	logf("search dataset: read %d MB into the page cache in %v", n>>20, time.Since(t0).Round(time.Millisecond))
	return err
}

func withEmbeddedStore(o *options) *options {
	c := *o
	c.store = ""
	return &c
}

// matchesPer notes the average number of matches per search: the searches must find
// something for the figures to mean anything.
func matchesPer(n int64, r *result) string {
	ops := r.ops + r.warmOps
	if ops == 0 {
		return ""
	}
	return fmt.Sprintf(", %.1f matches per search", float64(n)/float64(ops))
}
