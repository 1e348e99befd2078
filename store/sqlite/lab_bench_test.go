//go:build linux

package sqlite_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/store"
	"github.com/portico-health/portico/store/derived"
	"github.com/portico-health/portico/store/sqlite"
)

// BenchmarkCreateLab creates realistic lab Observations (testdata/resources/observation-lab.json
// with a different id, identifier, patient, code, date and value each; the index entries are
// fhir.ExtractIndex's, 17 per Observation) from 16 goroutines, sync=full, on a store already
// holding 100,000 of them: the store's share of the API's create target. The preloaded
// database is built once per schema in $TMPDIR/portico-lab-bench-<hash> and copied for each
// run. It reports, besides the rate, the process CPU and the bytes the process wrote to
// storage (/proc/self/io) per create.
//
//	go test -run '^$' -bench CreateLab -benchtime 3000x ./store/sqlite
func BenchmarkCreateLab(b *testing.B) {
	dir := labBenchDB(b)
	s := openTest(b, sqlite.Config{Dir: dir})
	defer s.Close()
	// The writes are built first: the CPU measured is the store's alone.
	writes := make([]store.Write, b.N)
	for i := range writes {
		writes[i] = labWrite(labPreload + i)
	}
	var n atomic.Int64
	n.Store(-1)
	b.SetParallelism(8) // 16 goroutines on two cores
	cpu0, io0 := processCPU(b), writeBytes(b)
	wc0 := ioField(b, "wchar: ")
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.Write(b.Context(), writes[n.Add(1)]); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
	b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
	b.ReportMetric(float64(writeBytes(b)-io0)/1024/float64(b.N), "KB-written/op")
	b.ReportMetric(float64(ioField(b, "wchar: ")-wc0)/1024/float64(b.N), "KB-pwrite/op")
	reportRSS(b)
}

// reportRSS reports the process's resident memory: anonymous (SQLite's page caches, the Go
// heap) and file-backed (pages of the mapped database file, which the kernel can drop).
func reportRSS(b *testing.B) {
	data, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(data), "\n") {
		for _, f := range []string{"VmRSS", "RssAnon", "RssFile"} {
			if v, ok := strings.CutPrefix(line, f+":"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				b.ReportMetric(float64(kb)/1024, f+"-MB")
			}
		}
	}
}

// BenchmarkReadLab reads random lab Observations by id from 32 goroutines on the preloaded
// store of BenchmarkCreateLab.
func BenchmarkReadLab(b *testing.B) {
	dir := labBenchDB(b)
	s := openTest(b, sqlite.Config{Dir: dir})
	defer s.Close()
	var n atomic.Int64
	b.SetParallelism(16)
	cpu0 := processCPU(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(n.Add(7919)) % labPreload
			if _, err := s.Read(b.Context(), "Observation", labID(i)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reads/s")
	b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
	reportRSS(b)
}

const labPreload = 100_000

var (
	labOnce     sync.Once
	labTemplate map[string]any
	labCodes    = []string{"2160-0", "2345-7", "2951-2", "2823-3", "6690-2", "718-7", "4548-4", "2093-3"}
)

func labID(i int) string { return fmt.Sprintf("obs-%08x-%d", uint32(i)*2654435761, i) }

// labWrite is the i-th lab Observation as the api would write it.
func labWrite(i int) store.Write {
	labOnce.Do(func() {
		data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "resources", "observation-lab.json"))
		if err != nil {
			panic(err)
		}
		if err := json.Unmarshal(data, &labTemplate); err != nil {
			panic(err)
		}
	})
	id := labID(i)
	lu := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute)
	m := map[string]any{}
	for k, v := range labTemplate {
		m[k] = v
	}
	m["id"] = id
	m["meta"] = map[string]any{"versionId": "1", "lastUpdated": lu.Format(time.RFC3339Nano)}
	m["identifier"] = []any{map[string]any{"system": "urn:oid:1.2.840.114350.1.13.0.1.7.2.798268", "value": "LAB-" + strconv.Itoa(i)}}
	code := labCodes[i%len(labCodes)]
	m["code"] = map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": code, "display": "Lab " + code}}, "text": "Lab " + code}
	m["subject"] = map[string]any{"reference": fmt.Sprintf("Patient/pat-%d", (i*7919)%10_000)}
	eff := lu.Add(-6 * time.Hour).Format(time.RFC3339)
	m["effectiveDateTime"] = eff
	m["issued"] = lu.Format(time.RFC3339Nano)
	m["valueQuantity"] = map[string]any{"value": json.Number(fmt.Sprintf("%d.%02d", i%7, i%100)), "unit": "mg/dL",
		"system": "http://unitsofmeasure.org", "code": "mg/dL"}
	body, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	r, err := fhir.ParseResource(body)
	if err != nil {
		panic(err)
	}
	index, err := fhir.ExtractIndex(r)
	if err != nil {
		panic(err)
	}
	index, _ = derived.StoredIndex("Observation", index) // what Portico stores: no combo-* entries
	return store.Write{Op: store.OpCreate, Type: "Observation", ID: id, Version: 1, LastUpdated: lu, Body: body, Index: index}
}

// labBenchDB returns a fresh directory holding a copy of the preloaded database.
func labBenchDB(b *testing.B) string {
	b.Helper()
	sum := sha256.Sum256([]byte(sqlite.SchemaText + "derived")) // built with the stored entries only
	cache := filepath.Join(os.TempDir(), "portico-lab-bench-"+hex.EncodeToString(sum[:6]))
	src := filepath.Join(cache, sqlite.DatabaseFile)
	if f := os.Getenv("PORTICO_LAB_BENCH_DB"); f != "" {
		src = f // a prepared database of the current schema (docs/store.md, "Write cost")
	}
	if _, err := os.Stat(src); err != nil {
		tmp := cache + ".tmp"
		_ = os.RemoveAll(tmp)
		s := openTest(b, sqlite.Config{Dir: tmp, Sync: "normal"})
		start := time.Now()
		for base := 0; base < labPreload; base += 2000 {
			ws := make([]store.Write, 2000)
			for k := range ws {
				ws[k] = labWrite(base + k)
			}
			if err := s.Write(b.Context(), ws...); err != nil {
				b.Fatal(err)
			}
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		b.Logf("preloaded %d lab Observations in %v", labPreload, time.Since(start).Round(time.Second))
		if err := os.Rename(tmp, cache); err != nil {
			b.Fatal(err)
		}
	}
	dir := b.TempDir()
	in, err := os.Open(src)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(filepath.Join(dir, sqlite.DatabaseFile))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		b.Fatal(err)
	}
	if err := out.Close(); err != nil {
		b.Fatal(err)
	}
	syscall.Sync() // the copy's dirty pages would otherwise be flushed by the first checkpoint
	runtime.GC()
	return dir
}

func ioField(b *testing.B, f string) int64 {
	data, _ := os.ReadFile("/proc/self/io")
	for _, line := range bytes.Split(data, []byte("\n")) {
		if v, ok := strings.CutPrefix(string(line), f); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// writeBytes is what this process has caused to be written to storage so far.
func writeBytes(b *testing.B) int64 {
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range bytes.Split(data, []byte("\n")) {
		if v, ok := strings.CutPrefix(string(line), "write_bytes: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}
