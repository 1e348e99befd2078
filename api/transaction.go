package api

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/store"
)

// runTransaction processes a transaction Bundle: every write goes to the store in one
// store.Write, so either all of them happen or none does. A lost race with a concurrent
// request is retried from the start (the Bundle is parsed again, as references were
// rewritten in place), unless an entry carries ifMatch: then it is HTTP 412.
func (a *API) runTransaction(ctx context.Context, data []byte, b *bundleRequest, prefer preferReturn) ([]byte, error) {
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return nil, err
			}
			var err error
			if b, err = a.parseBundle(data); err != nil {
				return nil, err
			}
		}
		err := a.transactionOnce(ctx, b)
		if err == nil {
			break
		}
		var ee *entryError
		switch {
		case errors.As(err, &ee):
			return nil, outcomeError(ee)
		case errors.Is(err, store.ErrNoTransactions):
			e := errorf(http.StatusNotImplemented, "not-supported",
				"this server's store cannot apply several writes atomically, so transactions with more than one write are not supported; nothing was written (send a batch instead)")
			e.Err = err
			return nil, e
		}
		ifMatch := slices.ContainsFunc(b.entries, func(e *entry) bool { return len(e.hdr["If-Match"]) > 0 })
		if err := raceOutcome(err, preconditions{ifMatch: etagCond{present: ifMatch}}, attempt); err != nil {
			return nil, err
		}
	}
	// GET entries read the state the writes made. Their failures (404, 410) are reported in
	// their entries: the writes are already committed.
	for _, e := range b.entries {
		if !e.isWrite() {
			if err := a.getEntry(ctx, b, e); err != nil {
				e.fail(err)
			}
		}
	}
	return a.appendResponseBundle(b, "transaction-response", prefer), nil
}

// transactionOnce makes one attempt at a transaction.
func (a *API) transactionOnce(ctx context.Context, b *bundleRequest) error {
	for _, e := range b.entries {
		if e.err != nil {
			return failEntry(e, e.err)
		}
	}
	order := slices.Clone(b.entries)
	slices.SortStableFunc(order, func(x, y *entry) int { return x.phase() - y.phase() })

	// 1. Targets: new ids for creates, the matches of conditional operations.
	refs := map[string]string{}
	touched := map[string]*entry{}
	fullURLs := map[string]*entry{}
	for _, e := range order {
		if !e.isWrite() {
			continue
		}
		if e.fullURL != "" {
			if prev := fullURLs[e.fullURL]; prev != nil {
				return failEntry(e, badRequest("fullUrl %s is also the fullUrl of Bundle.entry[%d]", e.fullURL, prev.index))
			}
			fullURLs[e.fullURL] = e
		}
		if err := a.resolveTarget(ctx, e); err != nil {
			return failEntry(e, err)
		}
		if e.target == "" {
			continue
		}
		if prev := touched[e.target]; prev != nil {
			ex := badRequest("Bundle.entry[%d] and Bundle.entry[%d] both change %s; a transaction may change a resource only once", prev.index, e.index, e.target)
			ex.Issues[0].Code = "duplicate"
			return failEntry(e, ex)
		}
		touched[e.target] = e
		if e.fullURL != "" && e.res != nil && isURN(e.fullURL) {
			refs[e.fullURL] = e.target
		}
	}

	// 2. References: fullUrls of the Bundle's entries become Type/id, conditional references
	// are resolved by search.
	rw := &refRewriter{a: a, ctx: ctx, refs: refs, tx: true}
	for _, e := range b.entries {
		if e.res != nil && e.matched == nil {
			if err := rw.walk(&e.res.Root); err != nil {
				return failEntry(e, err)
			}
		}
	}

	// 3. The writes, in processing order, each against the state before the transaction (a
	// resource is changed at most once).
	writes := make([]store.Write, 0, len(order))
	for _, e := range order {
		if !e.isWrite() {
			continue
		}
		if err := a.planWrite(ctx, e); err != nil {
			return failEntry(e, err)
		}
		if e.write != nil {
			writes = append(writes, *e.write)
			writes = append(writes, e.extra...)
		}
	}
	if len(writes) == 0 {
		return nil
	}
	return a.store.Write(ctx, writes...)
}

