package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// client talks FHIR JSON to one Portico over loopback, with keep-alive connections.
type client struct {
	base string // http://ADDR/fhir
	hc   *http.Client
}

func newClient(base string) *client {
	return &client{base: base, hc: &http.Client{Timeout: 10 * time.Second,
		Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16}}}
}

// response is one answer, read whole.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends one request; path is relative to the FHIR base unless it is an absolute URL.
func (c *client) do(ctx context.Context, method, path string, body []byte, hdr ...string) (response, error) {
	u := path
	if !strings.HasPrefix(path, "http") {
		u = c.base + "/" + path
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return response{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	return response{status: resp.StatusCode, header: resp.Header, body: data}, nil
}

// written parses the id and version of a write's answer from Content-Location
// ([base]/[type]/[id]/_history/[vid]) and checks the ETag agrees.
func written(r response) (id string, version int64, err error) {
	loc := r.header.Get("Content-Location")
	parts := strings.Split(loc, "/")
	if len(parts) < 4 || parts[len(parts)-2] != "_history" {
		return "", 0, fmt.Errorf("Content-Location %q is not a version URL", loc)
	}
	version, err = strconv.ParseInt(parts[len(parts)-1], 10, 64)
	if err != nil {
		return "", 0, fmt.Errorf("Content-Location %q: %w", loc, err)
	}
	if et := r.header.Get("ETag"); et != fmt.Sprintf(`W/"%d"`, version) {
		return "", 0, fmt.Errorf("ETag %q does not name version %d of Content-Location", et, version)
	}
	return parts[len(parts)-3], version, nil
}

// contentHash hashes a resource without id and meta (what the server sets), with members in
// a canonical order and numbers as written: equal hashes mean equal content.
func contentHash(data []byte) (string, error) {
	m, err := decodeObject(data)
	if err != nil {
		return "", err
	}
	delete(m, "id")
	delete(m, "meta")
	out, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(out)
	return hex.EncodeToString(sum[:]), nil
}

// decodeObject decodes one JSON object, keeping number literals, and refuses trailing data.
func decodeObject(data []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("trailing data after the JSON object")
	}
	if m == nil {
		return nil, fmt.Errorf("not a JSON object: %.80s", data)
	}
	return m, nil
}

// example reads one of the repository's example resources without id and meta.
func example(t testing.TB, name string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "testdata", "resources", name))
	if err != nil {
		t.Fatal(err)
	}
	m, err := decodeObject(data)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	delete(m, "id")
	delete(m, "meta")
	return m
}

// clone deep-copies a decoded JSON value through its encoding.
func clone(t testing.TB, m map[string]any) map[string]any {
	t.Helper()
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	c, err := decodeObject(data)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// bundleEntries follows a Bundle's "next" links from path and returns every entry; each page
// must be valid JSON.
func (c *client) bundleEntries(ctx context.Context, path string) ([]map[string]any, error) {
	var out []map[string]any
	for page := 0; path != ""; page++ {
		if page > 10_000 {
			return nil, fmt.Errorf("%s: more than 10,000 pages", path)
		}
		r, err := c.do(ctx, http.MethodGet, path, nil)
		if err != nil {
			return nil, err
		}
		if r.status != http.StatusOK {
			return nil, fmt.Errorf("GET %s: status %d: %.300s", path, r.status, r.body)
		}
		var b struct {
			Link []struct {
				Relation, URL string
			}
			Entry []map[string]any
		}
		dec := json.NewDecoder(bytes.NewReader(r.body))
		dec.UseNumber()
		if err := dec.Decode(&b); err != nil {
			return nil, fmt.Errorf("GET %s: the Bundle is not valid JSON: %w", path, err)
		}
		out = append(out, b.Entry...)
		path = ""
		for _, l := range b.Link {
			if l.Relation == "next" {
				path = l.URL
			}
		}
	}
	return out, nil
}

// versionOf is meta.versionId of a decoded resource, 0 when absent or malformed.
func versionOf(res map[string]any) int64 {
	meta, _ := res["meta"].(map[string]any)
	s, _ := meta["versionId"].(string)
	v, _ := strconv.ParseInt(s, 10, 64)
	return v
}
