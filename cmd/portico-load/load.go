package main

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// result is one measured phase: operations completed in the measured window, their latency
// histogram and the errors met.
type result struct {
	phase    string
	unit     string // "req/s" or "ops/s"
	ops      uint64 // operations completed in the measured window
	warmOps  uint64 // operations completed during the warm-up
	errs     uint64
	firstErr error
	window   time.Duration
	lat      hist
	notes    string

	// scale multiplies ops in the rate: resources per transaction Bundle (0 means 1).
	scale float64

	// For rates measured elsewhere (the store's ceiling helper).
	fixedRate          float64
	fixedP50, fixedP99 time.Duration
}

func (r *result) rate() float64 {
	if r.fixedRate > 0 {
		return r.fixedRate
	}
	if r.window <= 0 {
		return 0
	}
	return float64(r.ops) * max(r.scale, 1) / r.window.Seconds()
}

func (r *result) p50() time.Duration {
	if r.fixedRate > 0 {
		return r.fixedP50
	}
	return r.lat.quantile(0.50)
}

func (r *result) p99() time.Duration {
	if r.fixedRate > 0 {
		return r.fixedP99
	}
	return r.lat.quantile(0.99)
}

// run calls op from workers goroutines, first for warmup without recording, then for d,
// recording the latency of every operation started in that window. It stops by itself when
// the window ends (or ctx ends) and never runs longer than warmup + d plus one operation.
func run(ctx context.Context, workers int, warmup, d time.Duration, op func(worker, i int) error) *result {
	start := time.Now()
	from, end := start.Add(warmup), start.Add(warmup+d)
	hists := make([]hist, workers)
	ops, warm := make([]uint64, workers), make([]uint64, workers)
	errs := make([]uint64, workers)
	firstErrs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				t0 := time.Now()
				if !t0.Before(end) {
					return
				}
				err := op(w, i)
				if t0.Before(from) {
					if err == nil {
						warm[w]++
					}
					continue
				}
				if err != nil {
					errs[w]++
					if firstErrs[w] == nil {
						firstErrs[w] = err
					}
					continue
				}
				hists[w].record(time.Since(t0))
				ops[w]++
			}
		})
	}
	wg.Wait()
	r := &result{window: min(time.Since(from), d)}
	if ctx.Err() != nil {
		r.firstErr = ctx.Err()
	}
	for w := range workers {
		r.lat.merge(&hists[w])
		r.ops += ops[w]
		r.warmOps += warm[w]
		r.errs += errs[w]
		if r.firstErr == nil {
			r.firstErr = firstErrs[w]
		}
	}
	return r
}

// describeErrors is the notes suffix of a phase that met errors.
func (r *result) describeErrors() string {
	if r.errs == 0 && r.firstErr == nil {
		return ""
	}
	return fmt.Sprintf("; %d errors, first: %v", r.errs, r.firstErr)
}
