package sqlite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"time"
)

// CeilingConfig configures Ceiling. The zero value of every field but Dir picks a default.
type CeilingConfig struct {
	Dir       string        // a directory without a Portico database; Ceiling creates one there
	Sync      string        // as Config.Sync: "full" (default) and "strict" fsync in every COMMIT; "normal" does not
	Preload   int           // resources stored before the read phase; default 100,000
	IndexRows int           // token rows per inserted resource; default 6
	Body      []byte        // resource body; default a 1.6 KB JSON object
	Writers   int           // goroutines inserting; default 1 (SQLite has one writer anyway)
	Batch     int           // when > 1, also measure inserts of Batch resources per commit (InsertBatch)
	Readers   int           // goroutines reading, and read pool size; default GOMAXPROCS
	Duration  time.Duration // length of each measured phase; default 2s
}

// CeilingResult is what Ceiling measured.
type CeilingResult struct {
	Driver string // DriverName
	Insert Rate   // one resource with IndexRows index rows per transaction and commit
	// InsertBatch is Batch resources per transaction and commit (when CeilingConfig.Batch > 1);
	// PerSec counts resources, the latencies are per commit.
	InsertBatch Rate
	Read        Rate // one body by (type, id), at random over the preloaded resources
}

// Rate is one measured phase.
type Rate struct {
	Ops      int
	PerSec   float64
	P50, P99 time.Duration
}

func (r Rate) String() string {
	return fmt.Sprintf("%.0f/s (p50 %v, p99 %v, %d ops)", r.PerSec, r.P50, r.P99, r.Ops)
}

// Ceiling measures the physical ceiling of this backend on this machine: raw inserts and raw
// point reads on the store's own schema, file settings and driver, with none of Portico's logic
// (no version check, no group commit, no JSON, no HTTP). A load tool reports Portico's rates
// beside these to show what the layers above the database cost. It takes about 2×Duration plus
// the preload (a few seconds for 100,000 resources) and leaves the database in cfg.Dir.
func Ceiling(ctx context.Context, cfg CeilingConfig) (res CeilingResult, err error) {
	cfg = cfg.withDefaults()
	sc, err := Config{Dir: cfg.Dir, Sync: cfg.Sync}.withDefaults() // the store's own checks
	if err != nil {
		return CeilingResult{}, err
	}
	db, err := openRaw(ctx, sc.Dir, sc.Sync, cfg.Readers)
	if err != nil {
		return CeilingResult{}, err
	}
	defer func() { err = errors.Join(err, db.close()) }()

	const batch = 1000 // preload rows per transaction: bulk speed, bounded memory
	ids := make([]string, 0, batch)
	for i := 0; i < cfg.Preload; i++ {
		ids = append(ids, preloadID(i))
		if len(ids) == batch || i == cfg.Preload-1 {
			if err := db.insert(ctx, "Observation", ids, cfg.Body, cfg.IndexRows); err != nil {
				return CeilingResult{}, err
			}
			ids = ids[:0]
		}
	}

	res.Driver = DriverName
	res.Insert, err = measure(ctx, cfg.Writers, cfg.Duration, func(worker, i int) error {
		return db.insert(ctx, "Observation", []string{fmt.Sprintf("w%d-%d", worker, i)}, cfg.Body, cfg.IndexRows)
	})
	if err != nil {
		return res, err
	}
	if cfg.Batch > 1 {
		res.InsertBatch, err = measure(ctx, cfg.Writers, cfg.Duration, func(worker, i int) error {
			ids := make([]string, cfg.Batch)
			for k := range ids {
				ids[k] = fmt.Sprintf("b%d-%d-%d", worker, i, k)
			}
			return db.insert(ctx, "Observation", ids, cfg.Body, cfg.IndexRows)
		})
		if err != nil {
			return res, err
		}
		res.InsertBatch.PerSec *= float64(cfg.Batch)
	}
	res.Read, err = measure(ctx, cfg.Readers, cfg.Duration, func(int, int) error {
		_, err := db.Body(ctx, "Observation", preloadID(rand.IntN(cfg.Preload)))
		return err
	})
	return res, err
}

func (c CeilingConfig) withDefaults() CeilingConfig {
	if c.Preload <= 0 {
		c.Preload = 100_000
	}
	if c.IndexRows < 0 {
		c.IndexRows = 0
	} else if c.IndexRows == 0 {
		c.IndexRows = 6
	}
	if c.Body == nil {
		c.Body = []byte(`{"resourceType":"Observation","status":"final","note":"` +
			string(bytes.Repeat([]byte("x"), 1550)) + `"}`)
	}
	c.Writers = max(c.Writers, 1)
	if c.Readers <= 0 {
		c.Readers = runtime.GOMAXPROCS(0)
	}
	if c.Duration <= 0 {
		c.Duration = 2 * time.Second
	}
	return c
}

func preloadID(i int) string { return fmt.Sprintf("pre-%07d", i) }

// measure runs op from workers goroutines for d and returns the rate and latencies.
func measure(ctx context.Context, workers int, d time.Duration, op func(worker, i int) error) (Rate, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	lat := make([][]time.Duration, workers)
	errs := make([]error, workers)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				t := time.Now()
				if err := op(w, i); err != nil {
					errs[w] = err
					return
				}
				lat[w] = append(lat[w], time.Since(t))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return Rate{}, err
	}
	all := slices.Concat(lat...)
	if len(all) == 0 {
		return Rate{}, errors.New("sqlite: ceiling: no operation completed")
	}
	slices.Sort(all)
	return Rate{Ops: len(all), PerSec: float64(len(all)) / elapsed.Seconds(),
		P50: all[len(all)/2], P99: all[len(all)*99/100]}, nil
}
