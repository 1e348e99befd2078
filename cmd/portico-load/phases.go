package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/portico-health/portico/fhir/r4"
	"github.com/portico-health/portico/store/sqlite"
)

// jsonPhase is ceiling (i): decode body into a fresh typed struct and encode it again with
// encoding/json, on one goroutine (ops/s per core).
func jsonPhase(ctx context.Context, o *options, name string, body []byte, newV func() any) *result {
	op := func(int, int) error {
		v := newV()
		if err := json.Unmarshal(body, v); err != nil {
			return err
		}
		_, err := json.Marshal(v)
		return err
	}
	r := run(ctx, 1, o.warmup, o.duration, op)
	r.phase, r.unit = "ceiling: JSON decode+encode "+name+" (r4 struct)", "ops/s"
	r.notes = fmt.Sprintf("encoding/json, 1 goroutine, %d-byte stored body", len(body)) + r.describeErrors()
	return r
}

func newObservation() any { return new(r4.Observation) }
func newPatient() any     { return new(r4.Patient) }

// sqlitePhases is ceiling (ii): the store's own Ceiling helper on a new database in dir,
// preloaded with n copies of the stored Observation body, with the index rows per resource
// that Portico writes for it, the synchronous setting Portico opens with (FULL) and its read
// pool size (GOMAXPROCS).
func sqlitePhases(ctx context.Context, o *options, dir string, body []byte, indexRows int) ([]*result, error) {
	rows := indexRows
	if rows == 0 {
		rows = -1 // the helper reads 0 as "the default, 6"
	}
	cc := sqlite.CeilingConfig{Dir: dir, Sync: "full", Preload: o.preload, IndexRows: rows, Body: body, Duration: o.duration}
	if o.phases["transaction"] {
		cc.Batch = txEntries
	}
	res, err := sqlite.Ceiling(ctx, cc)
	if err != nil {
		return nil, err
	}
	ins := &result{phase: "ceiling: raw SQLite insert, 1 commit each", unit: "ops/s",
		fixedRate: res.Insert.PerSec, fixedP50: res.Insert.P50, fixedP99: res.Insert.P99,
		notes: fmt.Sprintf("1 version + %d index rows per commit, sync=FULL, 1 writer, %d rows preloaded, %s",
			indexRows, o.preload, res.Driver)}
	rd := &result{phase: "ceiling: raw SQLite point read", unit: "ops/s",
		fixedRate: res.Read.PerSec, fixedP50: res.Read.P50, fixedP99: res.Read.P99,
		notes: fmt.Sprintf("by (type, id) at random over %d rows, GOMAXPROCS readers", o.preload)}
	out := []*result{ins}
	if cc.Batch > 1 {
		out = append(out, &result{phase: fmt.Sprintf("ceiling: raw SQLite insert, %d per commit", cc.Batch), unit: "res/s",
			fixedRate: res.InsertBatch.PerSec, fixedP50: res.InsertBatch.P50, fixedP99: res.InsertBatch.P99,
			notes: fmt.Sprintf("the transaction phase's ceiling: %d versions + %d index rows each per commit (latency per commit), sync=FULL, 1 writer",
				cc.Batch, indexRows)})
	}
	return append(out, rd), nil
}

// readPhase reads Observations by id at random over ids from conns connections.
func readPhase(ctx context.Context, o *options, name string, t *target, ids []string) *result {
	c := newClient(o.conns)
	defer c.CloseIdleConnections()
	ws := newWorkers(c, o.conns, t.bearer)
	r := run(ctx, o.conns, o.warmup, o.duration, func(w, _ int) error {
		_, err := ws[w].do(ctx, http.MethodGet, t.base+"/fhir/Observation/"+ids[rand.IntN(len(ids))], nil, nil, http.StatusOK)
		return err
	})
	r.phase, r.unit = name, "req/s"
	r.notes = fmt.Sprintf("GET Observation by id, %d connections", o.conns) + r.describeErrors()
	return r
}

// bodyVariants is how many different bodies each writer cycles through.
const bodyVariants = 64

// createPhase POSTs Observations about the preloaded Patients from o.writers clients.
func createPhase(ctx context.Context, o *options, fx *fixtures, t *target, ds *dataset) *result {
	bodies := make([][][]byte, o.writers)
	for w := range bodies {
		for k := range bodyVariants {
			n := 50_000_000 + w*bodyVariants + k
			// New results are recent: dated within the last day, as a lab feed or a patient's
			// device sends them (the preload holds ten years of history).
			recent := time.Now().UTC().Add(-time.Duration(rand.IntN(24*60)) * time.Minute).Format(time.RFC3339)
			bodies[w] = append(bodies[w], fx.observationAt(ds.patients[rand.IntN(len(ds.patients))], n, recent))
		}
	}
	c := newClient(o.writers)
	defer c.CloseIdleConnections()
	ws := newWorkers(c, o.writers, t.bearer)
	r := run(ctx, o.writers, o.warmup, o.duration, func(w, i int) error {
		_, err := ws[w].do(ctx, http.MethodPost, t.base+"/fhir/Observation", bodies[w][i%bodyVariants], nil, http.StatusCreated)
		return err
	})
	r.phase, r.unit = "Portico create (POST Observation)", "req/s"
	r.notes = fmt.Sprintf("%d clients", o.writers) + r.describeErrors()
	return r
}

// updatePhase PUTs preloaded Observations with If-Match from o.writers clients, each on
// resources of its own, so that no update conflicts.
func updatePhase(ctx context.Context, o *options, fx *fixtures, t *target, ds *dataset) (*result, error) {
	per := min(256, len(ds.observations)/o.writers)
	if per == 0 {
		return nil, fmt.Errorf("update: %d Observations preloaded, fewer than the %d writers", len(ds.observations), o.writers)
	}
	type owned struct {
		url     string
		body    []byte
		version int64
	}
	own := make([][]owned, o.writers)
	for w := range own {
		for k := range per {
			id := ds.observations[w*per+k]
			body, err := withID(fx.observation(ds.patients[(w*per+k)%len(ds.patients)], 60_000_000+w*per+k), id)
			if err != nil {
				return nil, err
			}
			own[w] = append(own[w], owned{url: t.base + "/fhir/Observation/" + id, body: body, version: 1})
		}
	}
	c := newClient(o.writers)
	defer c.CloseIdleConnections()
	ws := newWorkers(c, o.writers, t.bearer)
	r := run(ctx, o.writers, o.warmup, o.duration, func(w, i int) error {
		res := &own[w][i%per]
		h, err := ws[w].do(ctx, http.MethodPut, res.url, res.body,
			map[string]string{"If-Match": `W/"` + strconv.FormatInt(res.version, 10) + `"`}, http.StatusOK)
		if err != nil {
			return err
		}
		v, err := strconv.ParseInt(strings.Trim(strings.TrimPrefix(h.Get("ETag"), "W/"), `"`), 10, 64)
		if err != nil {
			return fmt.Errorf("update: ETag %q: %w", h.Get("ETag"), err)
		}
		res.version = v
		return nil
	})
	r.phase, r.unit = "Portico update (PUT Observation, If-Match)", "req/s"
	r.notes = fmt.Sprintf("%d clients, %d resources each", o.writers, per) + r.describeErrors()
	return r, nil
}
