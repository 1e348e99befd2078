package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/guard"
	"github.com/portico-health/portico/policy"
	"github.com/portico-health/portico/store"
)

// Interaction names the kind of write a WriteHook sees.
type Interaction string

// The interactions that write. Conditional variants and Bundle entries report the interaction
// they perform (a conditional update is InteractionUpdate, a POST entry InteractionCreate).
const (
	InteractionCreate Interaction = "create"
	InteractionUpdate Interaction = "update" // PUT, including update-as-create (Previous is nil then)
	InteractionPatch  Interaction = "patch"
	InteractionDelete Interaction = "delete"
)

// A WriteHook runs before every write the API makes: create, update, patch and delete, their
// conditional variants, and every write entry of a batch or transaction. It may change the
// resource about to be stored, refuse the write (return an error: an *Error keeps its status
// and issues, anything else is HTTP 500), and add writes of other resources that are stored
// in the same atomic store.Write as the resource itself (WriteContext.Create, Update).
//
// A hook may run more than once for one request: a write that loses a race is retried from
// the start, and the hooks run again on a fresh copy of the resource as the client sent it
// (the writes they added in the lost attempt are dropped). Hooks run in the order of
// Config.WriteHooks; the writes they add do not go through the hooks.
//
// A hook is a server-side service with a principal of its own (ServiceHook): the writes it adds
// are authorized against that principal by the guard, and one that changes an existing
// resource also needs the client to be able to read it. The client's own resource, as the
// hooks leave it, is authorized as the client's write.
type WriteHook interface {
	BeforeWrite(ctx context.Context, w *WriteContext) error
}

// ServiceHook is a WriteHook that names its principal: its Service name and the system/
// scopes its added writes and its System reads need. A hook that is not a ServiceHook can
// read as the client only, and add no write.
type ServiceHook interface {
	WriteHook
	Principal() policy.Principal
}

// hookPrincipal is the principal of the i-th hook.
func hookPrincipal(i int, h WriteHook) policy.Principal {
	if sh, ok := h.(ServiceHook); ok {
		if p := sh.Principal(); p.Service != "" {
			return p
		}
	}
	return policy.Principal{Service: fmt.Sprintf("hook-%d", i)}
}

// WriteHookFunc adapts a function to WriteHook.
type WriteHookFunc func(ctx context.Context, w *WriteContext) error

// BeforeWrite calls f.
func (f WriteHookFunc) BeforeWrite(ctx context.Context, w *WriteContext) error { return f(ctx, w) }

// WriteContext is what a WriteHook sees of one write.
type WriteContext struct {
	Interaction Interaction
	Type, ID    string // the resource written (the id is already assigned for a create)
	// Resource is the tree about to be stored (nil for a delete). The hook may change it; id
	// and meta are set by the API after the hooks ran.
	Resource *fhir.Resource
	// Previous is the current version of the resource before this write; nil when the
	// resource does not exist or is deleted (a create, or an update that creates).
	Previous *store.Record
	Now      time.Time // the API's clock (Config.Now) for this write
	// Store is the store as the client sees it: what the hook reads on the client's behalf
	// (the message a reply answers) must be read here.
	Store store.Store
	// System is the store as the hook's own principal sees it, for what the server looks up
	// for itself (routing: the patient's care team); never to copy data into the client's
	// resource that the client could not read.
	System   store.Store
	InBundle bool // the write is an entry of a batch or transaction
	// Base is the FHIR base URL: read references with fhir.LiteralReference(ref, Base), as the
	// search index and the policy read them.
	Base string

	a       *API
	service string // the hook's principal's Service, set on the writes it adds
	extra   []store.Write
}

// Reference is "Type/id" of the resource written.
func (w *WriteContext) Reference() string { return w.Type + "/" + w.ID }

// Create adds the creation of res (a new resource, given a new id, version 1) to the write and
// returns its id. res must be a valid resource; it is validated here.
func (w *WriteContext) Create(res *fhir.Resource) (string, error) {
	if _, err := fhir.ResourceFromValue(res.Root); err != nil {
		return "", fmt.Errorf("api: a write hook built an invalid %s: %w", res.Type(), err)
	}
	id := newID()
	wr, err := w.a.indexedWrite(store.OpCreate, res, res.Type(), id, 1, time.Time{})
	if err != nil {
		return "", err
	}
	wr.Service, wr.Fresh = w.service, true
	w.extra = append(w.extra, wr)
	return id, nil
}

