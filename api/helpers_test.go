package api_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/portico-health/portico/api"
	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/policy"
	"github.com/portico-health/portico/store"
	"github.com/portico-health/portico/store/sqlite"
)

// server is an API over a real SQLite store, served by httptest.
type server struct {
	t     testing.TB
	URL   string // the FHIR base: http://127.0.0.1:port/fhir
	Store store.Store
	logs  *syncBuffer
	h     http.Handler // the Echo instance, for in-process benchmarks
}

type options struct {
	maxBody  int64
	count    int
	maxCount int
	wrap     func(store.Store) store.Store // wraps the real store (fault injection)
	hooks    []api.WriteHook
	now      func() time.Time
	policy   *policy.Policy
	// searchTimeout is api.Config.SearchTimeout.
	searchTimeout time.Duration
	// principal, when set, is put in every request's context as the caller.
	principal func() policy.Principal
}

func newServer(t testing.TB, opts ...func(*options)) *server {
	t.Helper()
	var o options
	for _, f := range opts {
		f(&o)
	}
	st, err := sqlite.Open(context.Background(), sqlite.Config{Dir: t.TempDir(), Sync: "normal"})
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	var s store.Store = st
	if o.wrap != nil {
		s = o.wrap(st)
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	srv := httptest.NewUnstartedServer(e)
	srv.Start()
	t.Cleanup(srv.Close)
	logs := &syncBuffer{}
	a, err := api.New(api.Config{
		Store:        s,
		BaseURL:      srv.URL + "/fhir",
		Logger:       slog.New(slog.NewTextHandler(io.MultiWriter(logs, t.Output()), nil)),
		MaxBodyBytes: o.maxBody,
		DefaultCount: o.count,
		MaxCount:     o.maxCount,
		WriteHooks:   o.hooks,
		Now:          o.now,
		Policy:       o.policy,

		SearchTimeout: o.searchTimeout,
	})
	if err != nil {
		t.Fatalf("api.New: %v", err)
	}
	e.HTTPErrorHandler = a.HTTPErrorHandler
	g := e.Group("/fhir")
	if o.principal != nil {
		g.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
			return func(c echo.Context) error {
				r := c.Request()
				c.SetRequest(r.WithContext(policy.WithPrincipal(r.Context(), o.principal())))
				return next(c)
			}
		})
	}
	a.Register(g)
	return &server{t: t, URL: srv.URL + "/fhir", Store: s, logs: logs, h: e}
}

// response is a finished HTTP exchange.
type response struct {
	*http.Response
	Body []byte
}

// do sends a request; path is relative to the FHIR base; hdr holds name/value pairs.
func (s *server) do(method, path string, body string, hdr ...string) response {
	s.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(s.t.Context(), method, s.URL+path, rd)
	if err != nil {
		s.t.Fatalf("NewRequest: %v", err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatalf("reading the response: %v", err)
	}
	return response{Response: resp, Body: b}
}

// create POSTs a resource and returns its id, failing the test unless the answer is 201.
func (s *server) create(body string) string {
	s.t.Helper()
	r := s.do("POST", "/"+resourceType(s.t, body), body)
	if r.StatusCode != http.StatusCreated {
		s.t.Fatalf("create: %d %s", r.StatusCode, r.Body)
	}
	return jsonString(s.t, r.Body, "id")
}

// versions counts every stored version of every resource (tombstones included).
func (s *server) versions() int {
	s.t.Helper()
	n := 0
	q := store.HistoryQuery{Count: 1000}
	for {
		p, err := s.Store.History(s.t.Context(), q)
		if err != nil {
			s.t.Fatalf("History: %v", err)
		}
		n += len(p.Records)
		if p.Next == "" {
			return n
		}
		q.Cursor = p.Next
	}
}

// wantStatus fails the test unless r has the status.
func wantStatus(t *testing.T, r response, status int) {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("status %d, want %d; body %s", r.StatusCode, status, r.Body)
	}
}

// wantOutcome checks that r is an OperationOutcome with the status and an issue with the code.
func wantOutcome(t *testing.T, r response, status int, code string) {
	t.Helper()
	wantStatus(t, r, status)
	if ct := r.Header.Get("Content-Type"); ct != "application/fhir+json; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	v, err := fhir.ParseJSON(r.Body)
	if err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, r.Body)
	}
	if rt := v.Get("resourceType"); rt == nil || rt.Text != "OperationOutcome" {
		t.Fatalf("not an OperationOutcome: %s", r.Body)
	}
	if code == "" {
		return
	}
	for _, is := range v.Get("issue").Arr {
		if c := is.Get("code"); c != nil && c.Text == code {
			return
		}
	}
	t.Errorf("no issue with code %q: %s", code, r.Body)
}

func parse(t testing.TB, b []byte) fhir.Value {
	t.Helper()
	v, err := fhir.ParseJSON(b)
	if err != nil {
		t.Fatalf("not JSON: %v: %s", err, b)
	}
	return v
}

// jsonString is the string at a path of member names in a JSON document.
func jsonString(t testing.TB, b []byte, path ...string) string {
	t.Helper()
	v := parse(t, b)
	cur := &v
	for _, p := range path {
		if cur = cur.Get(p); cur == nil {
			t.Fatalf("no %v in %s", path, b)
		}
	}
	return cur.Text
}

func resourceType(t testing.TB, body string) string {
	return jsonString(t, []byte(body), "resourceType")
}

// withoutServerMeta removes what the server owns (id, meta.versionId, meta.lastUpdated, and
// meta when nothing else is left in it) and re-encodes compactly.
func withoutServerMeta(t *testing.T, b []byte) string {
	t.Helper()
	v := parse(t, b)
	v.Delete("id")
	if m := v.Get("meta"); m != nil {
		m.Delete("versionId")
		m.Delete("lastUpdated")
		if len(m.Obj) == 0 {
			v.Delete("meta")
		}
	}
	return string(fhir.AppendJSON(nil, v))
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var _ = time.Second
