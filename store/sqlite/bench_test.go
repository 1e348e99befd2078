package sqlite_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-health/portico/store"
	"github.com/portico-health/portico/store/sqlite"
)

// The store benchmarks measure Portico's SQLite backend through the store.Store interface:
// what the api package gets, to compare with the raw ceiling of BenchmarkDriver*.
//
//	go test -run '^$' -bench 'Write|Read' ./store/sqlite

const benchResources = 20_000

var benchBody = []byte(`{"resourceType":"Observation","status":"final","note":"` +
	string(bytes.Repeat([]byte("x"), 1550)) + `"}`)

// benchWrite is a create of a 1.6 KB Observation with 6 token index rows, as an average
// Observation has (identifier, status, category, code with two codings, subject).
func benchWrite(id string) store.Write {
	index := make([]store.IndexEntry, 6)
	for k := range index {
		index[k] = store.IndexEntry{Param: fmt.Sprintf("p%d", k), Kind: store.KindToken, System: "urn:bench", Code: id}
	}
	return store.Write{Op: store.OpCreate, Type: "Observation", ID: id, Version: 1, LastUpdated: time.Now(),
		Body: benchBody, Index: index}
}

// BenchmarkRead reads random resources by (type, id) from GOMAXPROCS goroutines.
func BenchmarkRead(b *testing.B) {
	s := openTest(b, sqlite.Config{Sync: "normal"})
	defer s.Close()
	for start := 0; start < benchResources; start += 500 {
		writes := make([]store.Write, 500)
		for i := range writes {
			writes[i] = benchWrite(fmt.Sprintf("r%d", start+i))
		}
		if err := s.Write(b.Context(), writes...); err != nil {
			b.Fatalf("preload: %v", err)
		}
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Read(b.Context(), "Observation", fmt.Sprintf("r%d", rand.IntN(benchResources))); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reads/s")
}

// BenchmarkWrite creates resources one call at a time: every call waits for its own commit,
// so with sync=full this is the fsync rate.
func BenchmarkWrite(b *testing.B) {
	for _, mode := range []string{"full", "normal"} {
		b.Run("sync="+mode, func(b *testing.B) {
			s := openTest(b, sqlite.Config{Sync: mode})
			defer s.Close()
			b.ResetTimer()
			for i := range b.N {
				if err := s.Write(b.Context(), benchWrite(fmt.Sprintf("w%d", i))); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
		})
	}
}

// BenchmarkWriteParallel creates resources from 32 goroutines at once, as concurrent API
// requests do: group commit shares each commit among the calls queued behind it.
func BenchmarkWriteParallel(b *testing.B) {
	for _, mode := range []string{"full", "normal"} {
		b.Run("sync="+mode, func(b *testing.B) {
			s := openTest(b, sqlite.Config{Sync: mode})
			defer s.Close()
			var n atomic.Int64
			b.SetParallelism(16) // 16 × GOMAXPROCS goroutines: 32 on two cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := s.Write(b.Context(), benchWrite(fmt.Sprintf("w%d", n.Add(1)))); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
		})
	}
}
