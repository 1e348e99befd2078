package api

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/guard"
	"github.com/portico-health/portico/internal/reqlog"
	"github.com/portico-health/portico/store"
)

// Batch and transaction (http.html#transaction): POST [base] with a Bundle of type batch or
// transaction. See docs/bundles.md for every rule and choice.

// DefaultMaxBundleEntries caps the entries of a batch or transaction Bundle when
// Config.MaxBundleEntries is zero; more is HTTP 413.
const DefaultMaxBundleEntries = 1000

// bundleSearchBudget: a Bundle's search and history entries together run at most this many
// times --search-timeout (30 s by default); entries past it answer 503 too-costly. Each is
// within the limit of one search, but a thousand of them, seconds each, kept a core busy for
// twenty minutes (blind attack, round 6).
const bundleSearchBudget = 3

// bundle is POST [base].
func (a *API) bundle(c echo.Context) error {
	f, err := negotiate(c)
	if err != nil {
		return err
	}
	if err := requireResourceBody(c); err != nil {
		return err
	}
	data, err := a.readBody(c)
	if err != nil {
		return err
	}
	prefer := parsePrefer(c.Request().Header)
	ctx := c.Request().Context()
	b, err := a.parseBundle(data)
	if err != nil {
		return err
	}
	reqlog.SetInteraction(ctx, b.kind) // the route alone cannot tell the metrics and the log
	if a.admitWrites != nil {
		writes := 0
		for _, e := range b.entries {
			switch e.method {
			case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
				writes++
			}
		}
		if err := a.admitWrites(ctx, writes); err != nil {
			return err
		}
	}
	b.sub = subRequester{e: c.Echo(), prefix: strings.TrimSuffix(c.Path(), "/"), header: c.Request().Header, remote: c.Request().RemoteAddr}
	if a.bundleBudget > 0 {
		ctx = guard.WithSearchBudget(ctx, a.bundleBudget)
	}
	v, err := a.view(ctx)
	if err != nil {
		return err
	}
	var out []byte
	switch b.kind {
	case "batch":
		out = a.runBatch(ctx, v, b, prefer)
	case "transaction":
		if out, err = a.runTransaction(ctx, v, data, b, prefer); err != nil {
			return err
		}
	}
	return writeJSON(c, f, http.StatusOK, out)
}

// bundleRequest is a parsed Bundle of type batch or transaction.
type bundleRequest struct {
	kind      string // batch | transaction
	entries   []*entry
	sub       subRequester
	readBytes int // what its read and search entries returned so far (bundleResponseBytes)
}

// entry is one entry of the request Bundle and, once processed, its response.
type entry struct {
	index   int
	fullURL string
	method  string // GET HEAD POST PUT PATCH DELETE
	url     string // request.url as sent, for messages
	typ     string // from the URL ("" when absent)
	urlID   string // the id in the URL ("" when absent)
	path    []string
	query   string // the raw query of the URL, "" when none
	hasQ    bool   // the URL had a '?'
	hdr     http.Header
	res     *fhir.Resource // POST/PUT: the validated resource; PATCH: nil
	bodyID  string         // the id the client's resource had (res is stamped with ids as attempts go)
	patch   patchDoc       // PATCH: JSON Patch or FHIRPath Patch
	get     getKind        // GET and HEAD: what the url asks for
	err     error          // a problem found while parsing the entry

	inBundle bool // an entry of a batch or transaction (hooks see it), not an HTTP request

	// Planning and outcome.
	id      string        // the id written or matched, "" when none
	target  string        // Type/id written (or matched), "" when none
	matched *store.Record // conditional create that matched: the existing version
	guard   *store.Query
	cur     *current
	write   *store.Write
	extra   []store.Write // writes the hooks added, stored atomically with write
	status  int
	rec     store.Record // the version the response describes (etag, lastModified, location)
	hasRec  bool
	body    []byte // the resource or Bundle to return
	issues  []fhir.Issue
	outcome []byte // an OperationOutcome as another handler wrote it (search entries)
}

// entryError is the error of one entry: the transaction fails with its status.
type entryError struct {
	e   *entry
	err error
}

