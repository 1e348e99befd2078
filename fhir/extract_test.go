package fhir

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portico-health/portico/store"
)

// missionTypes are the resource types Portico is built around; the registry test requires
// each of their search parameters to yield entries from the example resources.
var missionTypes = []string{"Patient", "Appointment", "Communication", "Invoice", "Observation",
	"Practitioner", "Organization", "Schedule", "Slot", "PractitionerRole", "Location",
	"RelatedPerson", "CareTeam", "Account", "Encounter", "Condition"}

// notCovered are mission parameters the examples do not exercise, and why.
var notCovered = map[string]string{
	"Patient.deceased": "", // covered: false on every patient without deceased[x]
	"_security":        "meta parameters are exercised on Patient only",
	"_tag":             "meta parameters are exercised on Patient only",
	"_profile":         "meta parameters are exercised on Patient only",
	"_source":          "meta parameters are exercised on Patient only",
	"_lastUpdated":     "meta parameters are exercised on Patient only",
	"Location.near":    "skipped: special",
}

// exampleResources reads the fixtures and fhir/testdata/search, all validated.
func exampleResources(t testing.TB) []*Resource {
	t.Helper()
	var out []*Resource
	files, _ := filepath.Glob(filepath.Join(fixtureDir, "*.json"))
	more, _ := filepath.Glob("testdata/search/*.json")
	for _, f := range append(files, more...) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		r, err := ParseResource(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, r)
	}
	return out
}

// TestExtractMissionCoverage: every search parameter of the mission types extracts without
// error from realistic resources, and yields at least one entry from one of them.
func TestExtractMissionCoverage(t *testing.T) {
	seen := map[string]map[string]bool{}
	for _, r := range exampleResources(t) {
		es, err := ExtractIndex(r)
		if err != nil {
			t.Errorf("%s/%s: %v", r.Type(), r.ID(), err)
			continue
		}
		if seen[r.Type()] == nil {
			seen[r.Type()] = map[string]bool{}
		}
		for _, e := range es {
			seen[r.Type()][e.Param] = true
			checkEntry(t, r, e)
		}
	}
	for _, rt := range missionTypes {
		if seen[rt] == nil {
			t.Errorf("no example %s", rt)
			continue
		}
		for _, sp := range AllSearchParams(rt) {
			if seen[rt][sp.Code] || skipReason(sp) != "" {
				continue
			}
			if _, ok := notCovered[sp.Code]; ok && rt != "Patient" {
				continue
			}
			if _, ok := notCovered[rt+"."+sp.Code]; ok {
				continue
			}
			t.Errorf("%s: no entry for %s (%s)", rt, sp.Code, sp.Expression)
		}
	}
}

// checkEntry checks the invariants of an entry of each kind.
func checkEntry(t *testing.T, r *Resource, e store.IndexEntry) {
	t.Helper()
	where := fmt.Sprintf("%s/%s %s", r.Type(), r.ID(), e.Param)
	switch e.Kind {
	case store.KindDate, store.KindNumber, store.KindQuantity:
		if !(e.Low < e.High) {
			t.Errorf("%s: empty range [%v, %v)", where, e.Low, e.High)
		}
		if e.SortKey != FloatSortKey(e.Low) {
			t.Errorf("%s: SortKey %q", where, e.SortKey)
		}
	case store.KindString:
		if e.Text != NormalizeString(e.Code) || e.Text == "" {
			t.Errorf("%s: Text %q Code %q", where, e.Text, e.Code)
		}
	case store.KindReference:
		if e.RefID == "" && e.RefURL == "" && e.Code == "" {
			t.Errorf("%s: empty reference", where)
		}
	case store.KindComposite:
		sp := LookupSearchParam(r.Type(), e.Param)
		if len(e.Components) != len(sp.Components) {
			t.Errorf("%s: %d components", where, len(e.Components))
		}
	case store.KindToken:
		if e.Code == "" && e.System == "" && e.Text == "" {
			t.Errorf("%s: empty token", where)
		}
	case store.KindURI:
		if e.Text == "" {
			t.Errorf("%s: empty uri", where)
		}
	default:
		t.Errorf("%s: kind %d", where, e.Kind)
	}
}

// entryStrings renders entries compactly for comparison: param kind fields.
func entryStrings(es []store.IndexEntry, params ...string) []string {
	var out []string
	for _, e := range es {
		if len(params) > 0 && !slices.Contains(params, e.Param) {
			continue
		}
		out = append(out, renderEntry(e))
	}
	return out
}

