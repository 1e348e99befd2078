package definitions_test

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/portico-health/portico/definitions"
	"github.com/portico-health/portico/fhir"
)

// update rewrites the generated files of the package (.index.json here, the screening
// Questionnaire in triage/triagehook) instead of failing when they differ.
var update = os.Getenv("PORTICO_UPDATE_DEFINITIONS") == "1"

func decode(t *testing.T, r definitions.Resource) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.JSON, &m); err != nil {
		t.Fatalf("%s: %v", r.File, err)
	}
	return m
}

func TestManifest(t *testing.T) {
	m := definitions.PackageManifest()
	if m.Name != "portico.fhir" || m.Canonical != definitions.Base || !slices.Equal(m.FHIRVersions, []string{"4.0.1"}) ||
		len(m.Dependencies) != 1 || m.Dependencies["hl7.fhir.r4.core"] != "4.0.1" {
		t.Errorf("package.json: %+v", m)
	}
	if !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(m.Version) {
		t.Errorf("package version %q is not MAJOR.MINOR.PATCH", m.Version)
	}
	data, err := os.ReadFile(filepath.Join(definitions.Dir, "package.json"))
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil || raw["url"] != definitions.Base {
		t.Errorf("package.json url: %v %v", raw["url"], err)
	}
}

// TestResources: every file is a valid R4 resource (Portico's own validation, which the server
// applies when it writes them), named <resourceType>-<id>.json, at <Base>/<resourceType>/<id>,
// active, of the package's version. Only the screening Questionnaire has a version of its own:
// the version of its questions, which QuestionnaireResponses cite.
func TestResources(t *testing.T) {
	all := definitions.All()
	if len(all) < 20 {
		t.Fatalf("%d definitions", len(all))
	}
	version := definitions.PackageManifest().Version
	for _, r := range all {
		if _, err := fhir.ParseResource(r.JSON); err != nil {
			t.Errorf("%s: not a valid R4 resource: %v", r.File, err)
		}
		if r.File != r.Type+"-"+r.ID+".json" {
			t.Errorf("%s: the file of %s/%s must be %s-%s.json", r.File, r.Type, r.ID, r.Type, r.ID)
		}
		if r.URL != definitions.Base+"/"+r.Type+"/"+r.ID {
			t.Errorf("%s: url %s, want %s/%s/%s", r.File, r.URL, definitions.Base, r.Type, r.ID)
		}
		if r.Version != version && r.Type != "Questionnaire" {
			t.Errorf("%s: version %q, the package's is %q", r.File, r.Version, version)
		}
		m := decode(t, r)
		if m["status"] != "active" || m["publisher"] != "Portico" || m["description"] == nil {
			t.Errorf("%s: status %v, publisher %v, description %v", r.File, m["status"], m["publisher"], m["description"] != nil)
		}
		// A computer-friendly name (the R4 invariants *-0), which validators warn about.
		if name, _ := m["name"].(string); !regexp.MustCompile(`^[A-Z][A-Za-z0-9_]{0,254}$`).MatchString(name) {
			t.Errorf("%s: name %q", r.File, name)
		}
		if got, ok := definitions.Lookup(strings.Replace(r.URL, "http:", "https:", 1) + "|" + r.Version); !ok || got.File != r.File {
			t.Errorf("Lookup of the legacy form of %s: %v %v", r.URL, got.File, ok)
		}
	}
	if _, ok := definitions.Lookup(definitions.Base + "/StructureDefinition/nothing"); ok {
		t.Error("Lookup found an undefined url")
	}
}

