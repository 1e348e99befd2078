package api_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/store"
)

// bundleOf builds a Bundle of the given type from entry JSON objects.
func bundleOf(typ string, entries ...string) string {
	if len(entries) == 0 {
		return `{"resourceType":"Bundle","type":"` + typ + `"}`
	}
	return `{"resourceType":"Bundle","type":"` + typ + `","entry":[` + strings.Join(entries, ",") + `]}`
}

// ent builds an entry; resource may be "".
func ent(fullURL, method, url, resource string, extra ...string) string {
	var b strings.Builder
	b.WriteString("{")
	if fullURL != "" {
		b.WriteString(`"fullUrl":"` + fullURL + `",`)
	}
	if resource != "" {
		b.WriteString(`"resource":` + resource + `,`)
	}
	b.WriteString(`"request":{"method":"` + method + `","url":"` + url + `"`)
	for i := 0; i+1 < len(extra); i += 2 {
		b.WriteString(`,"` + extra[i] + `":"` + extra[i+1] + `"`)
	}
	b.WriteString("}}")
	return b.String()
}

// entryResponses returns response.status of every entry of a response Bundle.
func entryResponses(t *testing.T, r response, want string) []fhir.Value {
	t.Helper()
	wantStatus(t, r, http.StatusOK)
	v := parse(t, r.Body)
	if got := v.Get("type"); got == nil || got.Text != want {
		t.Fatalf("Bundle.type %v, want %s: %s", got, want, r.Body)
	}
	return v.Get("entry").Arr
}

func status(e fhir.Value) string {
	if r := e.Get("response"); r != nil {
		if s := r.Get("status"); s != nil {
			return s.Text
		}
	}
	return ""
}

// systemHistory is every stored version, newest first, as comparable text.
func systemHistory(t *testing.T, s *server) string {
	t.Helper()
	var b strings.Builder
	q := store.HistoryQuery{Count: 1000}
	for {
		p, err := s.Store.History(t.Context(), q)
		if err != nil {
			t.Fatalf("History: %v", err)
		}
		for _, r := range p.Records {
			fmt.Fprintf(&b, "%s/%s/%d %d %s\n", r.Type, r.ID, r.Version, r.Op, r.Body)
		}
		if p.Next == "" {
			return b.String()
		}
		q.Cursor = p.Next
	}
}

func readBody(t *testing.T, s *server, path string) fhir.Value {
	t.Helper()
	r := s.do("GET", "/"+path, "")
	wantStatus(t, r, http.StatusOK)
	return parse(t, r.Body)
}

const bundlePatientJSON = `{"resourceType":"Patient","identifier":[{"system":"urn:sys","value":"%s"}],"name":[{"family":"%s"}]}`

func patientWith(idv, family string) string { return fmt.Sprintf(bundlePatientJSON, idv, family) }

func TestBundleRejected(t *testing.T) {
	s := newServer(t)
	tests := []struct {
		name   string
		body   string
		status int
	}{
		{"not JSON", `{`, http.StatusBadRequest},
		{"not a Bundle", `{"resourceType":"Patient"}`, http.StatusBadRequest},
		{"collection", bundleOf("collection"), http.StatusBadRequest},
		{"document", bundleOf("document"), http.StatusBadRequest},
		{"no type", `{"resourceType":"Bundle"}`, http.StatusBadRequest},
		{"unknown element", `{"resourceType":"Bundle","type":"batch","bogus":1}`, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do("POST", "", tc.body)
			if tc.status == 0 {
				if r.StatusCode != 400 && r.StatusCode != 422 {
					t.Fatalf("status %d: %s", r.StatusCode, r.Body)
				}
				return
			}
			wantOutcome(t, r, tc.status, "")
		})
	}
	t.Run("wrong content type", func(t *testing.T) {
		r := s.do("POST", "", bundleOf("batch"), "Content-Type", "text/plain")
		wantStatus(t, r, http.StatusUnsupportedMediaType)
	})
	t.Run("too many entries", func(t *testing.T) {
		es := make([]string, 1001)
		for i := range es {
			es[i] = ent("", "GET", "Patient/x", "")
		}
		wantOutcome(t, s.do("POST", "", bundleOf("batch", es...)), http.StatusRequestEntityTooLarge, "too-costly")
	})
	t.Run("empty batch", func(t *testing.T) {
		entryResponses(t, s.do("POST", "", bundleOf("batch")), "batch-response")
	})
}

