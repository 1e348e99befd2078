//go:build unix

package sqlite_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/portico-health/portico/store"
	"github.com/portico-health/portico/store/sqlite"
)

// The search benchmarks run a patient app's hot searches on PORTICO_BENCH_ROWS Observations
// (default 100,000; the figures in docs/store.md are at 1,000,000) over rows/100 Patients, and
// rows/10 Communications. The database is built once through Store.Write in calls of 2,000
// writes and kept in $TMPDIR/portico-search-bench-<rows> for later runs.
//
//	PORTICO_BENCH_ROWS=1000000 go test -run '^$' -bench Search -benchtime 2000x ./store/sqlite

var obsBody = []byte(`{"resourceType":"Observation","status":"final","note":"` +
	string(bytes.Repeat([]byte("x"), 700)) + `"}`)

// benchCodes: half the Observations have the first code (a common one: heart rate), the rest
// spread over 19 others.
var benchCodes = []string{"8867-4", "8480-6", "8462-4", "8310-5", "29463-7", "8302-2", "39156-5", "2708-6",
	"9279-1", "59408-5", "2339-0", "718-7", "4548-4", "2093-3", "2085-9", "13457-7", "2571-8", "6690-2", "789-8", "777-3"}

func benchRows() int {
	if n, err := strconv.Atoi(os.Getenv("PORTICO_BENCH_ROWS")); err == nil && n >= 1000 {
		return n
	}
	return 100_000
}

var (
	searchBenchOnce sync.Once
	searchBenchDir  string
	searchBenchErr  error
)

func observation(i, patients int) store.Write {
	p := fmt.Sprintf("pat%d", i%patients)
	code := benchCodes[0]
	if i%2 == 1 {
		code = benchCodes[1+(i/2)%(len(benchCodes)-1)]
	}
	ms := float64(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli() + int64(i)*60_000) // a minute apart
	day := time.UnixMilli(int64(ms)).UTC().Format("2006-01-02T15:04:05Z")
	cat := "vital-signs"
	if i%3 == 0 {
		cat = "laboratory"
	}
	return store.Write{Op: store.OpCreate, Type: "Observation", ID: fmt.Sprintf("obs%d", i), Version: 1,
		LastUpdated: time.Now(), Body: obsBody, Index: []store.IndexEntry{
			{Param: "patient", Kind: store.KindReference, RefType: "Patient", RefID: p},
			{Param: "subject", Kind: store.KindReference, RefType: "Patient", RefID: p},
			{Param: "code", Kind: store.KindToken, System: "http://loinc.org", Code: code, Text: "heart rate", SortKey: code},
			{Param: "category", Kind: store.KindToken, System: "http://terminology.hl7.org/CodeSystem/observation-category", Code: cat},
			{Param: "status", Kind: store.KindToken, System: "http://hl7.org/fhir/observation-status", Code: "final"},
			{Param: "date", Kind: store.KindDate, Low: ms, High: ms + 1000, SortKey: day},
			{Param: "value-quantity", Kind: store.KindQuantity, Low: 71.5, High: 72.5, System: "http://unitsofmeasure.org", Code: "/min"},
		}}
}

func communication(i, patients int) store.Write {
	ms := float64(time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli() + int64(i)*60_000)
	sent := time.UnixMilli(int64(ms)).UTC().Format("2006-01-02T15:04:05Z")
	status := []string{"in-progress", "completed", "completed", "completed"}[i%4]
	prio := []string{"routine", "urgent", "asap", "stat"}[(i/4)%4]
	return store.Write{Op: store.OpCreate, Type: "Communication", ID: fmt.Sprintf("com%d", i), Version: 1,
		LastUpdated: time.Now(), Body: obsBody, Index: []store.IndexEntry{
			{Param: "recipient", Kind: store.KindReference, RefType: "Patient", RefID: fmt.Sprintf("pat%d", i%patients)},
			{Param: "status", Kind: store.KindToken, System: "http://hl7.org/fhir/event-status", Code: status},
			{Param: "priority", Kind: store.KindToken, System: "http://hl7.org/fhir/request-priority", Code: prio,
				SortKey: strconv.Itoa(slices.Index([]string{"stat", "asap", "urgent", "routine"}, prio))},
			{Param: "sent", Kind: store.KindDate, Low: ms, High: ms + 1000, SortKey: sent},
		}}
}

// searchBenchStore opens (building it the first time) the benchmark database.
func searchBenchStore(b *testing.B) (*sqlite.Store, int) {
	return searchBenchStoreWith(b, sqlite.Config{Sync: "normal"})
}