func (ee *entryError) Error() string {
	return fmt.Sprintf("Bundle.entry[%d]: %v", ee.e.index, ee.err)
}

func (ee *entryError) Unwrap() error { return ee.err }

// failEntry wraps err so that it names the entry.
func failEntry(e *entry, err error) error {
	if err == nil {
		return nil
	}
	return &entryError{e: e, err: err}
}

// outcomeError turns an entry's error into the *Error of the whole transaction: the entry's
// status, and issues whose expression names the entry.
func outcomeError(ee *entryError) *Error {
	status, issues, _ := classify(ee.err)
	return &Error{Status: status, Issues: entryIssues(ee.e, issues), Err: ee.err}
}

// entryIssues copies issues, prefixing diagnostics and expressions with the entry.
func entryIssues(e *entry, issues []fhir.Issue) []fhir.Issue {
	name := "Bundle.entry[" + strconv.Itoa(e.index) + "]"
	out := make([]fhir.Issue, len(issues))
	for i, is := range issues {
		is.Diagnostics = name + " (" + e.method + " " + e.url + "): " + is.Diagnostics
		exprs := []string{name}
		for _, x := range is.Expression {
			if e.res != nil {
				if rest, ok := strings.CutPrefix(x, e.res.Type()); ok && (rest == "" || rest[0] == '.') {
					exprs = append(exprs, name+".resource"+rest)
					continue
				}
			}
			if !strings.HasPrefix(x, "Bundle") {
				exprs = append(exprs, name+".resource."+x)
			}
		}
		is.Expression = exprs
		out[i] = is
	}
	return out
}

// parseBundle reads the request Bundle: its type, and every entry's request and resource.
// Problems of the Bundle itself are returned; problems of one entry are kept in entry.err.
func (a *API) parseBundle(data []byte) (*bundleRequest, error) {
	root, err := fhir.ParseJSON(data)
	if err != nil {
		e := errorf(http.StatusBadRequest, "structure", "%s", err.Error())
		e.Err = err
		return nil, e
	}
	if root.Kind != fhir.Object {
		return nil, errorf(http.StatusBadRequest, "structure", "the body is not a JSON object")
	}
	if rt := root.Get("resourceType"); rt == nil || rt.Kind != fhir.String || rt.Text != "Bundle" {
		e := badRequest("POST to the FHIR base takes a Bundle of type batch or transaction")
		e.Issues[0].Expression = []string{"resourceType"}
		return nil, e
	}
	b := &bundleRequest{}
	if t := root.Get("type"); t != nil && t.Kind == fhir.String {
		b.kind = t.Text
	}
	if b.kind != "batch" && b.kind != "transaction" {
		e := badRequest("Bundle.type must be batch or transaction, not %q", b.kind)
		e.Issues[0].Expression = []string{"Bundle.type"}
		return nil, e
	}
	// Validate the Bundle without its entries' resources, which are validated one by one.
	var list []fhir.Value
	if ev := root.Get("entry"); ev != nil {
		if ev.Kind != fhir.Array {
			e := errorf(http.StatusBadRequest, "structure", "Bundle.entry is not an array")
			e.Issues[0].Expression = []string{"Bundle.entry"}
			return nil, e
		}
		list = ev.Arr
	}
	if len(list) > a.maxEntries {
		return nil, errorf(http.StatusRequestEntityTooLarge, "too-costly", "the Bundle has %d entries; the limit is %d", len(list), a.maxEntries)
	}
	shell := root
	shell.Obj = make([]fhir.Member, 0, len(root.Obj))
	resources := make([]*fhir.Value, len(list))
	for _, m := range root.Obj {
		if m.Key == "entry" {
			stripped := make([]fhir.Value, len(list))
			for i := range list {
				stripped[i] = list[i]
				if list[i].Kind == fhir.Object {
					stripped[i].Obj = make([]fhir.Member, 0, len(list[i].Obj))
					for j, em := range list[i].Obj {
						if em.Key == "resource" {
							resources[i] = &list[i].Obj[j].Value
							continue
						}
						stripped[i].Obj = append(stripped[i].Obj, em)
					}
				}
			}
			m.Value = fhir.Value{Kind: fhir.Array, Arr: stripped}
		}
		shell.Obj = append(shell.Obj, m)
	}
	if issues := fhir.Validate(&shell); len(issues) > 0 {
		ve := &fhir.ValidationError{Issues: issues}
		return nil, &Error{Status: ve.Status(), Issues: issues, Err: ve}
	}
	b.entries = make([]*entry, len(list))
	for i := range list {
		e := &entry{index: i, inBundle: true}
		b.entries[i] = e
		e.err = a.parseEntry(e, &list[i], resources[i])
	}
	return b, nil
}

