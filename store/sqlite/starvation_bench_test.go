//go:build unix

package sqlite_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-health/portico/store"
	"github.com/portico-health/portico/store/sqlite"
)

// BenchmarkReadsBesideCostlySearches measures what one caller's cheap requests wait while
// other callers each keep one costly search in flight (a count over every Observation by a
// chained :contains on their Patients' names, as an attacker with a few accounts would send):
// p50 and p99 of a read by id and of a patient's own search, for several read pool sizes and
// numbers of costly searches. docs/store.md, "Concurrency".
//
//	go test -run '^$' -bench ReadsBesideCostly -benchtime 400x ./store/sqlite
func BenchmarkReadsBesideCostlySearches(b *testing.B) {
	costly := costlyChainCount()
	for _, conns := range benchConns() {
		for _, busy := range benchBusy() {
			b.Run(fmt.Sprintf("conns=%d/costly=%d", conns, busy), func(b *testing.B) {
				s, patients := searchBenchStoreWith(b, sqlite.Config{Sync: "normal", ReadConns: conns})
				stop := make(chan struct{})
				var wg sync.WaitGroup
				costlyDone := 0
				var mu sync.Mutex
				for range busy {
					wg.Go(func() {
						for {
							select {
							case <-stop:
								return
							default:
							}
							if _, err := s.Search(b.Context(), costly); err != nil {
								b.Error(err)
								return
							}
							mu.Lock()
							costlyDone++
							mu.Unlock()
						}
					})
				}
				time.Sleep(100 * time.Millisecond)
				r := rand.New(rand.NewPCG(3, 5))
				var reads, searches []time.Duration
				b.ResetTimer()
				for b.Loop() {
					p := r.IntN(patients)
					t := time.Now()
					if _, err := s.Read(b.Context(), "Observation", fmt.Sprintf("obs%d", r.IntN(patients*100))); err != nil {
						b.Fatal(err)
					}
					reads = append(reads, time.Since(t))
					t = time.Now()
					if _, err := s.Search(b.Context(), store.Query{Types: []string{"Observation"}, Count: 20,
						Sort:  []store.Sort{{Param: "date", Desc: true}},
						Where: []store.Clause{refClause("patient", "Patient", fmt.Sprintf("pat%d", p)), codeClause("code", benchCodes[1])}}); err != nil {
						b.Fatal(err)
					}
					searches = append(searches, time.Since(t))
				}
				b.StopTimer()
				close(stop)
				wg.Wait()
				slices.Sort(reads)
				slices.Sort(searches)
				b.ReportMetric(float64(reads[len(reads)/2].Microseconds()), "read-p50-µs")
				b.ReportMetric(float64(reads[len(reads)*99/100].Microseconds()), "read-p99-µs")
				b.ReportMetric(float64(searches[len(searches)/2].Microseconds()), "search-p50-µs")
				b.ReportMetric(float64(searches[len(searches)*99/100].Microseconds()), "search-p99-µs")
				b.ReportMetric(float64(costlyDone)/b.Elapsed().Seconds(), "costly/s")
			})
		}
	}
}

func benchConns() []int { return envInts("PORTICO_BENCH_CONNS", []int{2, 4, 8}) }
func benchBusy() []int  { return envInts("PORTICO_BENCH_BUSY", []int{0, 2, 4}) }

func envInts(name string, def []int) []int {
	var out []int
	for _, f := range strings.Split(os.Getenv(name), ",") {
		if n, err := strconv.Atoi(f); err == nil {
			out = append(out, n)
		}
	}
	if out == nil {
		return def
	}
	return out
}

// BenchmarkSearchParallel runs a patient's own search (Observation?patient=X&code=Y&_sort=-date)
// from 16 goroutines for several read pool sizes: what a larger pool costs in throughput.
//
//	PORTICO_BENCH_CONNS=2,4,8 go test -run '^$' -bench SearchParallel ./store/sqlite
func BenchmarkSearchParallel(b *testing.B) {
	for _, conns := range benchConns() {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
			s, patients := searchBenchStoreWith(b, sqlite.Config{Sync: "normal", ReadConns: conns})
			b.SetParallelism(8) // 16 goroutines on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				r := rand.New(rand.NewPCG(rand.Uint64(), 1))
				for pb.Next() {
					if _, err := s.Search(b.Context(), store.Query{Types: []string{"Observation"}, Count: 20,
						Sort:  []store.Sort{{Param: "date", Desc: true}},
						Where: []store.Clause{refClause("patient", "Patient", fmt.Sprintf("pat%d", r.IntN(patients))), codeClause("code", benchCodes[1+r.IntN(3)])}}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "searches/s")
		})
	}
}