func TestTransactionEveryMethod(t *testing.T) {
	s := newServer(t)
	del := s.create(patientWith("del", "Del"))
	upd := s.create(patientWith("upd", "Upd"))
	pat := s.create(patientWith("pat", "Pat"))
	patch := base64.StdEncoding.EncodeToString([]byte(`[{"op":"replace","path":"/name/0/family","value":"Patched"}]`))
	body := bundleOf("transaction",
		ent("", "GET", "Patient/"+upd, ""),
		ent("", "PATCH", "Patient/"+pat, `{"resourceType":"Binary","contentType":"application/json-patch+json","data":"`+patch+`"}`),
		ent("", "PUT", "Patient/"+upd, fmt.Sprintf(`{"resourceType":"Patient","id":"%s","name":[{"family":"Updated"}]}`, upd)),
		ent("urn:uuid:8c3ac0a6-0000-4000-8000-000000000001", "POST", "Patient", patientWith("new", "New")),
		ent("", "DELETE", "Patient/"+del, ""),
		ent("", "GET", "Patient/"+upd+"/_history/1", ""),
		ent("", "GET", "Patient/"+upd+"/_history", ""),
	)
	es := entryResponses(t, s.do("POST", "", body), "transaction-response")
	want := []string{"200 OK", "200 OK", "200 OK", "201 Created", "204 No Content", "200 OK", "200 OK"}
	for i, w := range want {
		if got := status(es[i]); got != w {
			t.Errorf("entry %d: status %q, want %q", i, got, w)
		}
	}
	// The GET is evaluated after the writes: it sees version 2.
	if got := es[0].Get("resource").Get("name").Arr[0].Get("family").Text; got != "Updated" {
		t.Errorf("GET after PUT: family %q, want Updated", got)
	}
	if loc := es[3].Get("response").Get("location").Text; !strings.HasPrefix(loc, "Patient/") || !strings.HasSuffix(loc, "/_history/1") {
		t.Errorf("location %q", loc)
	}
	if got := field(readBody(t, s, "Patient/"+pat), "name").Arr[0].Get("family").Text; got != "Patched" {
		t.Errorf("patched family %q", got)
	}
	wantStatus(t, s.do("GET", "/Patient/"+del, ""), http.StatusGone)
}

func TestTransactionProcessingOrder(t *testing.T) {
	s := newServer(t)
	old := s.create(patientWith("o", "Old"))
	// Request order POST, PUT, DELETE; processing order DELETE, POST, PUT.
	body := bundleOf("transaction",
		ent("urn:uuid:1", "POST", "Patient", patientWith("n", "New")),
		ent("", "PUT", "Patient/fixed-id", `{"resourceType":"Patient","id":"fixed-id"}`),
		ent("", "DELETE", "Patient/"+old, ""),
	)
	entryResponses(t, s.do("POST", "", body), "transaction-response")
	p, err := s.Store.History(t.Context(), store.HistoryQuery{Count: 3})
	if err != nil {
		t.Fatal(err)
	}
	var ops []store.Op
	for _, r := range p.Records {
		ops = append(ops, r.Op)
	}
	// Newest first: the PUT (update as create), the POST, the DELETE.
	want := []store.Op{store.OpUpdate, store.OpCreate, store.OpDelete}
	if fmt.Sprint(ops) != fmt.Sprint(want) {
		t.Errorf("history ops %v, want %v", ops, want)
	}
}

