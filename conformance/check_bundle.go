package conformance

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Batch and transaction (R4 http.html#transaction): POST [base] with a Bundle. Every check
// makes its own resources, identified by the run's unique identifier values, and deletes them.
var bundleChecks = []check{
	{"transaction resolves urn:uuid references", checkTransactionURN},
	{"transaction is atomic", checkTransactionAtomic},
	{"transaction reads after its writes", checkTransactionReadAfterWrite},
	{"transaction conditional create matches", checkTransactionConditionalCreate},
	{"batch entries are independent", checkBatchIndependent},
	{"a Bundle of another type is refused", checkBundleWrongType},
}

// bundleEntry is one entry of a request Bundle.
type bundleEntry struct {
	FullURL  string          `json:"fullUrl,omitempty"`
	Resource json.RawMessage `json:"resource,omitempty"`
	Request  bundleRequest   `json:"request"`
}

type bundleRequest struct {
	Method      string `json:"method"`
	URL         string `json:"url"`
	IfNoneExist string `json:"ifNoneExist,omitempty"`
	IfMatch     string `json:"ifMatch,omitempty"`
}

func bundleBody(typ string, entries ...bundleEntry) []byte {
	b, err := json.Marshal(struct {
		ResourceType string        `json:"resourceType"`
		Type         string        `json:"type"`
		Entry        []bundleEntry `json:"entry,omitempty"`
	}{"Bundle", typ, entries})
	if err != nil {
		panic(err)
	}
	return b
}

// newURN is a fresh urn:uuid (version 4).
func newURN() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("urn:uuid:%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// postBundle sends the Bundle and requires 200 with a Bundle of type want; it returns the entries.
func (s *session) postBundle(ctx context.Context, body []byte, want string, headers ...string) (*response, []any, error) {
	r, err := s.do(ctx, http.MethodPost, "", body, headers...)
	if err != nil {
		return nil, nil, err
	}
	if err := r.want(http.StatusOK); err != nil {
		return r, nil, err
	}
	b, err := r.resource("Bundle")
	if err != nil {
		return r, nil, err
	}
	if got := str(b, "type"); got != want {
		return r, nil, fmt.Errorf("%s: Bundle.type %q, want %q", r, got, want)
	}
	return r, list(b, "entry"), nil
}

// entryStatus is the status code of an entry's response.status ("201 Created" → "201").
func entryStatus(e any) string {
	code, _, _ := strings.Cut(str(e, "response", "status"), " ")
	return code
}

// trackLocation records the resource an entry's response.location names, for clean-up, and
// returns its id.
func (s *session) trackLocation(e any, typ string) string {
	id, _ := parseLocation(str(e, "response", "location"), typ)
	if id != "" {
		s.track(typ, id)
	}
	return id
}

func checkTransactionURN(ctx context.Context, s *session) error {
	if err := s.requireSystem("transaction"); err != nil {
		return err
	}
	purn := newURN()
	obs := edit(fixture("observation.json", "value", s.nextValue()), func(r obj) {
		r["subject"] = obj{"reference": purn}
	})
	r, entries, err := s.postBundle(ctx, bundleBody("transaction",
		bundleEntry{FullURL: newURN(), Resource: obs, Request: bundleRequest{Method: "POST", URL: "Observation"}},
		bundleEntry{FullURL: purn, Resource: fixture("patient.json", "value", s.nextValue()), Request: bundleRequest{Method: "POST", URL: "Patient"}},
	), "transaction-response")
	if err != nil {
		return err
	}
	if len(entries) != 2 {
		return fmt.Errorf("%s: %d response entries, want 2 in the request's order", r, len(entries))
	}
	oid, pid := s.trackLocation(entries[0], "Observation"), s.trackLocation(entries[1], "Patient")
	for i, e := range entries {
		if entryStatus(e) != "201" {
			return fmt.Errorf("%s: entry %d status %q, want 201", r, i, str(e, "response", "status"))
		}
	}
	if oid == "" || pid == "" {
		return fmt.Errorf("%s: response.location does not name the created resources", r)
	}
	_, res, err := s.read(ctx, "Observation/"+oid, "Observation")
	if err != nil {
		return err
	}
	if got := str(res, "subject", "reference"); got != "Patient/"+pid && !strings.HasSuffix(got, "/Patient/"+pid) {
		return fmt.Errorf("Observation.subject.reference %q, want Patient/%s (the urn:uuid resolved)", got, pid)
	}
	return nil
}

func checkTransactionAtomic(ctx context.Context, s *session) error {
	if err := s.requireSystem("transaction"); err != nil {
		return err
	}
	if err := s.requireFlag("Patient", "updateCreate"); err != nil {
		return err
	}
	c, err := s.newPatient(ctx)
	if err != nil {
		return err
	}
	newID := s.nextValue()
	s.track("Patient", newID)
	body := edit(fixture("patient.json", "value", s.nextValue()), func(r obj) { r["id"] = newID })
	stale := edit(c.resp.body, func(r obj) { r["active"] = false })
	r, err := s.do(ctx, http.MethodPost, "", bundleBody("transaction",
		bundleEntry{Resource: body, Request: bundleRequest{Method: "PUT", URL: "Patient/" + newID}},
		bundleEntry{Resource: stale, Request: bundleRequest{Method: "PUT", URL: "Patient/" + c.id, IfMatch: `W/"999"`}},
	))
	if err != nil {
		return err
	}
	if r.status < 400 || r.status >= 500 {
		return fmt.Errorf("%s, want a 4xx failure (the second entry's ifMatch does not hold)%s", r, r.said())
	}
	g, err := s.do(ctx, http.MethodGet, "Patient/"+newID, nil)
	if err != nil {
		return err
	}
	if err := g.want(http.StatusNotFound, http.StatusGone); err != nil {
		return fmt.Errorf("the failed transaction's first entry was applied: %w", err)
	}
	v, _, err := s.readVersion(ctx, "Patient", c.id)
	if err != nil {
		return err
	}
	if v != "1" {
		return fmt.Errorf("Patient/%s is at version %s after a failed transaction, want 1", c.id, v)
	}
	return nil
}

func checkTransactionReadAfterWrite(ctx context.Context, s *session) error {
	if err := s.requireSystem("transaction"); err != nil {
		return err
	}
	c, err := s.newPatient(ctx)
	if err != nil {
		return err
	}
	upd := edit(c.resp.body, func(r obj) { r["gender"] = "other" })
	r, entries, err := s.postBundle(ctx, bundleBody("transaction",
		bundleEntry{Request: bundleRequest{Method: "GET", URL: "Patient/" + c.id}},
		bundleEntry{Resource: upd, Request: bundleRequest{Method: "PUT", URL: "Patient/" + c.id}},
	), "transaction-response")
	if err != nil {
		return err
	}
	if len(entries) != 2 {
		return fmt.Errorf("%s: %d response entries, want 2", r, len(entries))
	}
	if got := entryStatus(entries[1]); got != "200" {
		return fmt.Errorf("%s: PUT entry status %q, want 200", r, got)
	}
	if got := str(entries[0], "resource", "gender"); got != "other" {
		return fmt.Errorf("%s: the GET entry returned gender %q; GETs are processed after the writes (http.html#trules)", r, got)
	}
	return nil
}

func checkTransactionConditionalCreate(ctx context.Context, s *session) error {
	if err := s.requireSystem("transaction"); err != nil {
		return err
	}
	if err := s.requireFlag("Patient", "conditionalCreate"); err != nil {
		return err
	}
	c, err := s.newPatient(ctx)
	if err != nil {
		return err
	}
	r, entries, err := s.postBundle(ctx, bundleBody("transaction",
		bundleEntry{FullURL: newURN(), Resource: fixture("patient.json", "value", c.value),
			Request: bundleRequest{Method: "POST", URL: "Patient", IfNoneExist: "identifier=" + identifierSystem + "|" + c.value}},
	), "transaction-response")
	if err != nil {
		return err
	}
	if len(entries) != 1 {
		return fmt.Errorf("%s: %d response entries, want 1", r, len(entries))
	}
	id := s.trackLocation(entries[0], "Patient")
	if got := entryStatus(entries[0]); got != "200" {
		return fmt.Errorf("%s: status %q, want 200 (the ifNoneExist criteria match Patient/%s)", r, got, c.id)
	}
	if id != c.id {
		return fmt.Errorf("%s: location names Patient/%s, want the match Patient/%s", r, id, c.id)
	}
	return nil
}

func checkBatchIndependent(ctx context.Context, s *session) error {
	if err := s.requireSystem("batch"); err != nil {
		return err
	}
	r, entries, err := s.postBundle(ctx, bundleBody("batch",
		bundleEntry{Resource: fixture("patient.json", "value", s.nextValue()), Request: bundleRequest{Method: "POST", URL: "Patient"}},
		bundleEntry{Request: bundleRequest{Method: "GET", URL: "Patient/" + s.nextValue()}},
	), "batch-response")
	if err != nil {
		return err
	}
	if len(entries) != 2 {
		return fmt.Errorf("%s: %d response entries, want 2", r, len(entries))
	}
	s.trackLocation(entries[0], "Patient")
	if got := entryStatus(entries[0]); got != "201" {
		return fmt.Errorf("%s: POST entry status %q, want 201 (entries of a batch are independent)", r, got)
	}
	if got := entryStatus(entries[1]); got != "404" {
		return fmt.Errorf("%s: GET of an unknown id: entry status %q, want 404", r, got)
	}
	return nil
}

func checkBundleWrongType(ctx context.Context, s *session) error {
	if err := s.requireSystem("batch"); err != nil {
		if err := s.requireSystem("transaction"); err != nil {
			return err
		}
	}
	r, err := s.do(ctx, http.MethodPost, "", bundleBody("collection",
		bundleEntry{Resource: fixture("patient.json", "value", s.nextValue()), Request: bundleRequest{Method: "POST", URL: "Patient"}}))
	if err != nil {
		return err
	}
	if r.status != http.StatusBadRequest && r.status != http.StatusUnprocessableEntity {
		return fmt.Errorf("%s, want 400 or 422 for a Bundle of type collection%s", r, r.said())
	}
	return r.outcome(r.status)
}