// parseEntry reads one entry's request and resource.
func (a *API) parseEntry(e *entry, v *fhir.Value, resource *fhir.Value) error {
	if fu := v.Get("fullUrl"); fu != nil {
		e.fullURL = fu.Text
	}
	if resource == nil {
		resource = v.Get("resource")
	}
	req := v.Get("request")
	if req == nil || req.Kind != fhir.Object {
		e.method, e.url = "?", "?"
		return badRequest("the entry has no request")
	}
	str := func(name string) string {
		if m := req.Get(name); m != nil && m.Kind == fhir.String {
			return m.Text
		}
		return ""
	}
	e.method, e.url = str("method"), str("url")
	if e.url == "" {
		return badRequest("the entry's request has no url")
	}
	e.hdr = http.Header{}
	for _, h := range [...]struct{ field, header string }{
		{"ifNoneExist", "If-None-Exist"}, {"ifMatch", "If-Match"}, {"ifNoneMatch", "If-None-Match"}, {"ifModifiedSince", "If-Modified-Since"},
	} {
		if s := str(h.field); s != "" {
			e.hdr[h.header] = []string{s}
		}
	}
	// The URL is relative to the base; an absolute URL on this server's base is accepted too.
	u := e.url
	if rest, ok := strings.CutPrefix(u, a.base+"/"); ok {
		u = rest
	}
	u = strings.TrimPrefix(u, "/")
	path, query, hasQ := strings.Cut(u, "?")
	e.query, e.hasQ = query, hasQ
	if path != "" {
		e.path = strings.Split(path, "/")
	}
	if len(e.path) > 0 && e.path[0] != "_history" && e.path[0] != "_search" {
		e.typ = e.path[0]
		if _, ok := a.types[e.typ]; !ok {
			return notFound("resource type %q is not served here", e.typ)
		}
	}
	if len(e.path) > 1 && e.path[1] != "_history" && e.path[1] != "_search" {
		e.urlID = e.path[1]
		if !validID(e.urlID) {
			return badRequest("%q is not a valid resource id (1-64 of A-Z a-z 0-9 - .)", e.urlID)
		}
	}
	switch e.method {
	case "GET", "HEAD":
		return e.classifyGet()
	case "POST":
		if len(e.path) != 1 || e.typ == "" || hasQ {
			return badRequest("POST in a Bundle needs a url of the form [type]")
		}
	case "PUT":
		if e.typ == "" || !(len(e.path) == 2 && !hasQ || len(e.path) == 1 && hasQ) {
			return badRequest("PUT in a Bundle needs a url of the form [type]/[id] or [type]?[criteria]")
		}
	case "DELETE":
		if e.typ == "" || !(len(e.path) == 2 && !hasQ || len(e.path) == 1 && hasQ) {
			return badRequest("DELETE in a Bundle needs a url of the form [type]/[id] or [type]?[criteria]")
		}
		return nil
	case "PATCH":
		if e.typ == "" || len(e.path) != 2 || hasQ {
			return badRequest("PATCH in a Bundle needs a url of the form [type]/[id] (conditional patch is not supported)")
		}
		return e.parsePatch(resource)
	default:
		return badRequest("request.method %q is not one of GET, HEAD, POST, PUT, PATCH, DELETE", e.method)
	}
	// POST and PUT carry a resource of the URL's type.
	if resource == nil {
		return badRequest("%s in a Bundle needs the entry's resource", e.method)
	}
	if e.method == "POST" {
		dropBodyID(resource)
	}
	res, err := fhir.ResourceFromValue(*resource)
	if err != nil {
		return err
	}
	if rt := res.Type(); rt != e.typ {
		ex := badRequest("the resourceType of the entry's resource (%s) is not the type in its url (%s)", rt, e.typ)
		ex.Issues[0].Expression = []string{"resourceType"}
		return ex
	}
	e.res, e.bodyID = res, res.ID()
	return nil
}