// Update adds a new version of an existing resource to the write: res becomes the version
// after prev (which must be the current version, as read by the hook: if another request
// changed the resource meanwhile, the whole write loses the race and is retried, hooks
// included). res must be valid; it is validated here.
func (w *WriteContext) Update(res *fhir.Resource, prev store.Record) error {
	if _, err := fhir.ResourceFromValue(res.Root); err != nil {
		return fmt.Errorf("api: a write hook built an invalid %s: %w", res.Type(), err)
	}
	if prev.Type != res.Type() || prev.ID == "" {
		return fmt.Errorf("api: a write hook updated %s with a previous version of %s/%s", res.Type(), prev.Type, prev.ID)
	}
	for _, x := range w.extra {
		if x.Type == prev.Type && x.ID == prev.ID {
			return fmt.Errorf("api: a write hook changed %s/%s twice in one write", prev.Type, prev.ID)
		}
	}
	wr, err := w.a.indexedWrite(store.OpUpdate, res, prev.Type, prev.ID, prev.Version+1, prev.LastUpdated)
	if err != nil {
		return err
	}
	wr.Service = w.service
	w.extra = append(w.extra, wr)
	return nil
}

// Extra returns the writes added so far (for tests and for hooks that look at what earlier
// hooks added).
func (w *WriteContext) Extra() []store.Write { return w.extra }

// NewError is an error for a WriteHook to return: the status and one issue of severity error
// with the given FHIR issue code (e.g. "business-rule", "forbidden", "processing").
func NewError(status int, code, format string, args ...any) *Error {
	return errorf(status, code, format, args...)
}

// runHooks runs the write hooks and returns the writes they added; v is the client's view.
func (a *API) runHooks(ctx context.Context, v *guard.View, in Interaction, typ, id string, res *fhir.Resource, prev *store.Record, inBundle bool) ([]store.Write, error) {
	if len(a.hooks) == 0 {
		return nil, nil
	}
	if prev != nil && (prev.Deleted() || prev.Version == 0) {
		prev = nil
	}
	if prev != nil && prev.Type == "" {
		p := *prev
		p.Type, p.ID = typ, id
		prev = &p
	}
	wc := &WriteContext{Interaction: in, Type: typ, ID: id, Resource: res, Previous: prev,
		Now: a.now(), Store: v, InBundle: inBundle, Base: a.base, a: a}
	for i, h := range a.hooks {
		wc.service = hookPrincipal(i, h).Service
		sv, _ := a.guard.Service(wc.service)
		wc.System = sv
		if err := h.BeforeWrite(ctx, wc); err != nil {
			var e *Error
			if errors.As(err, &e) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return nil, err
			}
			if isStoreError(err) {
				return nil, err
			}
			x := errorf(http.StatusInternalServerError, "exception", "a write hook failed")
			x.Err = err
			return nil, x
		}
	}
	return wc.extra, nil
}

func isStoreError(err error) bool {
	for _, s := range []error{store.ErrNotFound, store.ErrGone, store.ErrVersionConflict, store.ErrExists,
		store.ErrNoTransactions, store.ErrUnavailable, store.ErrTooLarge} {
		if errors.Is(err, s) {
			return true
		}
	}
	var de *policy.DeniedError
	return errors.As(err, &de)
}

// snapshot keeps the resource as the client sent it, when hooks may change it, so that a
// retry runs the hooks on a fresh copy (see refresh).
func (a *API) snapshot(res *fhir.Resource) []byte {
	if len(a.hooks) == 0 || res == nil {
		return nil
	}
	return res.JSON()
}

// refresh returns a fresh copy of the snapshot (res itself when there is none).
func refresh(res *fhir.Resource, snap []byte) *fhir.Resource {
	if snap == nil {
		return res
	}
	root, err := fhir.ParseJSON(snap)
	if err != nil { // cannot happen: the snapshot is the encoding of a parsed tree
		return res
	}
	return &fhir.Resource{Root: root}
}

// withExtra is the primary write followed by the writes hooks added.
func withExtra(w store.Write, extra []store.Write) []store.Write {
	return append([]store.Write{w}, extra...)
}