// isURN reports whether a fullUrl is a urn:uuid: or urn:oid: placeholder.
func isURN(s string) bool {
	return strings.HasPrefix(s, "urn:uuid:") || strings.HasPrefix(s, "urn:oid:")
}

// resolveTarget chooses what a write entry changes: for POST a new id (or, with
// ifNoneExist, the one match), for conditional PUT and DELETE the match of the criteria.
func (a *API) resolveTarget(ctx context.Context, e *entry) error {
	e.id, e.target, e.cur, e.guard, e.matched, e.write, e.extra = e.urlID, "", nil, nil, nil, nil, nil
	switch e.method {
	case "POST":
		cond, err := a.entryIfNoneExist(e)
		if err != nil {
			return err
		}
		e.id = newID()
		if cond != nil {
			if err := a.conditionalEntry(ctx, e, cond); err != nil {
				return err
			}
			m, n, err := a.searchOne(ctx, *cond)
			switch {
			case err != nil:
				return err
			case n == 0:
				e.guard = cond
			case n == 1:
				e.matched, e.id = &m, m.ID
			default:
				return preconditionFailed("ifNoneExist matched more than one %s; the criteria are not selective enough", e.typ)
			}
		}
	case "PUT":
		bodyID := e.res.ID()
		if !e.hasQ {
			switch {
			case bodyID == "":
				return idError("the resource has no id; PUT needs the id of the url (%s)", e.urlID)
			case bodyID != e.urlID:
				return idError("the id of the resource (%s) is not the id in the url (%s)", bodyID, e.urlID)
			}
			break
		}
		if bodyID != "" && !validID(bodyID) {
			return idError("the id of the resource (%s) is not a valid resource id", bodyID)
		}
		q, m, n, err := a.conditionalMatch(ctx, e)
		switch {
		case err != nil:
			return err
		case n == 0:
			e.guard = &q
			if e.id = bodyID; e.id == "" {
				e.id, e.cur = newID(), &current{}
			}
		default:
			if bodyID != "" && bodyID != m.ID {
				return idError("the id of the resource (%s) is not the id of the resource matched (%s)", bodyID, m.ID)
			}
			e.id, e.cur = m.ID, &current{rec: m, live: true}
		}
	case "DELETE":
		if !e.hasQ {
			break
		}
		_, m, n, err := a.conditionalMatch(ctx, e)
		switch {
		case err != nil:
			return err
		case n == 0:
			e.id = "" // nothing to delete
		default:
			e.id, e.cur = m.ID, &current{rec: m, live: true}
		}
	}
	if e.id != "" {
		e.target = e.typ + "/" + e.id
	}
	return nil
}

// conditionalMatch runs a conditional PUT or DELETE entry's criteria (restricted as
// conditionalEntry restricts them): the query, and its match when there is one (n is 0 or 1);
// several matches are 412.
func (a *API) conditionalMatch(ctx context.Context, e *entry) (q store.Query, m store.Record, n int, err error) {
	if q, err = a.criteria(e); err != nil {
		return q, m, 0, err
	}
	if err = a.conditionalEntry(ctx, e, &q); err != nil {
		return q, m, 0, err
	}
	if m, n, err = a.searchOne(ctx, q); err == nil && n > 1 {
		err = preconditionFailed("the criteria matched more than one %s; they are not selective enough", e.typ)
	}
	return q, m, n, err
}

// conditionalEntry authorizes the entry's interaction on its type before its criteria are
// searched, and confines them to what the caller may search (restrictConditions), so that an
// entry's outcome tells nothing of resources the caller may not see.
func (a *API) conditionalEntry(ctx context.Context, e *entry, q *store.Query) error {
	if _, err := a.authorize(ctx, AccessRequest{Access: e.access(), Type: e.typ}); err != nil {
		return err
	}
	return a.restrictConditions(ctx, q)
}