// searchBenchStoreWith opens the benchmark database with cfg (its Dir set here).
func searchBenchStoreWith(b *testing.B, cfg sqlite.Config) (*sqlite.Store, int) {
	rows := benchRows()
	patients := rows / 100
	searchBenchOnce.Do(func() {
		searchBenchDir = filepath.Join(os.TempDir(), fmt.Sprintf("portico-search-bench-%d", rows))
		if _, err := os.Stat(filepath.Join(searchBenchDir, "complete")); err == nil {
			return
		}
		_ = os.RemoveAll(searchBenchDir)
		s, err := sqlite.Open(b.Context(), sqlite.Config{Dir: searchBenchDir, Sync: "normal"})
		if err != nil {
			searchBenchErr = err
			return
		}
		start := time.Now()
		var writes []store.Write
		flush := func() {
			if searchBenchErr == nil && len(writes) > 0 {
				searchBenchErr = s.Write(b.Context(), writes...)
			}
			writes = writes[:0]
		}
		for i := range patients {
			writes = append(writes, store.Write{Op: store.OpCreate, Type: "Patient", ID: fmt.Sprintf("pat%d", i), Version: 1,
				LastUpdated: time.Now(), Body: obsBody, Index: []store.IndexEntry{
					{Param: "name", Kind: store.KindString, Text: fmt.Sprintf("smith%d", i), Code: fmt.Sprintf("Smith%d", i)}}})
			if len(writes) == 2000 {
				flush()
			}
		}
		for i := range rows {
			writes = append(writes, observation(i, patients))
			if i%10 == 0 {
				writes = append(writes, communication(i/10, patients))
			}
			if len(writes) >= 2000 {
				flush()
			}
		}
		flush()
		if err := s.Close(); searchBenchErr == nil {
			searchBenchErr = err
		}
		if searchBenchErr == nil {
			searchBenchErr = os.WriteFile(filepath.Join(searchBenchDir, "complete"), nil, 0o600)
		}
		b.Logf("built %d Observations, %d Patients, %d Communications in %v (%.0f resources/s)", rows, patients, rows/10,
			time.Since(start).Round(time.Second), float64(rows+patients+rows/10)/time.Since(start).Seconds())
	})
	if searchBenchErr != nil {
		b.Fatalf("search benchmark database: %v", searchBenchErr)
	}
	cfg.Dir = searchBenchDir
	s, err := sqlite.Open(b.Context(), cfg)
	if err != nil {
		b.Fatalf("Open: %v", err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s, patients
}

// benchSearch runs q (built per iteration) from one goroutine and reports p50 and p99.
func benchSearch(b *testing.B, q func(r *rand.Rand) store.Query) {
	s, _ := searchBenchStore(b)
	r := rand.New(rand.NewPCG(7, 9))
	lat := make([]time.Duration, 0, b.N)
	results := 0
	cpu0 := processCPU(b)
	b.ResetTimer()
	for b.Loop() {
		query := q(r)
		start := time.Now()
		page, err := s.Search(b.Context(), query)
		lat = append(lat, time.Since(start))
		if err != nil {
			b.Fatalf("Search: %v", err)
		}
		results += len(page.Records)
	}
	b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(len(lat)), "cpu-µs/op")
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(results)/float64(len(lat)), "results/op")
}

func refClause(param, typ, id string) store.Clause {
	return store.Clause{Param: param, Kind: store.KindReference, Values: []store.Value{{RefType: typ, RefID: id}}}
}

func codeClause(param, code string) store.Clause {
	return store.Clause{Param: param, Kind: store.KindToken, Values: []store.Value{{Code: code, AnySystem: true}}}
}

// Observation?patient=X&code=Y&_sort=-date&_count=20
func BenchmarkSearchPatientCode(b *testing.B) {
	patients := benchRows() / 100
	benchSearch(b, func(r *rand.Rand) store.Query {
		return store.Query{Types: []string{"Observation"}, Count: 20, Sort: []store.Sort{{Param: "date", Desc: true}},
			Where: []store.Clause{refClause("patient", "Patient", fmt.Sprintf("pat%d", r.IntN(patients))),
				codeClause("code", benchCodes[r.IntN(3)])}}
	})
}

// Communication?recipient=X&status=in-progress&_sort=priority,sent
func BenchmarkSearchCommunication(b *testing.B) {
	patients := benchRows() / 100
	benchSearch(b, func(r *rand.Rand) store.Query {
		return store.Query{Types: []string{"Communication"}, Count: 20, Sort: []store.Sort{{Param: "priority"}, {Param: "sent"}},
			Where: []store.Clause{refClause("recipient", "Patient", fmt.Sprintf("pat%d", r.IntN(patients))),
				codeClause("status", "in-progress")}}
	})
}

// Observation?code=<half of all Observations>&_sort=-date&_count=20, first pages and deep pages.
func BenchmarkSearchCommonCode(b *testing.B) {
	benchSearch(b, func(r *rand.Rand) store.Query {
		return store.Query{Types: []string{"Observation"}, Count: 20, Sort: []store.Sort{{Param: "date", Desc: true}},
			Where: []store.Clause{codeClause("code", benchCodes[0])}}
	})
}

// Observation?category=laboratory&date=ge2020-06-01&_count=20 (default order): two
// unselective clauses, a walk of the id order.
func BenchmarkSearchCategoryDate(b *testing.B) {
	lo := float64(time.Date(2020, 3, 1, 0, 0, 0, 0, time.UTC).UnixMilli())
	benchSearch(b, func(r *rand.Rand) store.Query {
		return store.Query{Types: []string{"Observation"}, Count: 20,
			Where: []store.Clause{codeClause("category", "laboratory"),
				{Param: "date", Kind: store.KindDate, Values: []store.Value{{Prefix: store.PrefixGe, Low: lo, High: lo + 86_400_000}}}}}
	})
}

// BenchmarkWriteObservations creates Observations with the search benchmark's index entries
// (two references, three tokens, a date and a quantity, two sort keys) from 16 goroutines, on
// a store preloaded with 100,000 of them, sync=full: the store's share of the API's create
// target (1,500/s with 16 clients on 100,000 resources).
func BenchmarkWriteObservations(b *testing.B) {
	s := openTest(b, sqlite.Config{})
	defer s.Close()
	const preload, patients = 100_000, 1_000
	for start := 0; start < preload; start += 2000 {
		var ws []store.Write
		for i := start; i < start+2000; i++ {
			ws = append(ws, observation(i, patients))
		}
		if err := s.Write(b.Context(), ws...); err != nil {
			b.Fatal(err)
		}
	}
	var n atomic.Int64
	n.Store(preload)
	b.SetParallelism(8) // 16 goroutines on two cores
	cpu0 := processCPU(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.Write(b.Context(), observation(int(n.Add(1)), patients)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
	b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}

// processCPU is the CPU time this process has used: per operation it stays meaningful on a
// machine shared with other work, where wall-clock latency does not.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