// parsePatch reads the patch of a PATCH entry: a FHIRPath Patch (the entry's resource is the
// Parameters), or a JSON Patch in a Binary resource whose contentType is
// application/json-patch+json and whose data is the base64-encoded patch document.
func (e *entry) parsePatch(resource *fhir.Value) error {
	if resource == nil {
		return badRequest("PATCH in a Bundle needs a resource: a Parameters (FHIRPath Patch) or a Binary holding a JSON Patch")
	}
	str := func(name string) string {
		if m := resource.Get(name); m != nil && m.Kind == fhir.String {
			return m.Text
		}
		return ""
	}
	switch str("resourceType") {
	case "Parameters":
		p, err := decodeFHIRPathPatch(*resource)
		if err != nil {
			return err
		}
		e.patch = p
		return nil
	case "Binary":
		if strings.EqualFold(strings.TrimSpace(strings.Split(str("contentType"), ";")[0]), mimeJSONPatch) {
			break
		}
		fallthrough
	default:
		return errorf(http.StatusBadRequest, "not-supported",
			"PATCH in a Bundle takes a Parameters resource (FHIRPath Patch) or a Binary resource with contentType %s (JSON Patch)", mimeJSONPatch)
	}
	raw, err := base64.StdEncoding.DecodeString(str("data"))
	if err != nil {
		return badRequest("Binary.data of the PATCH entry is not base64")
	}
	p, err := decodeJSONPatch(raw)
	if err != nil {
		return err
	}
	e.patch = p
	return nil
}

// getKind is the interaction of a GET or HEAD entry.
type getKind uint8

const (
	getRead getKind = iota + 1
	getVRead
	getHistory
	getSearch
)

// classifyGet tells what a GET entry asks for.
func (e *entry) classifyGet() error {
	p := e.path
	switch {
	case len(p) == 2 && e.urlID != "": // a query may hold _summary or _elements
		e.get = getRead
	case len(p) == 4 && e.urlID != "" && p[2] == "_history":
		e.get = getVRead
	case len(p) == 1 && p[0] == "_history", len(p) == 2 && e.typ != "" && p[1] == "_history",
		len(p) == 3 && e.urlID != "" && p[2] == "_history":
		e.get = getHistory
	case len(p) <= 1 || len(p) == 2 && p[1] == "_search":
		e.get = getSearch
	default:
		return notFound("%s %s is not an interaction this server supports in a Bundle", e.method, e.url)
	}
	return nil
}

// isWrite reports whether the entry changes the store.
func (e *entry) isWrite() bool {
	switch e.method {
	case "POST", "PUT", "PATCH", "DELETE":
		return true
	}
	return false
}

// phase is the processing order of a transaction (http.html#trules): DELETE, POST,
// PUT/PATCH, then GET/HEAD.
func (e *entry) phase() int {
	switch e.method {
	case "DELETE":
		return 0
	case "POST":
		return 1
	case "PUT", "PATCH":
		return 2
	}
	return 3
}

// statusLine is the response.status of an entry: "201 Created".
func statusLine(status int) string {
	return strconv.Itoa(status) + " " + http.StatusText(status)
}

// ifModifiedSince reads request.ifModifiedSince (a FHIR instant); an HTTP date is accepted too.
func ifModifiedSince(s string) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, true
	}
	if t, err := http.ParseTime(s); err == nil {
		return t, true
	}
	return time.Time{}, false
}

// errBundleEntryRef is the cause of a reference between batch entries.
var errBundleEntryRef = errors.New("api: reference to another Bundle entry")