// entryIfNoneExist parses request.ifNoneExist: search criteria, optionally preceded by
// "[type]?".
func (a *API) entryIfNoneExist(e *entry) (*store.Query, error) {
	v := e.hdr.Get("If-None-Exist")
	if v == "" {
		return nil, nil
	}
	if i := strings.IndexByte(v, '?'); i >= 0 && !strings.Contains(v[:i], "=") {
		v = v[i+1:]
	}
	q, ok, err := a.parseConditions(e.typ, v)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, badRequest("ifNoneExist holds no search criteria")
	}
	return &q, nil
}

// criteria parses the search criteria of a conditional PUT or DELETE url.
func (a *API) criteria(e *entry) (store.Query, error) {
	q, ok, err := a.parseConditions(e.typ, e.query)
	if err != nil {
		return q, err
	}
	if !ok {
		return q, badRequest("%s %s: the url has a '?' but no search criteria", e.method, e.url)
	}
	return q, nil
}

// searchOne runs a conditional search; n is 0, 1 or 2 (more than one), m the match when n is 1.
func (a *API) searchOne(ctx context.Context, q store.Query) (m store.Record, n int, err error) {
	q.Count = 2
	page, err := a.store.Search(ctx, q)
	if err != nil {
		return m, 0, err
	}
	if len(page.Records) == 1 {
		m = page.Records[0]
		if m.Body == nil { // a backend may return matches without bodies
			if m, err = a.store.Read(ctx, m.Type, m.ID); err != nil {
				return m, 0, err
			}
		}
	}
	return m, len(page.Records), nil
}

// planWrite computes the store write of an entry (nil when nothing is to be written) and its
// response, against the current state of its target.
func (a *API) planWrite(ctx context.Context, e *entry) error {
	pre, err := parsePreconditions(e.hdr)
	if err != nil {
		return err
	}
	if _, err := a.authorize(ctx, AccessRequest{Access: e.access(), Type: e.typ, ID: e.id}); err != nil {
		return err
	}
	cur := func() (current, error) {
		if e.cur != nil {
			return *e.cur, nil
		}
		c, err := a.readCurrent(ctx, e.typ, e.id)
		c.rec.Type, c.rec.ID = e.typ, e.id
		return c, err
	}
	switch e.method {
	case "POST":
		if e.matched != nil {
			if err := a.authorizeBody(ctx, AccessRead, e.typ, e.matched.ID, e.matched.Body); err != nil {
				return err // the match is not the caller's to see
			}
			e.status, e.rec, e.hasRec, e.body = http.StatusOK, *e.matched, true, e.matched.Body
			return nil
		}
		extra, err := a.runHooks(ctx, InteractionCreate, e.typ, e.id, e.res, nil, true)
		if err != nil {
			return err
		}
		w := a.versionWrite(store.OpCreate, e.res, e.typ, e.id, 1, time.Time{})
		if err := a.authorizeWrite(ctx, AccessCreate, e.typ, e.id, nil, w.Index, true); err != nil {
			return err
		}
		w.IfNoneExist = e.guard
		e.setWrite(w, http.StatusCreated)
		e.extra = extra
	case "PUT":
		c, err := cur()
		if err != nil {
			return err
		}
		if err := pre.check(c.liveVersion()); err != nil {
			return err
		}
		var prev *store.Record
		if c.live {
			prev = &c.rec
		}
		extra, err := a.runHooks(ctx, InteractionUpdate, e.typ, e.id, e.res, prev, true)
		if err != nil {
			return err
		}
		w := a.versionWrite(store.OpUpdate, e.res, e.typ, e.id, c.rec.Version+1, c.rec.LastUpdated)
		if err := a.authorizeWrite(ctx, AccessUpdate, e.typ, e.id, prev, w.Index, true); err != nil {
			return err
		}
		w.IfNoneExist = e.guard
		status := http.StatusOK
		if !c.live {
			status = http.StatusCreated
		}
		e.setWrite(w, status)
		e.extra = extra
	case "PATCH":
		c, err := cur()
		if err != nil {
			return err
		}
		if !c.live {
			if c.rec.Version == 0 {
				return notFound("%s/%s is not known", e.typ, e.id)
			}
			return gone(c.rec)
		}
		if err := pre.check(c.liveVersion()); err != nil {
			return err
		}
		res, err := applyPatch(e.patch, c.rec.Body, e.typ, e.id)
		if err != nil {
			return err
		}
		extra, err := a.runHooks(ctx, InteractionPatch, e.typ, e.id, res, &c.rec, true)
		if err != nil {
			return err
		}
		w := a.versionWrite(store.OpUpdate, res, e.typ, e.id, c.rec.Version+1, c.rec.LastUpdated)
		if err := a.authorizeWrite(ctx, AccessPatch, e.typ, e.id, &c.rec, w.Index, true); err != nil {
			return err
		}
		e.setWrite(w, http.StatusOK)
		e.extra = extra
	case "DELETE":
		if e.id == "" { // conditional delete without a match
			if err := pre.check(0); err != nil {
				return err
			}
			e.status = http.StatusNoContent
			return nil
		}
		c, err := cur()
		if err != nil {
			return err
		}
		if c.rec.Version == 0 {
			return notFound("%s/%s is not known", e.typ, e.id)
		}
		if err := pre.check(c.liveVersion()); err != nil {
			return err
		}
		if !c.live { // already deleted: nothing written
			e.status, e.rec, e.hasRec = http.StatusNoContent, c.rec, true
			return nil
		}
		if err := a.authorizeWrite(ctx, AccessDelete, e.typ, e.id, &c.rec, nil, false); err != nil {
			return err
		}
		extra, err := a.runHooks(ctx, InteractionDelete, e.typ, e.id, nil, &c.rec, true)
		if err != nil {
			return err
		}
		e.setWrite(store.Write{Op: store.OpDelete, Type: e.typ, ID: e.id, Version: c.rec.Version + 1,
			LastUpdated: a.stamp(c.rec.LastUpdated)}, http.StatusNoContent)
		e.extra = extra
	}
	return nil
}