func TestTransactionReferences(t *testing.T) {
	s := newServer(t)
	existing := s.create(patientWith("cond-ref", "Cond"))
	pURN := "urn:uuid:04121321-4af5-424c-a0e1-ed3aab1c349d"
	oURN := "urn:uuid:14121321-4af5-424c-a0e1-ed3aab1c349e"
	obs := `{"resourceType":"Observation","status":"final","code":{"text":"x"},
	  "contained":[{"resourceType":"Provenance","id":"prov","target":[{"reference":"` + pURN + `"}],"recorded":"2024-01-01T00:00:00Z","agent":[{"who":{"reference":"` + pURN + `"}}]}],
	  "extension":[{"url":"http://example.org/ext","valueReference":{"reference":"` + pURN + `"}},
	               {"url":"http://example.org/uri","valueUri":"` + pURN + `"}],
	  "subject":{"reference":"` + pURN + `"},
	  "performer":[{"reference":"Patient?identifier=urn:sys|cond-ref"}]}`
	body := bundleOf("transaction",
		ent(oURN, "POST", "Observation", obs),
		ent(pURN, "POST", "Patient", patientWith("p1", "P")),
	)
	es := entryResponses(t, s.do("POST", "", body), "transaction-response")
	pid := strings.Split(es[1].Get("response").Get("location").Text, "/")[1]
	oid := strings.Split(es[0].Get("response").Get("location").Text, "/")[1]
	o := readBody(t, s, "Observation/"+oid)
	got := string(fhir.AppendJSON(nil, o))
	if strings.Contains(got, "urn:uuid") {
		t.Errorf("urn:uuid left in %s", got)
	}
	if n := strings.Count(got, `"Patient/`+pid+`"`); n != 5 {
		t.Errorf("%d rewritten references to Patient/%s, want 5: %s", n, pid, got)
	}
	if !strings.Contains(got, `"Patient/`+existing+`"`) {
		t.Errorf("conditional reference not resolved to Patient/%s: %s", existing, got)
	}

	t.Run("dangling urn", func(t *testing.T) {
		before := systemHistory(t, s)
		r := s.do("POST", "", bundleOf("transaction",
			ent("", "POST", "Patient", patientWith("x", "X")),
			ent("", "POST", "Observation", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"urn:uuid:nowhere"}}`)))
		wantOutcome(t, r, http.StatusBadRequest, "invalid")
		if !strings.Contains(string(r.Body), "Bundle.entry[1]") {
			t.Errorf("outcome does not name the entry: %s", r.Body)
		}
		if systemHistory(t, s) != before {
			t.Error("the failed transaction wrote")
		}
	})
	t.Run("conditional reference without match", func(t *testing.T) {
		r := s.do("POST", "", bundleOf("transaction",
			ent("", "POST", "Observation", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient?identifier=urn:sys|none"}}`)))
		wantOutcome(t, r, http.StatusPreconditionFailed, "")
	})
}

