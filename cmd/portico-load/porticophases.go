package main

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
)

// porticoPhases starts Portico and runs the read, create and update phases against it.
func porticoPhases(ctx context.Context, o *options, rep *report, fx *fixtures, ds *dataset, bin, dataDir, logFile string) (err error) {
	var app appCredentials
	if o.auth == "smart" {
		if app, err = registerApp(ctx, bin, o, dataDir); err != nil {
			return err
		}
	}
	logf("starting Portico (%s, --auth %s) on %s", o.server, o.auth, dataDir)
	t, err := startPortico(ctx, o, bin, dataDir, logFile)
	if err != nil {
		return err
	}
	if err := requireLoopback(t.base); err != nil {
		_ = t.stop()
		return err
	}
	rep.memWhat = "the `portico serve` child process alone"
	if o.server == "inproc" {
		rep.memWhat = "this whole process: Portico in-process AND the load generator"
	}
	watch := watchMem(t.pid)
	mem := func(when string) {
		peak := watch.peak()
		if m, err := readMem(t.pid); err == nil {
			rep.mem = append(rep.mem, memPoint{when, m, peak})
			logf("server memory %s: %v; largest sample %v", when, m, peak)
		}
		watch = watchMem(t.pid)
	}
	mem("started")
	defer func() { watch.peak() }()
	defer func() { rep.stopErr = t.stop() }()

	// phase runs one client phase, labelled side=client, profiled into
	// <cpuprofile>-<name>.pprof when asked, and notes the other load meanwhile.
	phase := func(name string, f func(ctx context.Context) *result) *result {
		if o.auth == "smart" { // a fresh token: they live five minutes
			var err error
			if t.bearer, err = app.token(ctx, t.base); err != nil {
				return &result{phase: "Portico " + name, notes: "no token: " + err.Error()}
			}
		}
		stopProfile, err := startProfile(o.cpuprofile, name)
		if err != nil {
			logf("no CPU profile: %v", err)
			stopProfile = func() error { return nil }
		}
		a, io := sampleCPU(t.pid), sampleIO(t.pid)
		var r *result
		asClient(ctx, func(ctx context.Context) { r = f(ctx) })
		if err := stopProfile(); err != nil {
			logf("CPU profile: %v", err)
		}
		if r != nil {
			if name != "read" {
				r.notes += ioPerOp(io, sampleIO(t.pid), r.ops+r.warmOps)
			}
			r.notes += otherLoad(a, sampleCPU(t.pid))
			rep.add(r)
		}
		return r
	}
	if o.phases["read"] {
		rep.porticoRead = phase("read", func(ctx context.Context) *result {
			return readPhase(ctx, o, "Portico read (GET Observation/id)", t, ds.observations)
		})
		mem("after read")
	}
	if o.phases["create"] {
		rep.create = phase("create", func(ctx context.Context) *result {
			r := createPhase(ctx, o, fx, t, ds)
			r.notes += fmt.Sprintf("; store of %d resources before", rep.preloaded)
			return r
		})
		mem("after create")
	}
	if o.phases["update"] {
		phase("update", func(ctx context.Context) *result {
			var r *result
			r, err = updatePhase(ctx, o, fx, t, ds)
			return r
		})
		if err != nil {
			return err
		}
		mem("after update")
	}
	if o.phases["transaction"] {
		rep.tx = phase("transaction", func(ctx context.Context) *result { return txPhase(ctx, o, fx, t) })
		mem("after transaction")
	}
	return nil
}

// startProfile starts a CPU profile into prefix-phase.pprof (prefix "" profiles nothing) and
// returns its stop.
func startProfile(prefix, phase string) (func() error, error) {
	if prefix == "" {
		return func() error { return nil }, nil
	}
	f, err := os.Create(prefix + "-" + phase + ".pprof")
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		return nil, err
	}
	return func() error { pprof.StopCPUProfile(); return f.Close() }, nil
}
