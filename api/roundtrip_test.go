package api_test

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// TestRoundTrip creates every example resource and reads it back: what the client sent
// comes back exactly (member order, decimals, primitive extensions, escapes) apart from id
// and meta.versionId/lastUpdated, and read serves the same bytes that create returned.
func TestRoundTrip(t *testing.T) {
	s := newServer(t)
	var files []string
	for _, pattern := range []string{"testdata/*.json", "../testdata/resources/*.json"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Fatal("no example resources found")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			typ := resourceType(t, string(data))
			created := s.do("POST", "/"+typ, string(data))
			wantStatus(t, created, http.StatusCreated)
			if got, want := withoutServerMeta(t, created.Body), withoutServerMeta(t, data); got != want {
				t.Fatalf("create changed the resource:\n got %s\nwant %s", got, want)
			}
			id := jsonString(t, created.Body, "id")
			if v := jsonString(t, created.Body, "meta", "versionId"); v != "1" {
				t.Errorf("meta.versionId %q, want 1", v)
			}
			read := s.do("GET", "/"+typ+"/"+id, "")
			wantStatus(t, read, http.StatusOK)
			if string(read.Body) != string(created.Body) {
				t.Errorf("read differs from create:\n read %s\ncreate %s", read.Body, created.Body)
			}
			// An update with the body read back changes nothing but the version.
			updated := s.do("PUT", "/"+typ+"/"+id, string(read.Body))
			wantStatus(t, updated, http.StatusOK)
			if got, want := withoutServerMeta(t, updated.Body), withoutServerMeta(t, data); got != want {
				t.Errorf("update changed the resource:\n got %s\nwant %s", got, want)
			}
		})
	}
}