func renderEntry(e store.IndexEntry) string {
	var b strings.Builder
	b.WriteString(e.Param)
	add := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, " %s=%s", k, v)
		}
	}
	add("sys", e.System)
	add("code", e.Code)
	add("text", e.Text)
	add("ref", strings.Trim(e.RefType+"/"+e.RefID, "/"))
	add("url", e.RefURL)
	if e.Kind == store.KindDate || e.Kind == store.KindNumber || e.Kind == store.KindQuantity {
		fmt.Fprintf(&b, " [%s,%s)", fmtBound(e.Kind, e.Low), fmtBound(e.Kind, e.High))
	}
	for _, c := range e.Components {
		b.WriteString(" {" + renderEntry(c) + "}")
	}
	return b.String()
}

func fmtBound(k store.ParamKind, f float64) string {
	if k == store.KindDate {
		switch f {
		case MinTime:
			return "-inf"
		case MaxTime:
			return "+inf"
		}
		return fmt.Sprint(msTime(f))
	}
	return fmt.Sprint(f)
}

func msTime(f float64) string {
	return timeUTC(int64(f))
}

func extractFile(t *testing.T, path string) []store.IndexEntry {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := ParseResource(data)
	if err != nil {
		t.Fatal(err)
	}
	es, err := ExtractIndex(r)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// TestExtractExpected: the entries of selected parameters of the examples, written out.
func TestExtractExpected(t *testing.T) {
	tests := []struct {
		file   string
		params []string
		want   []string
	}{
		{fixtureDir + "/patient-full.json", []string{"family", "given", "birthdate", "identifier", "identifier:of-type", "gender", "deceased", "language", "phone", "_lastUpdated", "_profile"}, []string{
			"_lastUpdated [2024-05-02T14:35:12.042Z,2024-05-02T14:35:12.043Z)",
			"_profile text=http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient",
			"birthdate [1984-03-17T00:00:00Z,1984-03-18T00:00:00Z)",
			"deceased code=false",
			"family code=Álvarez text=alvarez",
			"gender code=female",
			"given code=Maria text=maria",
			"given code=Elena text=elena",
			"given code=Malena text=malena",
			"identifier sys=urn:oid:1.2.840.114350.1.13.0.1.7.5.737384.14 code=00482913 text=mrn",
			"identifier:of-type sys=http://terminology.hl7.org/CodeSystem/v2-0203 code=MR text=00482913",
			"language sys=urn:ietf:bcp:47 code=es-MX text=spanish (mexico)",
			"language text=spanish",
			"language sys=urn:ietf:bcp:47 code=en-US",
			"phone sys=phone code=+1 555 0134 2277",
		}},
		{"testdata/search/patient-deceased.json", []string{"name", "address", "death-date", "deceased", "organization", "link", "_security", "_tag", "_source", "active"}, []string{
			"_security sys=http://terminology.hl7.org/CodeSystem/v3-Confidentiality code=R text=restricted",
			"_source text=https://ehr.example.org/feeds/adt#a1",
			"_tag sys=http://example.org/fhir/CodeSystem/tags code=migrated",
			"active code=false",
			"address code=12 Rue de l'Église text=12 rue de l'eglise",
			"address code=Montréal text=montreal",
			"address code=Ville-Marie text=ville-marie",
			"address code=QC text=qc",
			"address code=H2X 1Y4 text=h2x 1y4",
			"address code=CA text=ca",
			"address code=12 Rue de l'Église, Montréal text=12 rue de l'eglise, montreal",
			"death-date [2024-05-31T03:15:00Z,2024-05-31T03:15:01Z)",
			"deceased code=true",
			"link ref=Patient/pat-maria-alvarez",
			"name code=Núñez text=nunez",
			"name code=José text=jose",
			"name code=Dr. text=dr.",
			"name code=Jr. text=jr.",
			"name code=Dr. José Núñez Jr. text=dr. jose nunez jr.",
			"organization ref=Organization url=https://other.example.org/fhir/Organization/o1",
		}},
		{"testdata/search/observation-bp.json", []string{"code-value-quantity", "component-code-value-quantity", "combo-code-value-quantity", "component-value-quantity", "date", "value-concept", "value-string", "component-data-absent-reason", "combo-value-concept"}, []string{
			"combo-code-value-quantity {combo-code sys=http://loinc.org code=8480-6 text=systolic blood pressure} {combo-value-quantity sys=http://unitsofmeasure.org code=mm[Hg] [141.5,142.5)}",
			"combo-code-value-quantity {combo-code sys=http://loinc.org code=8480-6 text=systolic blood pressure} {combo-value-quantity code=mmHg [141.5,142.5)}",
			"combo-code-value-quantity {combo-code sys=http://loinc.org code=8462-4 text=diastolic blood pressure} {combo-value-quantity sys=http://unitsofmeasure.org code=mm[Hg] [90.5,91.5)}",
			"combo-code-value-quantity {combo-code sys=http://loinc.org code=8462-4 text=diastolic blood pressure} {combo-value-quantity code=mmHg [90.5,91.5)}",
			"combo-value-concept sys=http://snomed.info/sct code=38341003 text=hypertension",
			"combo-value-concept text=high blood pressure",
			"combo-value-concept sys=http://snomed.info/sct code=33586001 text=sitting position",
			"component-code-value-quantity {component-code sys=http://loinc.org code=8480-6 text=systolic blood pressure} {component-value-quantity sys=http://unitsofmeasure.org code=mm[Hg] [141.5,142.5)}",
			"component-code-value-quantity {component-code sys=http://loinc.org code=8480-6 text=systolic blood pressure} {component-value-quantity code=mmHg [141.5,142.5)}",
			"component-code-value-quantity {component-code sys=http://loinc.org code=8462-4 text=diastolic blood pressure} {component-value-quantity sys=http://unitsofmeasure.org code=mm[Hg] [90.5,91.5)}",
			"component-code-value-quantity {component-code sys=http://loinc.org code=8462-4 text=diastolic blood pressure} {component-value-quantity code=mmHg [90.5,91.5)}",
			"component-data-absent-reason sys=http://terminology.hl7.org/CodeSystem/data-absent-reason code=not-performed",
			"component-value-quantity sys=http://unitsofmeasure.org code=mm[Hg] [141.5,142.5)",
			"component-value-quantity code=mmHg [141.5,142.5)",
			"component-value-quantity sys=http://unitsofmeasure.org code=mm[Hg] [90.5,91.5)",
			"component-value-quantity code=mmHg [90.5,91.5)",
			"date [2024-05-02T08:00:00Z,2024-05-02T08:05:01Z)",
			"value-concept sys=http://snomed.info/sct code=38341003 text=hypertension",
			"value-concept text=high blood pressure",
			"value-string code=High blood pressure text=high blood pressure",
		}},
		{"testdata/search/condition-age.json", []string{"onset-age", "abatement-age", "abatement-date", "onset-date"}, []string{
			"abatement-age sys=http://unitsofmeasure.org code=a [38.5,1.7976931348623157e+308)",
			"abatement-age code=yr [38.5,1.7976931348623157e+308)",
			"onset-age sys=http://unitsofmeasure.org code=a [37.5,38.5)",
			"onset-age code=yr [37.5,38.5)",
		}},
		{"testdata/search/condition-date.json", []string{"onset-date", "abatement-date", "code"}, []string{
			"abatement-date [2015-01-01T00:00:00Z,+inf)",
			"code text=migraine",
			"onset-date [2010-01-01T00:00:00Z,2011-01-01T00:00:00Z)",
		}},
		{"testdata/search/communication-reply.json", []string{"priority", "instantiates-canonical", "instantiates-uri", "received"}, []string{
			"instantiates-canonical url=http://example.org/fhir/PlanDefinition/follow-up",
			"instantiates-uri text=http://example.org/protocols/follow-up",
			"priority code=stat",
			"received [2024-05-03T09:00:02.5Z,2024-05-03T09:00:02.6Z)",
		}},
		{"testdata/search/schedule.json", []string{"date", "actor"}, []string{
			"actor ref=Practitioner/prac-okafor",
			"actor ref=Location/loc-riverside-clinic-3",
			"date [2024-06-01T13:00:00Z,2024-06-30T22:00:01Z)",
		}},
		{fixtureDir + "/invoice-office-visit.json", []string{"totalnet", "totalgross", "participant-role"}, []string{
			"participant-role text=attending physician",
			"totalgross sys=urn:iso:std:iso:4217 code=USD [126.755,126.765)",
			"totalnet sys=urn:iso:std:iso:4217 code=USD [125.495,125.505)",
		}},
		{fixtureDir + "/observation-lab.json", []string{"specimen", "value-quantity"}, []string{
			"value-quantity sys=http://unitsofmeasure.org code=mg/dL [1.495,1.505)",
		}},
	}
	for _, tt := range tests {
		got := entryStrings(extractFile(t, tt.file), tt.params...)
		sort.Strings(got)
		want := slices.Clone(tt.want)
		sort.Strings(want)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got:\n  %s\nwant:\n  %s", tt.file, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
	}
}

// TestExtractPrioritySort: _sort=priority ascending gives stat, asap, urgent, routine.
func TestExtractPrioritySort(t *testing.T) {
	var keys []string
	byKey := map[string]string{}
	for _, p := range []string{"routine", "asap", "stat", "urgent"} {
		r := mustResource(t, `{"resourceType":"Communication","status":"completed","priority":"`+p+`"}`)
		es, err := ExtractIndex(r)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if e.Param == "priority" {
				keys = append(keys, e.SortKey)
				byKey[e.SortKey] = e.Code
			}
		}
	}
	sort.Strings(keys)
	var got []string
	for _, k := range keys {
		got = append(got, byKey[k])
	}
	if want := []string{"stat", "asap", "urgent", "routine"}; !reflect.DeepEqual(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
	if sp := LookupSearchParam("Communication", "priority"); sp == nil || sp.Type != "token" || sp.Expression != "Communication.priority" {
		t.Errorf("LookupSearchParam(Communication, priority) = %+v", sp)
	}
}

func TestSortKeys(t *testing.T) {
	vals := []float64{-1e15, -5, -0.5, 0, 1e-9, 0.5, 1, 100, 1.7e12, 1e15}
	for i := 1; i < len(vals); i++ {
		if !(FloatSortKey(vals[i-1]) < FloatSortKey(vals[i])) {
			t.Errorf("key(%v) >= key(%v)", vals[i-1], vals[i])
		}
	}
}

// TestExtractReferences: the reference forms.
func TestExtractReferences(t *testing.T) {
	r := mustResource(t, `{"resourceType":"Observation","status":"final","code":{"text":"x"},
		"contained":[{"resourceType":"Patient","id":"c1"}],
		"performer":[{"reference":"Practitioner/p1/_history/3"},{"reference":"https://me.example/fhir/Organization/o1"},
			{"reference":"https://other.example/fhir/Organization/o2"},{"reference":"urn:uuid:6e1c"},{"reference":"#c1"},
			{"type":"Practitioner","identifier":{"system":"http://hl7.org/fhir/sid/us-npi","value":"123"}}]}`)
	es, err := ExtractIndexBase(r, "https://me.example/fhir/")
	if err != nil {
		t.Fatal(err)
	}
	got := entryStrings(es, "performer")
	want := []string{
		"performer ref=Practitioner/p1",
		"performer ref=Organization/o1",
		"performer ref=Organization url=https://other.example/fhir/Organization/o2",
		"performer url=urn:uuid:6e1c",
		"performer sys=http://hl7.org/fhir/sid/us-npi code=123 ref=Practitioner",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// TestExtractAllTypes: a minimal resource of every type extracts without error.
func TestExtractAllTypes(t *testing.T) {
	for _, rt := range ResourceTypes {
		v, err := ParseJSON([]byte(`{"resourceType":"` + rt + `","id":"x","meta":{"lastUpdated":"2024-01-01T00:00:00Z"}}`))
		if err != nil {
			t.Fatal(err)
		}
		es, err := ExtractIndex(&Resource{Root: v}) // not validated: required elements are missing

		if err != nil {
			t.Errorf("%s: %v", rt, err)
		}
		if len(es) < 2 { // _id and _lastUpdated
			t.Errorf("%s: %d entries", rt, len(es))
		}
	}
}

func BenchmarkExtractIndex(b *testing.B) {
	for _, name := range []string{"observation-lab.json", "patient-full.json"} {
		r := fixture(b, name)
		if _, err := ExtractIndex(r); err != nil {
			b.Fatal(err)
		}
		b.Run(strings.TrimSuffix(name, ".json"), func(b *testing.B) {
			b.ReportAllocs()
			start := processCPU()
			for b.Loop() {
				if _, err := ExtractIndex(r); err != nil {
					b.Fatal(err)
				}
			}
			// CPU time of the process (garbage collection included) per operation: what the
			// wall-clock ns/op would be on an idle machine.
			b.ReportMetric(float64(processCPU()-start)/float64(b.N), "cpu-ns/op")
		})
	}
}

func timeUTC(msec int64) string {
	return time.UnixMilli(msec).UTC().Format("2006-01-02T15:04:05.999Z07:00")
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestExtractConcurrent: the lazily compiled registry and the pooled evaluation state are
// safe for concurrent writers (run with -race).
func TestExtractConcurrent(t *testing.T) {
	rs := exampleResources(t)
	want := make([][]string, len(rs))
	for i, r := range rs {
		es, err := ExtractIndex(r)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = entryStrings(es)
	}
	done := make(chan error)
	for g := 0; g < 4; g++ {
		go func() {
			for k := 0; k < 20; k++ {
				for i, r := range rs {
					es, err := ExtractIndex(r)
					if err == nil && !reflect.DeepEqual(entryStrings(es), want[i]) {
						err = fmt.Errorf("%s/%s: entries differ", r.Type(), r.ID())
					}
					if err != nil {
						done <- err
						return
					}
				}
			}
			done <- nil
		}()
	}
	for g := 0; g < 4; g++ {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
