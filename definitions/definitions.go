// Package definitions holds Portico's own FHIR definitions, the one source of truth for them:
// the StructureDefinitions of the triage extensions, the CodeSystems and ValueSets of Portico's
// codes, the SearchParameters Portico adds, the OperationDefinition of $triage-stats and the
// screening Questionnaire. They are the JSON files of package/, an NPM FHIR package
// (portico.fhir, FHIR 4.0.1) that validators load as they are; the server writes them into its
// store at start (so read and search serve them) and package fhir reads its own search
// parameters from them. docs/definitions.md says how to add one.
//
// The package imports only the standard library: package fhir depends on it.
package definitions

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
)

// Base is the canonical base of everything Portico defines: a definition's url is
// Base/<resourceType>/<id>.
const Base = "http://portico.health/fhir"

// LegacyBase is the https form some canonicals had before one base was chosen: resources
// stored then may still carry it (docs/definitions.md, "The canonical base").
const LegacyBase = "https://portico.health/fhir"

//go:embed package/*.json
var files embed.FS

// Dir is the package's folder inside this package's source directory.
const Dir = "package"

// Resource is one definition of the package.
type Resource struct {
	File    string // the file name in package/: "<resourceType>-<id>.json"
	Type    string // resourceType
	ID      string
	URL     string // its canonical url
	Version string
	JSON    []byte // the file's content
}

// Manifest is the package's package.json (the members Portico reads).
type Manifest struct {
	Name         string            `json:"name"`
	Version      string            `json:"version"`
	Canonical    string            `json:"canonical"`
	FHIRVersions []string          `json:"fhirVersions"`
	Dependencies map[string]string `json:"dependencies"`
}

type loaded struct {
	manifest Manifest
	all      []Resource
	byURL    map[string]int
}

// load reads the embedded package once. A file it cannot read is a bug of the repository,
// which the package's tests report: it panics.
var load = sync.OnceValue(func() *loaded {
	l := &loaded{byURL: map[string]int{}}
	if err := l.read(); err != nil {
		panic("definitions: " + err.Error())
	}
	return l
})

func (l *loaded) read() error {
	data, err := files.ReadFile(path.Join(Dir, "package.json"))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, &l.manifest); err != nil {
		return fmt.Errorf("package.json: %w", err)
	}
	entries, err := fs.ReadDir(files, Dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if name == "package.json" || strings.HasPrefix(name, ".") {
			continue
		}
		data, err := files.ReadFile(path.Join(Dir, name))
		if err != nil {
			return err
		}
		var head struct {
			ResourceType, ID, URL, Version string
		}
		if err := json.Unmarshal(data, &head); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if head.ResourceType == "" || head.ID == "" || head.URL == "" {
			return fmt.Errorf("%s: resourceType, id and url are required", name)
		}
		if _, dup := l.byURL[head.URL]; dup {
			return fmt.Errorf("%s: url %s is defined twice", name, head.URL)
		}
		l.byURL[head.URL] = len(l.all)
		l.all = append(l.all, Resource{File: name, Type: head.ResourceType, ID: head.ID, URL: head.URL,
			Version: head.Version, JSON: data})
	}
	return nil
}

// PackageManifest is package.json.
func PackageManifest() Manifest { return load().manifest }

// All returns every definition, sorted by file name. The slice is shared: do not modify it.
func All() []Resource { return load().all }

// OfType returns the definitions of one resource type, sorted by file name.
func OfType(resourceType string) []Resource {
	var out []Resource
	for _, r := range load().all {
		if r.Type == resourceType {
			out = append(out, r)
		}
	}
	return out
}

// Lookup returns the definition of a canonical URL: with or without "|version", in the http
// base or the legacy https one.
func Lookup(canonical string) (Resource, bool) {
	url, _, _ := strings.Cut(canonical, "|")
	url = Canonical(url)
	l := load()
	i, ok := l.byURL[url]
	if !ok {
		return Resource{}, false
	}
	return l.all[i], true
}

// Canonical returns url in the canonical base: a url in the legacy https base is rewritten,
// any other is returned as it is.
func Canonical(url string) string {
	if rest, ok := strings.CutPrefix(url, LegacyBase+"/"); ok {
		return Base + "/" + rest
	}
	return url
}

// IndexFile is the name of the package's index (the NPM FHIR package convention).
const IndexFile = ".index.json"

// Index is the content .index.json must have: version 1 of the format, an entry per
// definition with the members validators read.
func Index() []byte {
	type entry struct {
		Filename     string `json:"filename"`
		ResourceType string `json:"resourceType"`
		ID           string `json:"id"`
		URL          string `json:"url"`
		Version      string `json:"version,omitempty"`
		Kind         string `json:"kind,omitempty"`
		Type         string `json:"type,omitempty"`
		Content      string `json:"content,omitempty"`
	}
	idx := struct {
		IndexVersion int     `json:"index-version"`
		Files        []entry `json:"files"`
	}{IndexVersion: 1}
	for _, r := range All() {
		e := entry{Filename: r.File, ResourceType: r.Type, ID: r.ID, URL: r.URL, Version: r.Version}
		var more struct{ Kind, Type, Content string }
		_ = json.Unmarshal(r.JSON, &more) // read once already
		switch r.Type {
		case "StructureDefinition":
			e.Kind, e.Type = more.Kind, more.Type
		case "CodeSystem":
			e.Content = more.Content
		}
		idx.Files = append(idx.Files, e)
	}
	slices.SortFunc(idx.Files, func(a, b entry) int { return strings.Compare(a.Filename, b.Filename) })
	out, _ := json.MarshalIndent(idx, "", "  ")
	return append(out, '\n')
}