func TestTransactionConditional(t *testing.T) {
	s := newServer(t)
	existing := s.create(patientWith("c1", "Existing"))
	gone := s.create(patientWith("c2", "ToDelete"))
	upd := s.create(patientWith("c3", "ToUpdate"))
	body := bundleOf("transaction",
		ent("urn:uuid:a", "POST", "Patient", patientWith("c1", "Dup"), "ifNoneExist", "identifier=urn:sys|c1"),
		ent("urn:uuid:b", "POST", "Patient", patientWith("c9", "Fresh"), "ifNoneExist", "identifier=urn:sys|c9"),
		ent("", "DELETE", "Patient?identifier=urn:sys|c2", ""),
		ent("", "DELETE", "Patient?identifier=urn:sys|nothing", ""),
		ent("", "PUT", "Patient?identifier=urn:sys|c3", patientWith("c3", "Updated")),
		ent("", "PUT", "Patient?identifier=urn:sys|c4", patientWith("c4", "CreatedByPut")),
		ent("", "POST", "Observation", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"urn:uuid:a"}}`),
	)
	es := entryResponses(t, s.do("POST", "", body), "transaction-response")
	want := []string{"200 OK", "201 Created", "204 No Content", "204 No Content", "200 OK", "201 Created", "201 Created"}
	for i, w := range want {
		if got := status(es[i]); got != w {
			t.Errorf("entry %d: status %q, want %q", i, got, w)
		}
	}
	if loc := es[0].Get("response").Get("location").Text; loc != "Patient/"+existing+"/_history/1" {
		t.Errorf("conditional create match location %q", loc)
	}
	oid := strings.Split(es[6].Get("response").Get("location").Text, "/")[1]
	if ref := field(readBody(t, s, "Observation/"+oid), "subject").Get("reference").Text; ref != "Patient/"+existing {
		t.Errorf("reference to the matched conditional create: %q, want Patient/%s", ref, existing)
	}
	wantStatus(t, s.do("GET", "/Patient/"+gone, ""), http.StatusGone)
	if got := field(readBody(t, s, "Patient/"+upd), "name").Arr[0].Get("family").Text; got != "Updated" {
		t.Errorf("conditional update: %q", got)
	}
}

func TestTransactionFailures(t *testing.T) {
	s := newServer(t)
	p := s.create(patientWith("f1", "F"))
	s.create(patientWith("twin", "A"))
	s.create(patientWith("twin", "B"))
	okPost := ent("urn:uuid:ok", "POST", "Patient", patientWith("f2", "G"))
	tests := []struct {
		name   string
		last   string
		status int
		code   string
	}{
		{"ifMatch mismatch", ent("", "PUT", "Patient/"+p, fmt.Sprintf(`{"resourceType":"Patient","id":"%s"}`, p), "ifMatch", `W/\"7\"`), http.StatusPreconditionFailed, "conflict"},
		{"invalid resource", ent("", "POST", "Patient", `{"resourceType":"Patient","birthDate":"yesterday"}`), 0, ""},
		{"unknown id delete", ent("", "DELETE", "Patient/never-was", ""), http.StatusNotFound, "not-found"},
		{"patch unknown", ent("", "PATCH", "Patient/never-was", `{"resourceType":"Binary","contentType":"application/json-patch+json","data":"W10="}`), http.StatusNotFound, "not-found"},
		{"conditional update ambiguous", ent("", "PUT", "Patient?identifier=urn:sys|twin", patientWith("twin", "C")), http.StatusPreconditionFailed, ""},
		{"duplicate target", ent("", "PUT", "Patient/"+p, fmt.Sprintf(`{"resourceType":"Patient","id":"%s"}`, p)) + "," + ent("", "DELETE", "Patient/"+p, ""), http.StatusBadRequest, "duplicate"},
		{"bad method", ent("", "COPY", "Patient/"+p, ""), 0, ""},
		{"type mismatch", ent("", "POST", "Observation", patientWith("x", "y")), http.StatusBadRequest, "invalid"},
		{"unknown type", ent("", "POST", "Bogus", patientWith("x", "y")), http.StatusNotFound, ""},
		{"put without id", ent("", "PUT", "Patient/"+p, `{"resourceType":"Patient"}`), http.StatusBadRequest, ""},
		{"bad GET url", ent("", "GET", "Patient/"+p+"/bogus/x/y", ""), http.StatusNotFound, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := systemHistory(t, s)
			r := s.do("POST", "", bundleOf("transaction", okPost, tc.last))
			if tc.status == 0 {
				if r.StatusCode != 400 && r.StatusCode != 422 {
					t.Fatalf("status %d: %s", r.StatusCode, r.Body)
				}
			} else {
				wantOutcome(t, r, tc.status, tc.code)
			}
			if !strings.Contains(string(r.Body), "Bundle.entry[") {
				t.Errorf("the outcome does not name the entry: %s", r.Body)
			}
			if after := systemHistory(t, s); after != before {
				t.Errorf("the failed transaction changed the store:\nbefore %s\nafter %s", before, after)
			}
		})
	}
}

