package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/portico-health/portico/fhir"
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
type WriteHook interface {
	BeforeWrite(ctx context.Context, w *WriteContext) error
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
	Now      time.Time   // the API's clock (Config.Now) for this write
	Store    store.Store // for reads; add writes with Create and Update
	InBundle bool        // the write is an entry of a batch or transaction

	a     *API
	extra []store.Write
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

// runHooks runs the write hooks and returns the writes they added.
func (a *API) runHooks(ctx context.Context, in Interaction, typ, id string, res *fhir.Resource, prev *store.Record, inBundle bool) ([]store.Write, error) {
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
		Now: a.now(), Store: a.store, InBundle: inBundle, a: a}
	for _, h := range a.hooks {
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
	return false
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
