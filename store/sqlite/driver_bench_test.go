//go:build unix

package sqlite

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The driver benchmarks compare SQLite drivers on the store's schema without Portico's logic.
// Run them once per driver and compare (docs/store.md has the figures and the decision):
//
//	go test -run '^$' -bench Driver ./store/sqlite
//	go test -tags portico_mattn -run '^$' -bench Driver ./store/sqlite

const driverBenchRows = 100_000

// cpuTime is the CPU time this process has used. Reported per operation beside wall time, it
// stays meaningful on a machine shared with other work, where wall time does not.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// report adds the rate and the CPU time per operation since cpu0.
func report(b *testing.B, cpu0 time.Duration, unit string) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), unit)
	b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}

// rawFixture returns a new database of rows resources (1.6 KB bodies, 2 index rows each).
func rawFixture(b *testing.B, rows int) *rawDB {
	b.Helper()
	db, err := openRaw(b.Context(), b.TempDir(), "normal", 8)
	if err != nil {
		b.Fatalf("openRaw: %v", err)
	}
	b.Cleanup(func() { _ = db.close() })
	body := CeilingConfig{}.withDefaults().Body
	start := time.Now()
	ids := make([]string, 0, 1000)
	for i := range rows {
		ids = append(ids, preloadID(i))
		if len(ids) == cap(ids) || i == rows-1 {
			if err := db.insert(b.Context(), "Observation", ids, body, 2); err != nil {
				b.Fatalf("preload: %v", err)
			}
			ids = ids[:0]
		}
	}
	b.Logf("%s: preloaded %d resources in %v", DriverName, rows, time.Since(start).Round(time.Millisecond))
	return db
}

// BenchmarkDriverPointRead reads one body by (type, id) at random from 1, 2 and 8 goroutines,
// each with its own connection. ns/op is wall time per read across all readers.
func BenchmarkDriverPointRead(b *testing.B) {
	db := rawFixture(b, driverBenchRows)
	for _, readers := range []int{1, 2, 8} {
		b.Run(fmt.Sprintf("readers=%d", readers), func(b *testing.B) {
			db.db.SetMaxOpenConns(readers)
			db.db.SetMaxIdleConns(readers)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			cpu0 := cpuTime(b)
			for range readers {
				wg.Go(func() {
					for next.Add(1) <= int64(b.N) {
						if _, err := db.Body(b.Context(), "Observation", preloadID(rand.IntN(driverBenchRows))); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			report(b, cpu0, "reads/s")
		})
	}
}

// BenchmarkDriverCommit commits one new resource with 3 index rows per transaction, with both
// synchronous settings: FULL adds an fsync per commit, NORMAL isolates the driver's CPU cost.
func BenchmarkDriverCommit(b *testing.B) {
	db := rawFixture(b, driverBenchRows)
	body := CeilingConfig{}.withDefaults().Body
	var seq atomic.Int64 // ids stay unique across the benchmark's repeated runs
	for _, mode := range []string{"normal", "full"} {
		b.Run("sync="+mode, func(b *testing.B) {
			if _, err := db.write.ExecContext(b.Context(), "PRAGMA synchronous = "+mode); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			cpu0 := cpuTime(b)
			for range b.N {
				if err := db.insert(b.Context(), "Observation", []string{fmt.Sprintf("c-%d", seq.Add(1))}, body, 3); err != nil {
					b.Fatal(err)
				}
			}
			report(b, cpu0, "commits/s")
		})
	}
}