// TestIndex: package/.index.json lists every file, as validators read it.
// PORTICO_UPDATE_DEFINITIONS=1 rewrites it.
func TestIndex(t *testing.T) {
	path := filepath.Join(definitions.Dir, definitions.IndexFile)
	want := definitions.Index()
	got, err := os.ReadFile(path)
	if update {
		if !bytes.Equal(got, want) {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("%s is not up to date (%v): run PORTICO_UPDATE_DEFINITIONS=1 go test ./definitions -run TestIndex", path, err)
	}
	// Every file of the folder is in the package (a file the embed pattern misses is not served).
	entries, err := os.ReadDir(definitions.Dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]bool{}
	for _, r := range definitions.All() {
		files[r.File] = true
	}
	for _, e := range entries {
		if n := e.Name(); n != "package.json" && n != definitions.IndexFile && !files[n] {
			t.Errorf("%s/%s is not read by the package (only <resourceType>-<id>.json files are)", definitions.Dir, n)
		}
	}
}

type element struct {
	ID, Path, SliceName, Max string
	Min                      *int
	FixedURI                 string
	Slicing                  *struct {
		Discriminator []struct{ Type, Path string }
		Rules         string
	}
	Type []struct {
		Code          string
		TargetProfile []string
	}
	Binding *struct{ Strength, ValueSet string }
}

type structureDefinition struct {
	URL, FHIRVersion, Kind, Type, BaseDefinition, Derivation string
	Abstract                                                 bool
	Context                                                  []struct{ Type, Expression string }
	Snapshot                                                 any
	Differential                                             struct{ Element []element }
}

// TestStructureDefinitions holds each extension's definition to what a validator needs to
// build its snapshot from the differential: an R4 constraint on Extension, with an element
// context that exists in R4, the differential in the order of Extension's elements (a slice's
// own elements after it), Extension.url fixed to the url, and either one typed value[x] (no
// sub-extensions) or sub-extensions sliced by url, each with its url fixed to its name and a
// typed value.
func TestStructureDefinitions(t *testing.T) {
	sds := definitions.OfType("StructureDefinition")
	if len(sds) == 0 {
		t.Fatal("no StructureDefinition")
	}
	for _, r := range sds {
		var sd structureDefinition
		if err := json.Unmarshal(r.JSON, &sd); err != nil {
			t.Fatalf("%s: %v", r.File, err)
		}
		if sd.FHIRVersion != "4.0.1" || sd.Kind != "complex-type" || sd.Abstract || sd.Type != "Extension" ||
			sd.BaseDefinition != "http://hl7.org/fhir/StructureDefinition/Extension" || sd.Derivation != "constraint" || sd.Snapshot != nil {
			t.Errorf("%s: fhirVersion %s, kind %s, abstract %v, type %s, baseDefinition %s, derivation %s, snapshot %v",
				r.File, sd.FHIRVersion, sd.Kind, sd.Abstract, sd.Type, sd.BaseDefinition, sd.Derivation, sd.Snapshot != nil)
		}
		if len(sd.Context) == 0 {
			t.Errorf("%s: an extension needs a context (sdf-5)", r.File)
		}
		for _, c := range sd.Context {
			if c.Type != "element" || fhir.LookupElement(c.Expression) == nil && !fhir.IsResourceType(c.Expression) {
				t.Errorf("%s: context %s %q is not an element of R4", r.File, c.Type, c.Expression)
			}
		}
		checkDifferential(t, r.File, sd)
	}
}

// order is the rank of Extension's elements, and of those of a sub-extension in a slice.
var order = map[string]int{"": 0, "extension": 1, "url": 2, "value[x]": 3}

func checkDifferential(t *testing.T, file string, sd structureDefinition) {
	t.Helper()
	els := sd.Differential.Element
	if len(els) == 0 || els[0].ID != "Extension" || els[0].Path != "Extension" {
		t.Errorf("%s: the differential starts with Extension", file)
		return
	}
	byID := map[string]element{}
	var names []string    // the slices (sub-extensions), in order
	last := -1            // rank of the last element of Extension itself
	cur, curLast := "", 0 // the current slice, and the rank of its last element
	for _, el := range els {
		if _, dup := byID[el.ID]; dup {
			t.Errorf("%s: element %s twice", file, el.ID)
		}
		byID[el.ID] = el
		// The path is the id without slice names.
		if want := regexp.MustCompile(`:[^.]+`).ReplaceAllString(el.ID, ""); el.Path != want {
			t.Errorf("%s: %s has path %s, want %s", file, el.ID, el.Path, want)
		}
		rest := strings.TrimPrefix(strings.TrimPrefix(el.ID, "Extension"), ".")
		if sliced, ok := strings.CutPrefix(rest, "extension:"); ok {
			name, sub, child := strings.Cut(sliced, ".")
			if !child {
				if el.SliceName != name || el.Min == nil || el.Max != "1" {
					t.Errorf("%s: slice %s: sliceName %q, min %v, max %q", file, el.ID, el.SliceName, el.Min, el.Max)
				}
				if last != order["extension"] {
					t.Errorf("%s: slice %s is not right after Extension.extension or another slice", file, el.ID)
				}
				names = append(names, name)
				cur, curLast = name, 0
				continue
			}
			if rank, ok := order[sub]; !ok || name != cur || rank <= curLast {
				t.Errorf("%s: %s is not in order after its slice", file, el.ID)
			} else {
				curLast = rank
			}
			continue
		}
		rank, ok := order[rest]
		if !ok || rank <= last {
			t.Errorf("%s: %s is out of Extension's order", file, el.ID)
		}
		last, cur = rank, ""
	}

	if u := byID["Extension.url"]; u.FixedURI != sd.URL {
		t.Errorf("%s: Extension.url is fixed to %q, not the url", file, u.FixedURI)
	}
	value := byID["Extension.value[x]"]
	if len(names) == 0 {
		if byID["Extension.extension"].Max != "0" {
			t.Errorf("%s: an extension with a value has Extension.extension max 0", file)
		}
		checkValue(t, file, "Extension.value[x]", value)
		return
	}
	if value.Max != "0" {
		t.Errorf("%s: a complex extension has Extension.value[x] max 0", file)
	}
	sl := byID["Extension.extension"].Slicing
	if sl == nil || len(sl.Discriminator) != 1 || sl.Discriminator[0].Type != "value" || sl.Discriminator[0].Path != "url" {
		t.Errorf("%s: Extension.extension is sliced by the value of url", file)
	}
	for _, name := range names {
		p := "Extension.extension:" + name
		if byID[p+".url"].FixedURI != name {
			t.Errorf("%s: %s.url is fixed to %q", file, p, byID[p+".url"].FixedURI)
		}
		if byID[p+".extension"].Max != "0" {
			t.Errorf("%s: %s.extension max 0: sub-extensions have a value", file, p)
		}
		checkValue(t, file, p+".value[x]", byID[p+".value[x]"])
	}
}

func checkValue(t *testing.T, file, id string, el element) {
	t.Helper()
	if el.Min == nil || *el.Min != 1 || len(el.Type) == 0 {
		t.Errorf("%s: %s needs min 1 and its types", file, id)
	}
	for _, tp := range el.Type {
		if fhir.LookupType(tp.Code) == nil {
			t.Errorf("%s: %s: %q is not an R4 type", file, id, tp.Code)
		}
		for _, p := range tp.TargetProfile {
			if !fhir.IsResourceType(strings.TrimPrefix(p, "http://hl7.org/fhir/StructureDefinition/")) {
				t.Errorf("%s: %s: target profile %s", file, id, p)
			}
		}
	}
	if b := el.Binding; b != nil {
		checkBinding(t, file, id, b.Strength, b.ValueSet)
	}
}

// nonRequired are R4 value sets bound with less than required strength that definitions use:
// the fhir package has only those of required bindings.
var nonRequired = map[string]bool{"http://hl7.org/fhir/ValueSet/all-languages": true}

func checkBinding(t *testing.T, file, where, strength, vs string) {
	t.Helper()
	switch {
	case !slices.Contains([]string{"required", "extensible", "preferred", "example"}, strength):
		t.Errorf("%s: %s: binding strength %q", file, where, strength)
	case strings.HasPrefix(vs, definitions.Base+"/"):
		if r, ok := definitions.Lookup(vs); !ok || r.Type != "ValueSet" {
			t.Errorf("%s: %s: value set %s is not in the package", file, where, vs)
		}
	case fhir.LookupValueSet(vs) == nil && !nonRequired[vs]:
		t.Errorf("%s: %s: value set %s is neither the package's nor R4's", file, where, vs)
	}
}

// TestTerminology: each CodeSystem is complete, lists its codes once, and has the ValueSet of
// all its codes at the url it names; each ValueSet includes CodeSystems of the package.
func TestTerminology(t *testing.T) {
	for _, r := range definitions.OfType("CodeSystem") {
		m := decode(t, r)
		concepts, _ := m["concept"].([]any)
		seen := map[string]bool{}
		for _, c := range concepts {
			code, _ := c.(map[string]any)["code"].(string)
			display, _ := c.(map[string]any)["display"].(string)
			if code == "" || display == "" || seen[code] {
				t.Errorf("%s: concept %v", r.File, c)
			}
			seen[code] = true
		}
		if m["content"] != "complete" || m["caseSensitive"] != true || m["count"] != float64(len(concepts)) || len(concepts) == 0 {
			t.Errorf("%s: content %v, caseSensitive %v, count %v of %d concepts", r.File, m["content"], m["caseSensitive"], m["count"], len(concepts))
		}
		vs, ok := definitions.Lookup(definitions.Base + "/ValueSet/" + r.ID)
		if !ok || m["valueSet"] != vs.URL {
			t.Errorf("%s: the ValueSet of all its codes is %s/ValueSet/%s (valueSet %v)", r.File, definitions.Base, r.ID, m["valueSet"])
		}
	}
	for _, r := range definitions.OfType("ValueSet") {
		var vs struct {
			Compose struct{ Include []struct{ System string } }
		}
		json.Unmarshal(r.JSON, &vs)
		if len(vs.Compose.Include) == 0 {
			t.Errorf("%s: includes nothing", r.File)
		}
		for _, inc := range vs.Compose.Include {
			if cs, ok := definitions.Lookup(inc.System); !ok || cs.Type != "CodeSystem" {
				t.Errorf("%s: includes %s, not a CodeSystem of the package", r.File, inc.System)
			}
		}
	}
}

// TestSearchParameters: each SearchParameter is served by the search the fhir package does
// (LookupSearchParam finds it by base and code, with its url and expression).
func TestSearchParameters(t *testing.T) {
	sps := definitions.OfType("SearchParameter")
	if len(sps) == 0 {
		t.Fatal("no SearchParameter")
	}
	for _, r := range sps {
		var sp struct {
			URL, Code, Type, Expression, XpathUsage string
			Base                                    []string
		}
		json.Unmarshal(r.JSON, &sp)
		for _, base := range sp.Base {
			got := fhir.LookupSearchParam(base, sp.Code)
			if got == nil || got.URL != sp.URL || got.Expression != sp.Expression || got.Type != sp.Type {
				t.Errorf("%s: search on %s?%s uses %+v", r.File, base, sp.Code, got)
			}
			if !strings.HasPrefix(sp.Expression, base+".") {
				t.Errorf("%s: expression %q is not on %s", r.File, sp.Expression, base)
			}
		}
		if got := fhir.LookupSearchParamURL(sp.URL); got == nil || got.Code != sp.Code {
			t.Errorf("%s: LookupSearchParamURL: %+v", r.File, got)
		}
	}
}

// TestOperationDefinitions: each parameter has a type or parts (opd-1), a search type only
// on a string (opd-2), a binding only to a known value set, and parts with the same rules.
func TestOperationDefinitions(t *testing.T) {
	type param struct {
		Name, Use, Max, Type, SearchType string
		Min                              *int
		Binding                          *struct{ Strength, ValueSet string }
		Part                             []json.RawMessage
	}
	var check func(file, where string, raw json.RawMessage)
	check = func(file, where string, raw json.RawMessage) {
		var p param
		json.Unmarshal(raw, &p)
		where += "." + p.Name
		if p.Name == "" || (p.Use != "in" && p.Use != "out") || p.Min == nil || p.Max == "" {
			t.Errorf("%s: %s: name, use, min and max are required", file, where)
		}
		if (p.Type == "") == (len(p.Part) == 0) {
			t.Errorf("%s: %s: a type or parts, not both", file, where)
		}
		if p.Type != "" && fhir.LookupType(p.Type) == nil {
			t.Errorf("%s: %s: type %q", file, where, p.Type)
		}
		if p.SearchType != "" && p.Type != "string" {
			t.Errorf("%s: %s: searchType on a %s", file, where, p.Type)
		}
		if p.Binding != nil {
			checkBinding(t, file, where, p.Binding.Strength, p.Binding.ValueSet)
		}
		for _, part := range p.Part {
			check(file, where, part)
		}
	}
	ods := definitions.OfType("OperationDefinition")
	if len(ods) == 0 {
		t.Fatal("no OperationDefinition")
	}
	for _, r := range ods {
		var od struct {
			Code      string
			Kind      string
			Resource  []string
			Parameter []json.RawMessage
		}
		json.Unmarshal(r.JSON, &od)
		if od.Kind != "operation" || od.Code == "" || r.ID != strings.Join(od.Resource, "-")+"-"+od.Code {
			t.Errorf("%s: kind %s, code %s, resource %v: the id is <resource>-<code>", r.File, od.Kind, od.Code, od.Resource)
		}
		for _, p := range od.Parameter {
			check(r.File, "parameter", p)
		}
	}
}

var portico = regexp.MustCompile(`https?://portico\.health[^\s"'` + "`" + `<>|)\]\\,;*]*`)

// checkURL reports a URL in Portico's namespace that is not the http form of a definition, of
// the base itself, or of the folder of a type (Base/StructureDefinition, in prose).
func checkURL(u string) string {
	u, _, _ = strings.Cut(u, "#") // system#code, in prose
	u = strings.TrimRight(u, ".:/")
	switch {
	case u == definitions.Base, u == definitions.LegacyBase:
		return ""
	case strings.HasPrefix(u, definitions.LegacyBase):
		return "the legacy https form"
	case !strings.HasPrefix(u, definitions.Base+"/"):
		return "not in the canonical base " + definitions.Base
	}
	if rest := strings.TrimPrefix(u, definitions.Base+"/"); fhir.IsResourceType(strings.TrimSuffix(rest, "/")) {
		return ""
	}
	if _, ok := definitions.Lookup(u); !ok {
		return "no definition of the package"
	}
	return ""
}

// TestCanonicalsResolve: every Portico URL inside the definitions (a binding, a target, a
// url in a FHIRPath expression) is one of them.
func TestCanonicalsResolve(t *testing.T) {
	for _, r := range definitions.All() {
		for _, u := range portico.FindAllString(string(r.JSON), -1) {
			if why := checkURL(u); why != "" {
				t.Errorf("%s: %s: %s", r.File, u, why)
			}
		}
	}
}

// TestRepositoryUsesOneBase: every URL in Portico's namespace anywhere in the repository (code,
// tests, fixtures, docs, the demo) is the http form of a definition of the package, so that
// nothing names a definition Portico does not publish. Test fixtures with codes of their own
// use example.org.
func TestRepositoryUsesOneBase(t *testing.T) {
	root := ".."
	text := map[string]bool{".go": true, ".md": true, ".json": true, ".jsonl": true, ".js": true, ".html": true,
		".css": true, ".sh": true, ".yml": true, ".yaml": true, ".txt": true, ".java": true, ".py": true, ".xml": true}
	n := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "node_modules", "target":
				return fs.SkipDir
			}
			return nil
		}
		if !text[filepath.Ext(path)] && d.Name() != "Makefile" && d.Name() != "Dockerfile" {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		n++
		for _, u := range portico.FindAllString(string(data), -1) {
			if why := checkURL(u); why != "" {
				t.Errorf("%s: %s: %s", path, u, why)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 100 {
		t.Errorf("only %d files read: is the test run from definitions/?", n)
	}
}