func TestBatchMixed(t *testing.T) {
	s := newServer(t)
	p := s.create(patientWith("b1", "B"))
	patch := base64.StdEncoding.EncodeToString([]byte(`[{"op":"add","path":"/gender","value":"female"}]`))
	body := bundleOf("batch",
		ent("", "POST", "Patient", patientWith("b2", "New")),
		ent("", "GET", "Patient/missing", ""),
		ent("", "PUT", "Patient/"+p, fmt.Sprintf(`{"resourceType":"Patient","id":"%s","active":true}`, p), "ifMatch", `W/\"9\"`),
		ent("", "PATCH", "Patient/"+p, `{"resourceType":"Binary","contentType":"application/json-patch+json","data":"`+patch+`"}`),
		ent("urn:uuid:x", "POST", "Patient", patientWith("b3", "X")),
		ent("", "POST", "Observation", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"urn:uuid:x"}}`),
		ent("", "POST", "Patient", `{"resourceType":"Patient","birthDate":"nope"}`),
		ent("", "GET", "Patient/"+p, "", "ifNoneMatch", `W/\"2\"`),
		ent("", "DELETE", "Patient/"+p, ""),
		ent("", "GET", "Patient/"+p+"/_history/2", ""),
	)
	es := entryResponses(t, s.do("POST", "", body), "batch-response")
	want := []string{"201 Created", "404 Not Found", "412 Precondition Failed", "200 OK", "201 Created", "400 Bad Request", "", "304 Not Modified", "204 No Content", "200 OK"}
	for i, w := range want {
		got := status(es[i])
		if w == "" {
			if !strings.HasPrefix(got, "4") {
				t.Errorf("entry %d: status %q, want 4xx", i, got)
			}
		} else if got != w {
			t.Errorf("entry %d: status %q, want %q", i, got, w)
		}
		if strings.HasPrefix(got, "4") && es[i].Get("response").Get("outcome") == nil {
			t.Errorf("entry %d: failure without outcome", i)
		}
	}
	wantStatus(t, s.do("GET", "/Patient/"+p, ""), http.StatusGone)
}

// TestResponseFullURLsDistinct: a response Bundle names one version of a resource by its
// fullUrl once (R4 bdl-7); an entry repeating it (a second read, a read of what the transaction
// wrote) has none, while entries of other versions or resources keep theirs.
func TestResponseFullURLsDistinct(t *testing.T) {
	s := newServer(t)
	p := s.create(patientWith("f1", "F"))
	q := s.create(patientWith("f2", "G"))
	fullURL := func(e fhir.Value) string { return field(e, "fullUrl").Text }
	base := s.URL + "/Patient/" + p

	es := entryResponses(t, s.do("POST", "", bundleOf("batch",
		ent("", "GET", "Patient/"+p, ""),
		ent("", "GET", "Patient/"+p, ""),
		ent("", "PUT", "Patient/"+p, fmt.Sprintf(`{"resourceType":"Patient","id":"%s","active":true}`, p)),
		ent("", "GET", "Patient/"+p, ""),
		ent("", "GET", "Patient/"+q, ""),
	)), "batch-response")
	for i, want := range []string{base, "", base, "", s.URL + "/Patient/" + q} {
		if got := fullURL(es[i]); got != want {
			t.Errorf("batch entry %d: fullUrl %q, want %q", i, got, want)
		}
	}
	if got := field(es[1], "resource").Get("id"); got == nil || got.Text != p {
		t.Errorf("batch entry 1 lost its resource: %s", fhir.AppendJSON(nil, es[1]))
	}

	// The transaction reads after it writes: both entries hold version 3.
	es = entryResponses(t, s.do("POST", "", bundleOf("transaction",
		ent("", "GET", "Patient/"+p, ""),
		ent("", "PUT", "Patient/"+p, fmt.Sprintf(`{"resourceType":"Patient","id":"%s","active":false}`, p)),
	), "Prefer", "return=representation"), "transaction-response")
	if fullURL(es[0]) != base || fullURL(es[1]) != "" {
		t.Errorf("transaction fullUrls %q, %q; want %q, none", fullURL(es[0]), fullURL(es[1]), base)
	}
	if loc := field(es[1], "response").Get("location"); loc == nil || !strings.HasPrefix(loc.Text, "Patient/"+p+"/_history/") {
		t.Errorf("the write entry lost its location: %s", fhir.AppendJSON(nil, es[1]))
	}
}

