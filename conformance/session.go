package conformance

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// maxResponseBytes bounds what the suite reads of one response, so that a misbehaving server
// cannot exhaust its memory.
const maxResponseBytes = 64 << 20

// session is the state of one run: where the server is, how to reach it, and the resources the
// current check created.
type session struct {
	base   string
	client *http.Client
	logf   func(format string, args ...any)
	runID  string
	seq    int
	caps   *serverCaps // nil when the server's CapabilityStatement could not be read

	created []resourceRef // by the current check, deleted after it
}

type resourceRef struct{ typ, id string }

func newSession(opts Options) *session {
	s := &session{base: trimBase(opts.BaseURL), client: opts.Client, logf: opts.Logf, runID: newRunID()}
	if s.client == nil {
		s.client = &http.Client{Timeout: 30 * time.Second}
	}
	if s.logf == nil {
		s.logf = func(string, ...any) {}
	}
	return s
}

// response is one exchange, kept whole so that failures can say what was sent and received.
type response struct {
	method, path string
	status       int
	header       http.Header
	body         []byte
}

func (r *response) String() string { return fmt.Sprintf("%s %s → %d", r.method, r.path, r.status) }

// do sends one request to base/path. headers are name, value pairs; they replace the defaults,
// which are Accept: application/fhir+json, and Content-Type: application/fhir+json when there
// is a body. A value of "" removes the header.
func (s *session) do(ctx context.Context, method, path string, body []byte, headers ...string) (*response, error) {
	url := s.base
	if path != "" {
		url += "/" + path
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/fhir+json")
	if body != nil {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	start := time.Now()
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the response: %w", method, path, err)
	}
	r := &response{method: method, path: path, status: resp.StatusCode, header: resp.Header, body: data}
	s.logf("%s (%d bytes, %s)", r, len(data), time.Since(start).Round(time.Millisecond))
	return r, nil
}

// track records a resource the current check created, for cleanUp.
func (s *session) track(typ, id string) {
	s.created = append(s.created, resourceRef{typ, id})
}

// cleanUp deletes what the current check created, newest first. Failures are ignored: the
// resources are marked with the run's identifiers, and the check's verdict is already made.
// It runs even when ctx has ended, with a short deadline of its own.
func (s *session) cleanUp(ctx context.Context) {
	if len(s.created) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	for i := len(s.created) - 1; i >= 0; i-- {
		ref := s.created[i]
		_, _ = s.do(ctx, http.MethodDelete, ref.typ+"/"+ref.id, nil)
	}
	s.created = s.created[:0]
}

// nextValue returns an identifier value unique to this run and call: conditional interactions
// match on it, so it must select only this check's resources on a shared server.
func (s *session) nextValue() string {
	s.seq++
	return fmt.Sprintf("pc-%s-%d", s.runID, s.seq)
}
