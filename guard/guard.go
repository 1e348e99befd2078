// Package guard is where access is enforced. A View is the store as one caller may see and
// change it: every read, version read, search (with its chains and _has, at every depth),
// history page, conditional match and write of the FHIR API goes through the View of its
// request, built from the caller's policy.Principal. The API never holds the store itself.
//
// The View answers as the store would if it held only what the caller may see: a resource
// the caller may not see is not found (404, never 403, so that its existence does not leak);
// searches add the policy's clauses to the query at every level, so pages, totals and
// counts are those of that smaller store; a type the caller has no scope for is refused
// (policy.DeniedError, 403). Writes are checked version by version against the policy, and
// writes that a server-side service (a write hook) adds are checked against that service's
// own principal. docs/smart.md, "Where access is decided and enforced".
package guard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/policy"
	"github.com/portico-health/portico/store"
)

// Config configures a Source.
type Config struct {
	Store store.Store
	// Policy decides; nil makes an open Source whose views allow everything (portico serve
	// --auth=none).
	Policy *policy.Policy
	// BaseURL is the FHIR base: references to it are read as local ones, as the API indexes them.
	BaseURL string
	// Services are the principals of server-side services (write hooks) whose writes the
	// API adds to a client's write (store.Write.Service names one).
	Services []policy.Principal
	Logger   *slog.Logger
	// SearchTimeout bounds each search and history page a view runs (0: no bound): a search
	// still running then is stopped, and fails with ErrSearchTooLong.
	SearchTimeout time.Duration
}

// ErrSearchTooLong: a search or history page ran past Config.SearchTimeout and was stopped.
// It also matches context.DeadlineExceeded.
var ErrSearchTooLong = errors.New("guard: the search ran past the server's time limit")

// Source makes the views of one store.
type Source struct {
	store    store.Store
	policy   *policy.Policy
	base     string
	services map[string]policy.Principal
	log      *slog.Logger
	reach    reachCache  // users' patients resolved to ids (reach.go)
	indexes  *indexCache // large versions' index entries (indexcache.go)
	timeout  time.Duration
}

