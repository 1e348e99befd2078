package api

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/guard"
	"github.com/portico-health/portico/policy"
	"github.com/portico-health/portico/store"
)

// The interaction engine: every FHIR interaction, whether it comes as an HTTP request or as
// an entry of a batch or transaction Bundle, is an *entry processed by the functions here.
// The HTTP handlers build an entry from the request (httpentry.go); a batch runs each entry
// with runEntry; a transaction plans every write entry (resolveTarget, planWrite) and commits
// them in one store write. All of them reach the store through the request's guard.View.

// perm is the permission the policy checks for a write entry.
func (e *entry) perm() policy.Perm {
	switch e.method {
	case "POST":
		return policy.PermCreate
	case "DELETE":
		return policy.PermDelete
	}
	return policy.PermUpdate // PUT, PATCH
}

// runEntry processes one write entry on its own (an HTTP write, or a batch entry): it picks
// the target, rewrites the entry's references when refs is set (a batch), plans the write and
// commits it, re-reading and retrying (up to maxAttempts) when a concurrent write wins the
// race, unless a precondition (If-Match) was given: then the lost race is HTTP 412.
func (a *API) runEntry(ctx context.Context, v *guard.View, e *entry, refs *refRewriter) error {
	pre, err := parsePreconditions(e.hdr)
	if err != nil {
		return err
	}
	snap := a.snapshot(e.res)
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return err
			}
			e.res = refresh(e.res, snap)
		}
		if err := a.resolveTarget(ctx, v, e); err != nil {
			return err
		}
		if refs != nil && e.res != nil && e.matched == nil {
			if err := refs.walk(&e.res.Root); err != nil {
				return err
			}
		}
		if err := a.planWrite(ctx, v, e); err != nil {
			return err
		}
		if e.write == nil {
			return nil
		}
		if attempt == 0 {
			if err := a.admitIndexEntries(ctx, *e.write); err != nil {
				return err
			}
		}
		err := v.Write(ctx, withExtra(*e.write, e.extra)...)
		if err == nil {
			return nil
		}
		if err := raceOutcome(err, pre, attempt); err != nil {
			return err
		}
	}
}

