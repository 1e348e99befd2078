package api_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/store"
)

// BenchmarkTransaction100 ingests transaction Bundles of 100 entries (50 Patients and 50
// Observations referring to them by urn:uuid) through Echo and the API in process, on a store
// that already holds 100,000 resources. It reports resources/s.
func BenchmarkTransaction100(b *testing.B) {
	s := newServer(b)
	preload(b, s.Store, 100_000)
	n := 0
	body := func() string {
		es := make([]string, 0, 100)
		for i := range 50 {
			n++
			urn := fmt.Sprintf("urn:uuid:00000000-0000-4000-8000-%012d", n)
			es = append(es, ent(urn, "POST", "Patient", patientWith("bench-"+strconv.Itoa(n), "Family"+strconv.Itoa(i))))
			es = append(es, ent("", "POST", "Observation", `{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"subject":{"reference":"`+urn+`"},"effectiveDateTime":"2024-05-01T10:00:00Z","valueQuantity":{"value":72,"unit":"/min","system":"http://unitsofmeasure.org","code":"/min"}}`))
		}
		return bundleOf("transaction", es...)
	}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		req := httptest.NewRequest("POST", "/fhir", strings.NewReader(body()))
		req.Header.Set("Content-Type", "application/fhir+json")
		req.Header.Set("Prefer", "return=minimal")
		w := httptest.NewRecorder()
		b.StartTimer()
		s.h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "resources/s")
}

// preload writes n Patients directly to the store, 1,000 per atomic write.
func preload(b *testing.B, st store.Store, n int) {
	b.Helper()
	now := time.Now().UTC().Truncate(time.Millisecond)
	ws := make([]store.Write, 0, 1000)
	for i := range n {
		id := fmt.Sprintf("pre-%d", i)
		res, err := fhir.ParseResource([]byte(fmt.Sprintf(`{"resourceType":"Patient","id":"%s","meta":{"versionId":"1","lastUpdated":"%s"},"identifier":[{"system":"urn:pre","value":"%d"}],"name":[{"family":"Pre%d"}]}`,
			id, fhir.FormatInstant(now), i, i)))
		if err != nil {
			b.Fatal(err)
		}
		ws = append(ws, store.Write{Op: store.OpCreate, Type: "Patient", ID: id, Version: 1, LastUpdated: now, Body: res.JSON(), Index: fhir.IndexEntries(res)})
		if len(ws) == cap(ws) || i == n-1 {
			if err := st.Write(b.Context(), ws...); err != nil {
				b.Fatal(err)
			}
			ws = ws[:0]
		}
	}
}