func (e *entry) setWrite(w store.Write, status int) {
	e.write, e.status, e.rec, e.hasRec, e.body = &w, status, record(w), true, w.Body
}

// fail records an entry's error as its response (batch, and GET entries of a transaction).
func (e *entry) fail(err error) {
	status, issues, _ := classify(err)
	e.status, e.issues, e.hasRec, e.body, e.write, e.extra = status, issues, false, nil, nil, nil
}

// getEntry evaluates a GET or HEAD entry: read, vread, history, or search (which goes through
// the search route, see subRequester).
func (a *API) getEntry(ctx context.Context, b *bundleRequest, e *entry) error {
	p := e.path
	switch e.get {
	case getSearch:
		return b.sub.search(ctx, e)
	case getRead:
		if _, err := a.authorize(ctx, AccessRequest{Access: AccessRead, Type: e.typ, ID: e.urlID}); err != nil {
			return err
		}
		rec, err := a.store.Read(ctx, e.typ, e.urlID)
		if err != nil {
			return readError(err, rec, e.typ, e.urlID)
		}
		if err := a.authorizeBody(ctx, AccessRead, e.typ, e.urlID, rec.Body); err != nil {
			return err
		}
		return e.answerRead(rec)
	case getVRead:
		v, err := strconv.ParseInt(p[3], 10, 64)
		if err != nil || v < 1 || p[3][0] == '+' {
			return notFound("%s/%s has no version %q", e.typ, e.urlID, p[3])
		}
		if _, err := a.authorize(ctx, AccessRequest{Access: AccessVRead, Type: e.typ, ID: e.urlID}); err != nil {
			return err
		}
		rec, err := a.store.VRead(ctx, e.typ, e.urlID, v)
		if err != nil {
			return readError(err, rec, e.typ, e.urlID)
		}
		if err := a.authorizeBody(ctx, AccessVRead, e.typ, e.urlID, rec.Body); err != nil {
			return err
		}
		return e.answerRead(rec)
	case getHistory:
		q := store.HistoryQuery{Type: e.typ, ID: e.urlID}
		params, err := url.ParseQuery(e.query)
		if err != nil {
			return badRequest("the query of %s is not correctly URL-encoded", e.url)
		}
		page, err := a.historyPage(ctx, &q, params)
		if err != nil {
			return err
		}
		e.status, e.body = http.StatusOK, a.historyBundle(q, params, page)
		if e.method == "HEAD" {
			e.body = nil
		}
		return nil
	}
	return notFound("%s %s is not an interaction this server supports in a Bundle", e.method, e.url)
}

