package derived_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/portico-health/portico/api"
	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/store"
	"github.com/portico-health/portico/store/derived"
	"github.com/portico-health/portico/store/sqlite"
)

// fhirServer is the api over st, on httptest; it returns the FHIR base URL.
func fhirServer(t *testing.T, st store.Store) string {
	t.Helper()
	a, err := api.New(api.Config{Store: st, BaseURL: "http://example.test/fhir", Logger: slog.New(slog.DiscardHandler),
		ResourceTypes: fhir.ResourceTypes})
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	e.HTTPErrorHandler = a.HTTPErrorHandler
	a.Register(e.Group("/fhir"))
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv.URL + "/fhir"
}

func openSQLite(t *testing.T, dir string) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), sqlite.Config{Dir: dir, Sync: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func do(t *testing.T, method, url, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/fhir+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(data, &out)
	return resp.StatusCode, out
}

// ids are the ids of a searchset's matches, in order.
func ids(t *testing.T, base, query string) []string {
	t.Helper()
	status, b := do(t, http.MethodGet, base+"/"+query, "")
	if status != http.StatusOK {
		t.Fatalf("GET %s: %d %v", query, status, b)
	}
	var out []string
	entries, _ := b["entry"].([]any)
	for _, e := range entries {
		r := e.(map[string]any)["resource"].(map[string]any)
		out = append(out, r["id"].(string))
	}
	return out
}

// The corpus: Observations whose codes, values and absences sit at the top level, in
// components, or both.
var observations = map[string]string{
	"bp": `{"resourceType":"Observation","id":"bp","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"85354-9"}]},
		"component":[{"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},"valueQuantity":{"value":120,"system":"http://unitsofmeasure.org","code":"mm[Hg]"}},
		             {"code":{"coding":[{"system":"http://loinc.org","code":"8462-4"}]},"valueQuantity":{"value":80,"system":"http://unitsofmeasure.org","code":"mm[Hg]"}}]}`,
	"sys": `{"resourceType":"Observation","id":"sys","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},
		"valueQuantity":{"value":135,"system":"http://unitsofmeasure.org","code":"mm[Hg]"}}`,
	"hr": `{"resourceType":"Observation","id":"hr","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},
		"valueQuantity":{"value":72,"system":"http://unitsofmeasure.org","code":"/min"}}`,
	"smoke": `{"resourceType":"Observation","id":"smoke","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"72166-2"}]},
		"valueCodeableConcept":{"coding":[{"system":"http://snomed.info/sct","code":"8517006"}]}}`,
	"absent": `{"resourceType":"Observation","id":"absent","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"2160-0"}]},
		"dataAbsentReason":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/data-absent-reason","code":"error"}]}}`,
	"panel": `{"resourceType":"Observation","id":"panel","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"24331-1"}]},
		"hasMember":[{"reference":"Observation/bp"}],"component":[{"code":{"coding":[{"system":"http://loinc.org","code":"8310-5"}]},"valueQuantity":{"value":37,"system":"http://unitsofmeasure.org","code":"Cel"}}]}`,
	"resp": `{"resourceType":"Observation","id":"resp","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"9279-1"}]},
		"component":[{"code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"dataAbsentReason":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/data-absent-reason","code":"unknown"}]}},
		             {"code":{"coding":[{"system":"http://loinc.org","code":"72166-2"}]},"valueCodeableConcept":{"coding":[{"system":"http://snomed.info/sct","code":"8517006"}]}}]}`,
}

// TestSearchesAnswerAsWithEveryEntryStored is differential: the same Observations go into a
// plain store (every entry stored, derived ones included) and into a wrapped one, and every
// search on a derived parameter must return the same resources in the same order from both.
func TestSearchesAnswerAsWithEveryEntryStored(t *testing.T) {
	plainDir, wrappedDir := t.TempDir(), t.TempDir()
	plain := fhirServer(t, openSQLite(t, plainDir))
	wrapped := fhirServer(t, derived.Wrap(openSQLite(t, wrappedDir)))
	for id, body := range observations {
		for _, base := range []string{plain, wrapped} {
			if status, b := do(t, http.MethodPut, base+"/Observation/"+id, body); status != http.StatusCreated {
				t.Fatalf("PUT %s: %d %v", id, status, b)
			}
		}
	}
	queries := []string{
		"Observation?combo-code=8480-6",
		"Observation?combo-code=http://loinc.org|8867-4,72166-2",
		"Observation?combo-code:not=8480-6",
		"Observation?combo-code:missing=false",
		"Observation?combo-code:missing=true",
		"Observation?combo-value-quantity=gt100",
		"Observation?combo-value-quantity=80|http://unitsofmeasure.org|mm[Hg]",
		"Observation?combo-value-quantity:missing=true",
		"Observation?combo-code-value-quantity=8480-6$gt100",
		"Observation?combo-code-value-quantity=8462-4$lt100",
		"Observation?combo-value-concept=8517006",
		"Observation?combo-code-value-concept=72166-2$8517006",
		"Observation?combo-data-absent-reason=unknown,error",
		"Observation?combo-data-absent-reason:missing=true",
		"Observation?combo-code=8480-6&combo-value-quantity=ge120",
		"Observation?_has:Observation:has-member:combo-code=8310-5",
		"Observation?status=final&combo-code:text=zzz",
	}
	for _, q := range queries {
		want, got := sorted(ids(t, plain, q)), sorted(ids(t, wrapped, q))
		if !slices.Equal(want, got) {
			t.Errorf("%s: every entry stored %v, derived ones dropped %v", q, want, got)
		}
	}
	// _sort on a derived parameter sorts by the first parameter it derives from.
	for _, q := range []string{"Observation?_sort=combo-code", "Observation?_sort=-combo-code&_count=3",
		"Observation?status=final&_sort=combo-code", "Observation?_sort=combo-value-quantity,-combo-code"} {
		want := ids(t, plain, strings.NewReplacer("combo-code", "code", "combo-value-quantity", "value-quantity").Replace(q))
		if got := ids(t, wrapped, q); !slices.Equal(want, got) {
			t.Errorf("%s: %v, want %v (the order of its first parameter)", q, got, want)
		}
	}
	// Sanity: the queries do select something, and the wrapped store holds no derived entry.
	if got := ids(t, wrapped, "Observation?combo-code=8480-6"); !slices.Equal(sorted(got), []string{"bp", "sys"}) {
		t.Errorf("combo-code=8480-6 = %v, want bp and sys", got)
	}
	if got := ids(t, wrapped, "Observation?_has:Observation:has-member:combo-code=8310-5"); !slices.Equal(got, []string{"bp"}) {
		t.Errorf("_has:Observation:has-member:combo-code=8310-5 = %v, want bp", got)
	}
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

// TestWrittenWithoutDerivedEntries reads the wrapped store's database without the wrapper: a
// search on a derived parameter there finds nothing, one on a stored parameter finds all.
func TestWrittenWithoutDerivedEntries(t *testing.T) {
	dir := t.TempDir()
	st := derived.Wrap(openSQLite(t, dir))
	ctx := context.Background()
	for id, body := range observations {
		r, err := fhir.ParseResource([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		index, err := fhir.ExtractIndex(r)
		if err != nil {
			t.Fatal(err)
		}
		w := store.Write{Op: store.OpCreate, Type: "Observation", ID: id, Version: 1, LastUpdated: time.Now(), Body: r.JSON(), Index: index}
		if err := st.Write(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	inner := st.(interface{ Unwrap() store.Store }).Unwrap()
	count := func(s store.Store, param string) int {
		page, err := s.Search(ctx, store.Query{Types: []string{"Observation"}, Count: 100, Where: []store.Clause{
			{Param: param, Kind: store.KindToken, Modifier: store.ModMissing, Missing: false}}})
		if err != nil {
			t.Fatal(err)
		}
		return len(page.Records)
	}
	if n := count(inner, "combo-code"); n != 0 {
		t.Errorf("the store holds combo-code entries for %d resources", n)
	}
	if n := count(inner, "code"); n != len(observations) {
		t.Errorf("code entries for %d resources, want %d", n, len(observations))
	}
	if n := count(st, "combo-code"); n != len(observations) {
		t.Errorf("through the wrapper, combo-code:missing=false finds %d, want %d", n, len(observations))
	}
}