func TestBundlePrefer(t *testing.T) {
	s := newServer(t)
	for _, tc := range []struct{ prefer, want, absent string }{
		{"return=minimal", "location", "resource"},
		{"return=representation", "resource", "outcome"},
		{"return=OperationOutcome", "outcome", "resource"},
	} {
		t.Run(tc.prefer, func(t *testing.T) {
			r := s.do("POST", "", bundleOf("transaction", ent("", "POST", "Patient", patientWith("pr", "P"))), "Prefer", tc.prefer)
			e := entryResponses(t, r, "transaction-response")[0]
			has := func(name string) bool { return e.Get(name) != nil || e.Get("response").Get(name) != nil }
			if !has(tc.want) || has(tc.absent) {
				t.Errorf("entry %s", fhir.AppendJSON(nil, e))
			}
		})
	}
}

// noTx refuses several writes at once, as a backend without transactions does.
type noTx struct{ store.Store }

func (n noTx) Write(ctx context.Context, ws ...store.Write) error {
	if len(ws) > 1 {
		return store.ErrNoTransactions
	}
	return n.Store.Write(ctx, ws...)
}

func TestTransactionWithoutStoreTransactions(t *testing.T) {
	s := newServer(t, func(o *options) { o.wrap = func(st store.Store) store.Store { return noTx{st} } })
	two := bundleOf("transaction", ent("", "POST", "Patient", patientWith("a", "A")), ent("", "POST", "Patient", patientWith("b", "B")))
	wantOutcome(t, s.do("POST", "", two), http.StatusNotImplemented, "not-supported")
	if n := s.versions(); n != 0 {
		t.Errorf("%d versions written", n)
	}
	one := bundleOf("transaction", ent("", "POST", "Patient", patientWith("a", "A")))
	entryResponses(t, s.do("POST", "", one), "transaction-response")
	entryResponses(t, s.do("POST", "", two[:0]+bundleOf("batch", ent("", "POST", "Patient", patientWith("a", "A")), ent("", "POST", "Patient", patientWith("b", "B")))), "batch-response")
}

func field(v fhir.Value, name string) *fhir.Value {
	if f := v.Get(name); f != nil {
		return f
	}
	return &fhir.Value{}
}

