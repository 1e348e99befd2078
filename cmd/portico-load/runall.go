package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/portico-health/portico/server"
	"github.com/portico-health/portico/store/sqlite"
)

// report is everything a run measured.
type report struct {
	rows                                  []*result
	memory, combined, porticoRead, create *result
	tx, searchRate                        *result
	searchLatency                         []*result
	searchShape                           searchShape
	mem                                   []memPoint
	memWhat                               string
	stopErr                               error
	dbBytes                               int64
	preloaded                             int // resources stored by the preload
}

// memPoint is the server's memory at the end of a phase, and its largest sample during it.
type memPoint struct {
	when    string
	m, peak memStatus
}

func (rep *report) add(r *result) *result {
	rep.rows = append(rep.rows, r)
	logf("%-48s %10.0f %s  p50 %-8s p99 %-8s %s", r.phase, r.rate(), r.unit, fmtDur(r.p50()), fmtDur(r.p99()), r.notes)
	return r
}

// asClient runs f with the profiler label side=client, which the goroutines it starts inherit.
func asClient(ctx context.Context, f func(ctx context.Context)) {
	pprof.Do(ctx, pprof.Labels("side", "client"), f)
}

// runAll runs the selected phases in order and returns what they measured, also when a phase
// failed part way.
func runAll(ctx context.Context, o *options) (*report, error) {
	work := o.dataDir
	if work == "" {
		tmp, err := os.MkdirTemp("", "portico-load-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		work = tmp
	} else if err := os.MkdirAll(work, 0o750); err != nil {
		return nil, err
	}
	dataDir := filepath.Join(work, "portico")
	storeDir := dataDir // where the embedded store keeps its database
	if rest, ok := strings.CutPrefix(o.store, "sqlite:"); ok && rest != "" {
		storeDir = rest
	}
	dbPath := filepath.Join(storeDir, sqlite.DatabaseFile)
	if _, err := os.Stat(dbPath); err == nil {
		return nil, fmt.Errorf("%s already holds a database: the preload needs a new one", dbPath)
	}
	embedded := o.store == "" || o.store == "sqlite" || strings.HasPrefix(o.store, "sqlite:")

	fx, err := loadFixtures(o.repo)
	if err != nil {
		return nil, err
	}
	obs, err := createWrite("Observation", uuid.NewString(), fx.observation(uuid.NewString(), 1))
	if err != nil {
		return nil, err
	}
	pat, err := createWrite("Patient", uuid.NewString(), fx.patient(1))
	if err != nil {
		return nil, err
	}
	rep := &report{}

	if o.phases["json"] {
		asClient(ctx, func(ctx context.Context) {
			for _, j := range []struct {
				name string
				body []byte
				newV func() any
			}{{"Observation", obs.Body, newObservation}, {"Patient", pat.Body, newPatient}} {
				a := sampleCPU()
				r := jsonPhase(ctx, o, j.name, j.body, j.newV)
				r.notes += otherLoad(a, sampleCPU())
				rep.add(r)
			}
		})
	}
	if !embedded && (o.phases["sqlite"] || o.phases["echo-sqlite"]) {
		logf("skipping the SQLite ceilings: --store %q is not the embedded store", o.store)
	}
	if o.phases["sqlite"] && embedded {
		logf("SQLite ceiling: preloading %d rows, then %v of inserts and %v of reads", o.preload, o.duration, o.duration)
		dir := filepath.Join(work, "ceiling")
		a := sampleCPU()
		rows, err := sqlitePhases(ctx, o, dir, obs.Body, len(obs.Index))
		_ = os.RemoveAll(dir)
		if err != nil {
			return rep, fmt.Errorf("sqlite ceiling: %w", err)
		}
		load := otherLoad(a, sampleCPU())
		for _, r := range rows {
			r.notes += load + " (whole helper run)"
			rep.add(r)
		}
	}

	needPortico := o.phases["read"] || o.phases["create"] || o.phases["update"] || o.phases["transaction"]
	var bin string
	if (needPortico || o.phases["search"]) && (o.server == "binary" || o.auth == "smart") {
		logf("building portico from %s", o.repo)
		if bin, err = buildPortico(ctx, o.repo, filepath.Join(work, "bin")); err != nil {
			return rep, err
		}
	}
	ds := &dataset{observations: []string{"example"}}
	if needPortico || o.phases["echo-sqlite"] {
		cfg := server.Defaults()
		cfg.DataDir, cfg.Store = dataDir, o.store
		logf("preloading %d resources through store.Write", o.preload)
		t0, a := time.Now(), sampleCPU()
		if ds, err = preload(ctx, cfg, fx, o.preload, o.preloadTimeout); err != nil {
			return rep, err
		}
		el := time.Since(t0)
		rep.preloaded = ds.size()
		if ds.size() < o.preload {
			logf("preload stopped after %v: %d of %d resources stored", o.preloadTimeout, ds.size(), o.preload)
		}
		rep.dbBytes = fileSize(dbPath) + fileSize(dbPath+"-wal")
		rep.add(&result{phase: "preload (store.Write, 500 per call)", unit: "res/s", fixedRate: float64(ds.size()) / el.Seconds(),
			notes: fmt.Sprintf("%d Patients + %d Observations in %v; database %.0f MB",
				len(ds.patients), len(ds.observations), el.Round(time.Millisecond), float64(rep.dbBytes)/1e6) +
				otherLoad(a, sampleCPU())})
	}

	if o.phases["echo"] {
		bodyFile := filepath.Join(work, "body.json")
		if err := os.WriteFile(bodyFile, obs.Body, 0o600); err != nil {
			return rep, err
		}
		r, err := ceilingRead(ctx, o, "memory", obs.Body, bodyFile, "", ds.observations,
			"ceiling: bare Echo, stored body from memory")
		if err != nil {
			return rep, err
		}
		rep.memory = rep.add(r)
	}
	if o.phases["echo-sqlite"] && embedded {
		r, err := ceilingRead(ctx, o, "sqlite", nil, "", storeDir, ds.observations,
			"ceiling: combined, bare Echo + raw SQLite read")
		if err != nil {
			return rep, err
		}
		rep.combined = rep.add(r)
	}
	if needPortico {
		if err := porticoPhases(ctx, o, rep, fx, ds, bin, dataDir, filepath.Join(work, "portico.log")); err != nil {
			return rep, err
		}
	}
	if o.phases["search"] {
		if !embedded {
			logf("the search phase builds its own embedded database; --store %q is not used for it", o.store)
		}
		return rep, searchPhases(ctx, o, rep, fx, bin, work)
	}
	return rep, nil
}

// ceilingRead starts a ceiling server, runs the read phase against it and stops it.
func ceilingRead(ctx context.Context, o *options, mode string, body []byte, bodyFile, dataDir string, ids []string, name string) (*result, error) {
	t, err := startCeiling(ctx, o, mode, body, bodyFile, dataDir)
	if err != nil {
		return nil, err
	}
	if err := requireLoopback(t.base); err != nil {
		return nil, err
	}
	var r *result
	a := sampleCPU(t.pid)
	asClient(ctx, func(ctx context.Context) { r = readPhase(ctx, o, name, t, ids) })
	r.notes += otherLoad(a, sampleCPU(t.pid))
	if err := t.stop(); err != nil {
		r.notes += fmt.Sprintf("; stop: %v", err)
	}
	return r, nil
}

func fileSize(path string) int64 {
	if fi, err := os.Stat(path); err == nil {
		return fi.Size()
	}
	return 0
}