// resolveTarget chooses what a write entry changes: for POST a new id (or, with
// ifNoneExist, the one match), for conditional PUT and DELETE the match of the criteria.
// Criteria are searched through the view: they find only what the caller may search.
func (a *API) resolveTarget(ctx context.Context, v *guard.View, e *entry) error {
	e.id, e.target, e.cur, e.guard, e.matched, e.write, e.extra = e.urlID, "", nil, nil, nil, nil, nil
	if err := v.Can(e.typ, e.perm()); err != nil {
		return err // refused before anything is searched or read
	}
	switch e.method {
	case "POST":
		cond, err := a.entryIfNoneExist(e)
		if err != nil {
			return err
		}
		e.id = newID()
		if cond != nil {
			m, n, err := searchOne(ctx, v, *cond)
			switch {
			case err != nil:
				return err
			case n == 0:
				e.guard = cond
			case n == 1:
				e.matched, e.id = &m, m.ID
			default:
				return preconditionFailed("If-None-Exist matched more than one %s; the criteria are not selective enough", e.typ)
			}
		}
	case "PUT":
		bodyID := e.bodyID
		if !e.hasQ {
			switch {
			case bodyID == "":
				return idError("the resource has no id; PUT needs the id of the URL (%s)", e.urlID)
			case bodyID != e.urlID:
				return idError("the id of the resource (%s) is not the id in the URL (%s)", bodyID, e.urlID)
			}
			break
		}
		if bodyID != "" && !validID(bodyID) {
			return idError("the id of the resource (%s) is not a valid resource id", bodyID)
		}
		q, m, n, err := a.conditionalMatch(ctx, v, e)
		switch {
		case err != nil:
			return err
		case n == 0:
			e.guard = &q
			if e.id = bodyID; e.id == "" {
				e.id, e.cur = newID(), &current{}
			} else if !v.Unrestricted(e.typ, policy.PermUpdate) {
				return guard.ErrNoUpdateAsCreate
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
		_, m, n, err := a.conditionalMatch(ctx, v, e)
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

// conditionalMatch runs a conditional PUT or DELETE entry's criteria: the query, and its match
// when there is one (n is 0 or 1); several matches are 412.
func (a *API) conditionalMatch(ctx context.Context, v *guard.View, e *entry) (q store.Query, m store.Record, n int, err error) {
	if q, err = a.criteria(e); err != nil {
		return q, m, 0, err
	}
	if m, n, err = searchOne(ctx, v, q); err == nil && n > 1 {
		err = preconditionFailed("the criteria matched more than one %s; they are not selective enough", e.typ)
	}
	return q, m, n, err
}

// entryIfNoneExist parses If-None-Exist (request.ifNoneExist): search criteria, optionally
// preceded by "[type]?", as some clients send them; or the criteria in the URL of an HTTP
// create (create.go).
func (a *API) entryIfNoneExist(e *entry) (*store.Query, error) {
	v := e.hdr.Get("If-None-Exist")
	if e.hasQ {
		v = e.query
	}
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
		return nil, badRequest("If-None-Exist holds no search criteria")
	}
	return &q, nil
}

// criteria parses the search criteria of a conditional PUT or DELETE URL.
func (a *API) criteria(e *entry) (store.Query, error) {
	q, ok, err := a.parseConditions(e.typ, e.query)
	if err != nil {
		return q, err
	}
	if !ok {
		return q, needsCriteria(e.method)
	}
	return q, nil
}

// searchOne runs a conditional search through the caller's view; n is 0, 1 or 2 (more than
// one), m the match when n is 1.
func searchOne(ctx context.Context, v *guard.View, q store.Query) (m store.Record, n int, err error) {
	q.Count = 2
	page, err := v.Search(ctx, q)
	if err != nil {
		return m, 0, err
	}
	if len(page.Records) == 1 {
		m = page.Records[0]
		if m.Body == nil { // a backend may return matches without bodies
			if m, err = v.Read(ctx, m.Type, m.ID); err != nil {
				return m, 0, err
			}
		}
	}
	return m, len(page.Records), nil
}

// planWrite computes the store write of an entry (nil when nothing is to be written) and its
// response, against the current state of its target read through the view. The guard
// authorizes the write itself when it is committed.
func (a *API) planWrite(ctx context.Context, v *guard.View, e *entry) error {
	pre, err := parsePreconditions(e.hdr)
	if err != nil {
		return err
	}
	cur := func() (current, error) {
		if e.cur != nil {
			return *e.cur, nil
		}
		c, err := readCurrent(ctx, v.For(e.perm()), e.typ, e.id)
		c.rec.Type, c.rec.ID = e.typ, e.id
		return c, err
	}
	switch e.method {
	case "POST":
		if e.matched != nil {
			e.status, e.rec, e.hasRec, e.body = http.StatusOK, *e.matched, true, e.matched.Body
			return nil
		}
		extra, err := a.runHooks(ctx, v, InteractionCreate, e.typ, e.id, e.res, nil, e.inBundle)
		if err != nil {
			return err
		}
		w, err := a.indexedWrite(store.OpCreate, e.res, e.typ, e.id, 1, time.Time{})
		if err != nil {
			return err
		}
		w.IfNoneExist = e.guard
		w.Fresh = e.guard == nil // the id was made by newID above
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
		} else if e.guard == nil && !v.Unrestricted(e.typ, policy.PermUpdate) {
			return guard.ErrNoUpdateAsCreate
		}
		extra, err := a.runHooks(ctx, v, InteractionUpdate, e.typ, e.id, e.res, prev, e.inBundle)
		if err != nil {
			return err
		}
		w, err := a.indexedWrite(store.OpUpdate, e.res, e.typ, e.id, c.rec.Version+1, c.rec.LastUpdated)
		if err != nil {
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
		res, err := applyPatch(ctx, e.patch, c.rec.Body, e.typ, e.id, int(a.maxBody))
		if err != nil {
			return err
		}
		extra, err := a.runHooks(ctx, v, InteractionPatch, e.typ, e.id, res, &c.rec, e.inBundle)
		if err != nil {
			return err
		}
		w, err := a.indexedWrite(store.OpUpdate, res, e.typ, e.id, c.rec.Version+1, c.rec.LastUpdated)
		if err != nil {
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
		extra, err := a.runHooks(ctx, v, InteractionDelete, e.typ, e.id, nil, &c.rec, e.inBundle)
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
func (a *API) getEntry(ctx context.Context, v *guard.View, b *bundleRequest, e *entry) error {
	if limit := a.bundleResponseBytes(); b.readBytes >= limit {
		return errorf(http.StatusBadRequest, "too-costly",
			"the response Bundle already holds %d MiB of resources read by its earlier entries, the most one Bundle may: read the rest in another request", limit>>20)
	}
	var err error
	if e.get == getSearch {
		err = b.sub.search(ctx, e)
	} else {
		err = a.readEntry(ctx, v, e)
	}
	b.readBytes += len(e.body)
	return err
}

// bundleResponseBytes bounds what a Bundle's read and search entries together put in its
// response (the entry that crosses it is kept whole): one patient's batch of 200 reads of their
// own 7 MB Observation held 1.4 GB for one request (blind attack, round 7). Twice a search
// page's budget: 32 MiB by default.
func (a *API) bundleResponseBytes() int { return 2 * a.pageBytes() }

// readEntry evaluates a read, vread or history entry (a GET or HEAD request to one, too).
// A read or vread honours _summary and _elements in its query, as a search does.
func (a *API) readEntry(ctx context.Context, v *guard.View, e *entry) error {
	var sub subsetSpec
	if e.get == getRead || e.get == getVRead {
		// A read ignores the parameters it cannot decode, as it ignores those it does not know.
		params, _ := url.ParseQuery(e.query)
		var err error
		if sub, err = readSubset(params); err != nil {
			return err
		}
	}
	switch e.get {
	case getRead:
		rec, err := v.Read(ctx, e.typ, e.urlID)
		if err != nil {
			return readError(err, rec, e.typ, e.urlID)
		}
		return e.answerRead(rec, sub)
	case getVRead:
		vid := e.path[3]
		n, err := strconv.ParseInt(vid, 10, 64)
		if err != nil || n < 1 || vid[0] == '+' {
			return notFound("%s/%s has no version %q", e.typ, e.urlID, vid)
		}
		rec, err := v.VRead(ctx, e.typ, e.urlID, n)
		if err != nil {
			return readError(err, rec, e.typ, e.urlID)
		}
		return e.answerRead(rec, sub)
	case getHistory:
		q := store.HistoryQuery{Type: e.typ, ID: e.urlID}
		params, err := url.ParseQuery(e.query)
		if err != nil {
			return badRequest("the query of %s is not correctly URL-encoded", e.url)
		}
		page, err := a.historyPage(ctx, v, &q, params)
		if err != nil {
			return err
		}
		e.status, e.body = http.StatusOK, a.historyBundle(ctx, q, params, page)
		if e.method == "HEAD" {
			e.body = nil
		}
		return nil
	}
	return notFound("%s %s is not an interaction this server supports in a Bundle", e.method, e.url)
}

// answerRead is the response of a read or vread entry, 304 under ifNoneMatch/ifModifiedSince;
// the body is the stored one, or the subset sub asks for.
func (e *entry) answerRead(rec store.Record, sub subsetSpec) error {
	e.rec, e.hasRec = rec, true
	nm, err := notModified(e.hdr, rec)
	if err != nil {
		return err
	}
	if nm {
		e.status = http.StatusNotModified
		return nil
	}
	e.status = http.StatusOK
	if e.method == "GET" {
		if e.body, err = sub.subset(rec); err != nil {
			return err
		}
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
	v    *guard.View
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
	// Resolved through the caller's view: only among what it may search.
	m, n, err := searchOne(rw.ctx, rw.v, q)
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