func TestBundleSearchEntry(t *testing.T) {
	s := newServer(t)
	id := s.create(patientWith("srch-1", "Searched"))
	body := bundleOf("batch",
		ent("", "GET", "Patient?identifier=urn:sys|srch-1", ""),
		ent("", "GET", "Patient?_id="+id, ""),
	)
	es := entryResponses(t, s.do("POST", "", body), "batch-response")
	for i, e := range es {
		st := status(e)
		if st == "405 Method Not Allowed" {
			t.Skip("search is not served yet")
		}
		if st != "200 OK" {
			t.Fatalf("entry %d: status %q: %s", i, st, fhir.AppendJSON(nil, e))
		}
		r := e.Get("resource")
		if r == nil || r.Get("type").Text != "searchset" {
			t.Fatalf("entry %d: no searchset: %s", i, fhir.AppendJSON(nil, e))
		}
		if got := string(fhir.AppendJSON(nil, *r)); !strings.Contains(got, id) {
			t.Errorf("entry %d: the searchset does not hold Patient/%s: %s", i, id, got)
		}
	}
	// In a transaction, a search entry reads the state after the writes.
	body = bundleOf("transaction",
		ent("", "GET", "Patient?identifier=urn:sys|srch-2", ""),
		ent("urn:uuid:s2", "POST", "Patient", patientWith("srch-2", "New")),
	)
	es = entryResponses(t, s.do("POST", "", body), "transaction-response")
	if got := string(fhir.AppendJSON(nil, es[0])); !strings.Contains(got, "srch-2") {
		t.Errorf("the search entry does not see the transaction's create: %s", got)
	}
}

// TestTransactionLastEntryFails: a transaction whose last entry fails leaves the store exactly
// as before, although every earlier entry (of every method) would have succeeded.
func TestTransactionLastEntryFails(t *testing.T) {
	s := newServer(t)
	upd := s.create(patientWith("l1", "Upd"))
	del := s.create(patientWith("l2", "Del"))
	pat := s.create(patientWith("l3", "Pat"))
	patch := base64.StdEncoding.EncodeToString([]byte(`[{"op":"add","path":"/active","value":true}]`))
	before := systemHistory(t, s)
	r := s.do("POST", "", bundleOf("transaction",
		ent("urn:uuid:l0", "POST", "Patient", patientWith("l0", "New")),
		ent("", "PUT", "Patient/"+upd, fmt.Sprintf(`{"resourceType":"Patient","id":"%s","active":false}`, upd)),
		ent("", "DELETE", "Patient/"+del, ""),
		ent("", "PATCH", "Patient/"+pat, `{"resourceType":"Binary","contentType":"application/json-patch+json","data":"`+patch+`"}`),
		ent("", "PUT", "Patient/brand-new", `{"resourceType":"Patient","id":"brand-new","link":[{"other":{"reference":"urn:uuid:l0"},"type":"seealso"}]}`),
		ent("", "PUT", "Patient/"+pat+"-x", fmt.Sprintf(`{"resourceType":"Patient","id":"%s-x"}`, pat), "ifMatch", `W/\"1\"`),
	))
	wantOutcome(t, r, http.StatusPreconditionFailed, "conflict")
	v := parse(t, r.Body)
	if ex := v.Get("issue").Arr[0].Get("expression"); ex == nil || ex.Arr[0].Text != "Bundle.entry[5]" {
		t.Errorf("expression does not name Bundle.entry[5]: %s", r.Body)
	}
	if after := systemHistory(t, s); after != before {
		t.Errorf("the store changed:\nbefore %s\nafter %s", before, after)
	}
}

// TestTransactionConcurrentConditionalCreate: concurrent transactions with the same
// ifNoneExist make one resource; the others find it (200).
func TestTransactionConcurrentConditionalCreate(t *testing.T) {
	s := newServer(t)
	body := bundleOf("transaction",
		ent("urn:uuid:cc", "POST", "Patient", patientWith("conc", "C"), "ifNoneExist", "identifier=urn:sys|conc"),
		ent("", "POST", "Observation", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"urn:uuid:cc"}}`))
	const n = 8
	ids := make(chan string, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := s.do("POST", "", body)
			if r.StatusCode != http.StatusOK {
				t.Errorf("status %d: %s", r.StatusCode, r.Body)
				return
			}
			v := parse(t, r.Body)
			ids <- strings.Split(v.Get("entry").Arr[0].Get("response").Get("location").Text, "/")[1]
		}()
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	for id := range ids {
		seen[id] = true
	}
	if len(seen) != 1 {
		t.Errorf("%d different Patients created, want 1: %v", len(seen), seen)
	}
}