// New returns a Source.
func New(cfg Config) (*Source, error) {
	if cfg.Store == nil {
		return nil, errors.New("guard: Config.Store is required")
	}
	if cfg.SearchTimeout < 0 {
		return nil, errors.New("guard: Config.SearchTimeout must not be negative")
	}
	s := &Source{store: cfg.Store, policy: cfg.Policy, base: cfg.BaseURL, services: map[string]policy.Principal{}, log: cfg.Logger,
		timeout: cfg.SearchTimeout, indexes: newIndexCache()}
	for _, p := range cfg.Services {
		if p.Service == "" {
			return nil, errors.New("guard: a service principal needs a name")
		}
		s.services[p.Service] = p
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

// Open reports whether the source enforces nothing.
func (s *Source) Open() bool { return s.policy == nil }

// errNoPrincipal: a protected request without a principal (cannot happen behind the
// authentication middleware): fail closed.
var errNoPrincipal = &policy.DeniedError{Reason: "the request carries no authenticated principal"}

// View is the view of the principal the authentication middleware put in ctx.
func (s *Source) View(ctx context.Context) (*View, error) {
	if s.policy == nil {
		return s.newView(policy.Principal{}), nil
	}
	p, ok := policy.PrincipalFrom(ctx)
	if !ok {
		return nil, errNoPrincipal
	}
	p, err := s.resolveReach(ctx, p)
	if err != nil {
		return nil, err
	}
	return s.newView(p), nil
}

// ViewAs is the view of principal p (a service, or a caller known otherwise).
func (s *Source) ViewAs(p policy.Principal) *View { return s.newView(p) }

// Service is the view of a registered service principal; ok is false for an unknown name.
func (s *Source) Service(name string) (*View, bool) {
	p, ok := s.services[name]
	if !ok {
		return nil, false
	}
	return s.newView(p), true
}

func (s *Source) newView(p policy.Principal) *View {
	return &View{src: s, p: p, intent: policy.PermRead, memo: &memo{decisions: map[decisionKey]policy.Decision{}, inSet: map[setKey]bool{},
		through: map[setKey]bool{}}}
}

// View is the store as one principal may see and change it. It implements store.Store; a
// View is for one request (it caches the policy's answers) and is safe for concurrent use by
// that request only.
type View struct {
	src    *Source
	p      policy.Principal
	intent policy.Perm // what Read and VRead are for: PermRead, or a write's permission
	memo   *memo
}

type decisionKey struct {
	typ  string
	perm policy.Perm
}

type setKey struct {
	set     *policy.PatientSet
	patient string
}

// memo caches, for one request, the policy's decisions and the patients found in a set.
type memo struct {
	decisions map[decisionKey]policy.Decision
	inSet     map[setKey]bool
	through   map[setKey]bool // "Schedule/id": whether a Slot's Schedule passes (throughVisible)
}

// Principal is the view's principal.
func (v *View) Principal() policy.Principal { return v.p }

// For returns the view whose Read and VRead serve a write with permission perm (PermUpdate,
// PermDelete): a resource the caller may read but not change is then refused (403); one it
// may not even see is not found. Searches and history are unchanged.
func (v *View) For(perm policy.Perm) *View {
	w := *v
	w.intent = perm
	return &w
}

// Decide is the policy's decision for perm on typ (always allowed on an open source).
func (v *View) Decide(typ string, perm policy.Perm) policy.Decision {
	if v.src.policy == nil {
		return policy.Decision{Type: typ, Perm: perm, Allow: true}
	}
	k := decisionKey{typ, perm}
	if d, ok := v.memo.decisions[k]; ok {
		return d
	}
	d := v.src.policy.Decide(v.p, typ, perm)
	v.memo.decisions[k] = d
	return d
}

// Can is nil when the caller may use perm on typ at all (some resources of it at least);
// else the policy's refusal (403).
func (v *View) Can(typ string, perm policy.Perm) error { return v.Decide(typ, perm).Err() }

// Unrestricted reports whether the caller may use perm on every resource of typ.
func (v *View) Unrestricted(typ string, perm policy.Perm) bool {
	d := v.Decide(typ, perm)
	return d.Allow && !d.Restricted()
}

// notVisible is the error of a resource the caller may not see: it is not found.
func notVisible(typ, id string) error {
	return fmt.Errorf("guard: %s/%s is not visible to the caller: %w", typ, id, store.ErrNotFound)
}

// Read implements store.Store: the current version, when the caller may see it.
//
// For a restricted caller the store is first asked for the resource by its id and the
// policy's clauses (through the search index, as the server's own search: store.Internal). A
// match is then checked as every read is (checkRead parses it); no match and a live resource
// at that id is not visible, refused without its body being parsed: a hidden resource of 4 MB
// took 50 ms more to refuse than an id that never existed.
func (v *View) Read(ctx context.Context, typ, id string) (store.Record, error) {
	vis, write, err := v.readDecisions(typ)
	if err != nil {
		return store.Record{}, err
	}
	if vis.Restricted() && v.src.policy != nil && v.intent == policy.PermRead {
		page, err := v.src.store.Search(store.Internal(ctx), store.Query{Types: []string{typ},
			Where: append([]store.Clause{idIs(id)}, vis.Clauses()...), Count: 1})
		if err != nil {
			return store.Record{}, err
		}
		if len(page.Records) == 1 && page.Records[0].Body != nil {
			return v.checkRead(ctx, typ, id, page.Records[0], nil, vis, write)
		}
		if len(page.Records) == 0 {
			rec, err := v.src.store.Read(ctx, typ, id)
			if err == nil {
				return store.Record{}, notVisible(typ, id)
			}
			return v.checkRead(ctx, typ, id, rec, err, vis, write) // not found, or a tombstone
		}
	}
	rec, err := v.src.store.Read(ctx, typ, id)
	return v.checkRead(ctx, typ, id, rec, err, vis, write)
}

// VRead implements store.Store: one version, when the caller may see that version.
func (v *View) VRead(ctx context.Context, typ, id string, version int64) (store.Record, error) {
	vis, write, err := v.readDecisions(typ)
	if err != nil {
		return store.Record{}, err
	}
	rec, err := v.src.store.VRead(ctx, typ, id, version)
	return v.checkRead(ctx, typ, id, rec, err, vis, write)
}

// readDecisions are the decisions a Read or VRead answers by: what the caller may see, and
// for a write, what it may change (write.Allow false when the view reads for reading).
func (v *View) readDecisions(typ string) (vis, write policy.Decision, err error) {
	vis = v.Decide(typ, policy.PermRead)
	if v.intent == policy.PermRead {
		return vis, write, vis.Err()
	}
	write = v.Decide(typ, v.intent)
	if !write.Allow {
		return vis, write, write.Err()
	}
	if !vis.Allow { // a write-only token sees what it may change
		vis = write
	}
	return vis, write, nil
}

func (v *View) checkRead(ctx context.Context, typ, id string, rec store.Record, err error, vis, write policy.Decision) (store.Record, error) {
	if !vis.Restricted() && !write.Restricted() {
		return rec, err
	}
	switch {
	case err == nil:
		ok, cerr := v.visible(ctx, vis, rec)
		if cerr != nil {
			return store.Record{}, cerr
		}
		if !ok {
			return store.Record{}, notVisible(typ, id)
		}
		if write.Restricted() {
			ok, cerr := v.writable(ctx, write, rec)
			if cerr != nil {
				return store.Record{}, cerr
			}
			if !ok {
				return store.Record{}, policy.Deny("the token may read %s/%s but not change it", typ, id)
			}
		}
		return rec, nil
	case errors.Is(err, store.ErrGone):
		// A tombstone carries nothing: it is the caller's to see when the version it
		// deleted was (a delete never follows a delete, so that version is live).
		ok, cerr := v.versionVisible(ctx, vis, typ, id, rec.Version-1)
		if cerr != nil {
			return store.Record{}, cerr
		}
		if !ok {
			return store.Record{}, notVisible(typ, id)
		}
	}
	return rec, err
}

// versionVisible reports whether version n of typ/id is a live version the caller may see.
func (v *View) versionVisible(ctx context.Context, d policy.Decision, typ, id string, n int64) (bool, error) {
	if n < 1 {
		return false, nil
	}
	prev, err := v.src.store.VRead(ctx, typ, id, n)
	switch {
	case errors.Is(err, store.ErrGone), errors.Is(err, store.ErrNotFound):
		return false, nil
	case err != nil:
		return false, err
	}
	return v.visible(ctx, d, prev)
}

// visible reports whether a live record passes decision d (for a read or a search).
func (v *View) visible(ctx context.Context, d policy.Decision, rec store.Record) (bool, error) {
	if !d.Allow {
		return false, nil
	}
	if !d.Restricted() {
		return true, nil
	}
	if rec.Body == nil {
		return false, nil
	}
	index, err := v.index(rec)
	if err != nil {
		return false, err
	}
	patients := policy.PatientsOf(rec.Type, rec.ID, index)
	for _, a := range d.Alternatives {
		if !a.ParamsMatch(index) {
			continue
		}
		if th, ok := policy.ThroughOf(rec.Type); ok && a.Patients != nil && a.Shared {
			ok, err := v.throughVisible(ctx, a, th, index)
			if err != nil || ok {
				return ok, err
			}
			continue
		}
		if a.Patients == nil || (a.Shared && !policy.NamesPatient(rec.Type, index)) {
			return true, nil
		}
		ok, err := v.anyIn(ctx, a.Patients, patients)
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

// throughVisible reports whether the resource that index's reference th resolves to (a
// Slot's Schedule, read as it is now) passes the shared alternative a: it names no patient,
// or one a reaches. The answer is remembered for the request (a page of Slots shares a few
// Schedules).
func (v *View) throughVisible(ctx context.Context, a policy.Alternative, th policy.Through, index []store.IndexEntry) (bool, error) {
	id := ""
	for _, e := range index {
		if e.Kind == store.KindReference && e.Param == th.Param && e.RefType == th.Type && e.RefID != "" {
			id = e.RefID
			break
		}
	}
	if id == "" {
		return false, nil
	}
	k := setKey{a.Patients, th.Type + "/" + id}
	if ok, found := v.memo.through[k]; found {
		return ok, nil
	}
	rec, err := v.src.store.Read(ctx, th.Type, id)
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrGone):
		v.memo.through[k] = false
		return false, nil
	case err != nil:
		return false, err
	}
	owner, err := v.index(rec)
	if err != nil {
		return false, err
	}
	patients := policy.PatientsOf(th.Type, id, owner)
	ok := !policy.NamesPatient(th.Type, owner)
	if !ok {
		if ok, err = v.anyIn(ctx, a.Patients, patients); err != nil {
			return false, err
		}
	}
	v.memo.through[k] = ok
	return ok, nil
}

// writable reports whether a version with this body passes write decision d: some
// alternative's parameters match, and when it is confined to patients, the version names at
// least one patient and only patients of its set.
func (v *View) writable(ctx context.Context, d policy.Decision, rec store.Record) (bool, error) {
	index, err := v.index(rec)
	if err != nil {
		return false, err
	}
	return v.writableIndex(ctx, d, rec.Type, rec.ID, index)
}

func (v *View) writableIndex(ctx context.Context, d policy.Decision, typ, id string, index []store.IndexEntry) (bool, error) {
	if !d.Allow {
		return false, nil
	}
	if !d.Restricted() {
		return true, nil
	}
	patients := policy.PatientsOf(typ, id, index)
	for _, a := range d.Alternatives {
		if !a.ParamsMatch(index) {
			continue
		}
		if a.Patients == nil {
			return true, nil
		}
		if len(patients) == 0 || !a.SenderOK(typ, index, patients) {
			continue
		}
		ok, err := v.allIn(ctx, a.Patients, patients)
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

// anyIn reports whether one of the patients is in set; allIn whether all are.
func (v *View) anyIn(ctx context.Context, set *policy.PatientSet, patients []string) (bool, error) {
	for _, p := range patients {
		ok, err := v.inSet(ctx, set, p)
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

func (v *View) allIn(ctx context.Context, set *policy.PatientSet, patients []string) (bool, error) {
	for _, p := range patients {
		ok, err := v.inSet(ctx, set, p)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

// inSet reports whether patient id is in set: by its ids, or by a search of the set's clauses
// (the patient must exist and match them now), remembered for the request.
func (v *View) inSet(ctx context.Context, set *policy.PatientSet, id string) (bool, error) {
	if set.Where == nil {
		return slices.Contains(set.IDs, id), nil
	}
	k := setKey{set, id}
	if ok, found := v.memo.inSet[k]; found {
		return ok, nil
	}
	where := append([]store.Clause{idIs(id)}, set.Where...)
	// One patient by id: cheap, and every read of a staff user waits for it (store.Internal).
	page, err := v.src.store.Search(store.Internal(ctx), store.Query{Types: []string{"Patient"}, Where: where, Count: 1})
	if err != nil {
		return false, fmt.Errorf("guard: checking a patient against the caller's reach: %w", err)
	}
	ok := len(page.Records) > 0
	v.memo.inSet[k] = ok
	return ok, nil
}

// idIs is the clause "_id = id".
func idIs(id string) store.Clause {
	return store.Clause{Param: "_id", Kind: store.KindToken, Values: []store.Value{{Code: id}}}
}

// index returns a stored version's index entries, extracted as the API did when it wrote it
// (remembered for large versions: indexcache.go). They may be shared: callers must not
// change them.
func (v *View) index(rec store.Record) ([]store.IndexEntry, error) {
	key, cache := v.src.indexes.key(rec.Type, rec.ID, rec.Version, rec.Body)
	if cache {
		if entries, ok := v.src.indexes.get(key); ok {
			return entries, nil
		}
	}
	root, err := fhir.ParseJSON(rec.Body)
	if err != nil {
		return nil, fmt.Errorf("guard: a stored resource does not parse: %w", err)
	}
	entries, err := fhir.ExtractIndexBase(&fhir.Resource{Root: root}, v.src.base)
	if err == nil && cache {
		v.src.indexes.put(key, entries)
	}
	return entries, err
}

// Purge removes a resource and all its history: only for a caller who may delete every
// resource of the type (the API offers no purge; the authorization server and the admin
// commands purge through the store itself).
func (v *View) Purge(ctx context.Context, typ, id string) error {
	if !v.Unrestricted(typ, policy.PermDelete) {
		return policy.Deny("purging %s needs unrestricted delete on it", typ)
	}
	return v.src.store.Purge(ctx, typ, id)
}

// bounded runs f (a search or a history page) within the source's time limit, and within
// what is left of the request's search budget (WithSearchBudget), if it has one.
func (v *View) bounded(ctx context.Context, f func(ctx context.Context) (store.Page, error)) (store.Page, error) {
	limit := v.src.timeout
	b, _ := ctx.Value(budgetKey{}).(*searchBudget)
	if b != nil {
		left := b.left()
		if left <= 0 {
			return store.Page{}, fmt.Errorf("%w: the request's searches together ran %v: %w", ErrSearchTooLong, b.total, context.DeadlineExceeded)
		}
		if limit <= 0 || left < limit {
			limit = left
		}
		start := time.Now()
		defer func() { b.spend(time.Since(start)) }()
	}
	if limit <= 0 {
		return f(ctx)
	}
	inner, cancel := context.WithTimeoutCause(ctx, limit, ErrSearchTooLong)
	defer cancel()
	page, err := f(inner)
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(inner), ErrSearchTooLong) {
		return store.Page{}, fmt.Errorf("%w (%v): %w", ErrSearchTooLong, limit, context.DeadlineExceeded)
	}
	return page, err
}

type budgetKey struct{}

// searchBudget is the search time a request may still spend over all its searches.
type searchBudget struct {
	total time.Duration
	mu    sync.Mutex
	spent time.Duration
}

func (b *searchBudget) left() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.total - b.spent
}

func (b *searchBudget) spend(d time.Duration) {
	b.mu.Lock()
	b.spent += d
	b.mu.Unlock()
}

// WithSearchBudget bounds the time all the searches and history pages run through views with
// ctx may take together (each still within Config.SearchTimeout): a Bundle of a thousand search
// entries, each within the limit, would otherwise keep a core busy for many minutes. Once it is
// spent, each further search fails at once with ErrSearchTooLong.
func WithSearchBudget(ctx context.Context, total time.Duration) context.Context {
	return context.WithValue(ctx, budgetKey{}, &searchBudget{total: total})
}

// Ping implements store.Store.
func (v *View) Ping(ctx context.Context) error { return v.src.store.Ping(ctx) }

// Capabilities are those of the store underneath.
func (v *View) Capabilities() store.Capabilities { return store.CapabilitiesOf(v.src.store) }

// Close implements store.Store; a view does not own the store.
func (v *View) Close() error { return errors.New("guard: a view cannot close the store") }