// answerRead is the response of a read or vread entry, 304 under ifNoneMatch/ifModifiedSince.
func (e *entry) answerRead(rec store.Record) error {
	e.rec, e.hasRec = rec, true
	nm := false
	if len(e.hdr["If-None-Match"]) > 0 {
		c, err := parseETagCond(e.hdr, "If-None-Match")
		if err != nil {
			return err
		}
		nm = c.matches(rec.Version)
	} else if s := e.hdr.Get("If-Modified-Since"); s != "" {
		if t, ok := ifModifiedSince(s); ok {
			nm = !rec.LastUpdated.Truncate(time.Second).After(t)
		}
	}
	if nm {
		e.status = http.StatusNotModified
		return nil
	}
	e.status = http.StatusOK
	if e.method == "GET" {
		e.body = rec.Body
	}
	return nil
}

// refRewriter rewrites the references of a resource (http.html#trules): a reference (or any
// other string, for uri elements) equal to the fullUrl of an entry becomes that entry's
// Type/id, and a conditional reference (Patient?identifier=...) becomes the one resource it
// matches.
type refRewriter struct {
	a    *API
	ctx  context.Context
	refs map[string]string // fullUrl -> Type/id
	tx   bool              // false in a batch, where entries may not refer to each other
	// batchURLs are the urn fullUrls of a batch's entries (references to them fail).
	batchURLs map[string]bool
	cond      map[string]string // resolved conditional references
}

func (rw *refRewriter) walk(v *fhir.Value) error {
	switch v.Kind {
	case fhir.Object:
		for i := range v.Obj {
			m := &v.Obj[i]
			if m.Key == "reference" && m.Value.Kind == fhir.String {
				if err := rw.reference(&m.Value); err != nil {
					return err
				}
				continue
			}
			if err := rw.walk(&m.Value); err != nil {
				return err
			}
		}
	case fhir.Array:
		for i := range v.Arr {
			if err := rw.walk(&v.Arr[i]); err != nil {
				return err
			}
		}
	case fhir.String:
		if len(v.Text) > 8 && v.Text[0] == 'u' && isURN(v.Text) {
			if t, ok := rw.refs[v.Text]; ok {
				v.Text = t
			}
		}
	}
	return nil
}

func (rw *refRewriter) reference(v *fhir.Value) error {
	s := v.Text
	if t, ok := rw.refs[s]; ok {
		v.Text = t
		return nil
	}
	if isURN(s) {
		if !rw.tx {
			if rw.batchURLs[s] {
				ex := badRequest("reference %s points to another entry of the batch; entries of a batch may not depend on each other (use a transaction)", s)
				ex.Err = errBundleEntryRef
				return ex
			}
			return nil
		}
		return badRequest("reference %s is the fullUrl of no entry that creates or updates a resource in this transaction", s)
	}
	i := strings.IndexByte(s, '?')
	if i <= 0 || !validType(s[:i]) {
		return nil
	}
	typ := s[:i]
	if t, ok := rw.cond[s]; ok {
		v.Text = t
		return nil
	}
	if _, ok := rw.a.types[typ]; !ok {
		return notFound("conditional reference %s: resource type %q is not served here", s, typ)
	}
	q, ok, err := rw.a.parseConditions(typ, s[i+1:])
	if err != nil {
		return err
	}
	if !ok {
		return badRequest("conditional reference %s has no search criteria", s)
	}
	// Resolved only among what the caller may search: a 412 must not tell of others.
	if err := rw.a.restrictConditions(rw.ctx, &q); err != nil {
		return err
	}
	m, n, err := rw.a.searchOne(rw.ctx, q)
	if err != nil {
		return err
	}
	if n != 1 {
		what := "no"
		if n > 1 {
			what = "more than one"
		}
		return preconditionFailed("conditional reference %s matched %s resource; it must match exactly one", s, what)
	}
	if rw.cond == nil {
		rw.cond = map[string]string{}
	}
	t := typ + "/" + m.ID
	rw.cond[s] = t
	v.Text = t
	return nil
}
