package api

import (
	"context"
	"fmt"

	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/store"
)

// Authorization (docs/smart.md): when Config.Authorizer is set, every interaction asks it once
// per type before touching the store (a denial is returned as is: the server's authorizer
// returns errors that the error handler writes as 403), and every resource the interaction
// reads, returns or writes is checked again, with its index entries. With a nil Authorizer
// the API is open: everything is allowed (portico serve --auth=none).

// Access is the interaction an AccessRequest asks for.
type Access string

// The interactions the Authorizer is asked about.
const (
	AccessRead      Access = "read"
	AccessVRead     Access = "vread"
	AccessSearch    Access = "search"
	AccessCreate    Access = "create"
	AccessUpdate    Access = "update"
	AccessPatch     Access = "patch"
	AccessDelete    Access = "delete"
	AccessHistory   Access = "history" // instance history with ID set; type or system history without
	AccessOperation Access = "operation"
)

// AccessRequest is one question to the Authorizer.
type AccessRequest struct {
	Access    Access
	Type      string // "" for system-level search and history
	ID        string // the resource id when the interaction names one
	Operation string // "$triage-stats", for AccessOperation

	// Resource is the resource concerned, when known: the stored version for reads and for
	// the previous version of update, patch and delete; the new version for writes.
	Resource *AccessResource
}

// AccessResource is what the Authorizer needs to know of one resource.
type AccessResource struct {
	ID    string
	Index []store.IndexEntry
}

// ResultFilter restricts what an allowed request may see: every resource returned must
// satisfy Matches. Clauses expresses it as store clauses to AND into a search of typ (exactly
// the resources Matches accepts), when ok; otherwise a search drops non-matching results one
// by one, and conditional interactions on typ are refused (their search runs in the store).
// *smart.Filter implements it, with ok for every type.
type ResultFilter interface {
	Matches(typ, id string, index []store.IndexEntry) bool
	Clauses(typ string) (clauses []store.Clause, ok bool)
}

// Authorizer decides what the caller of a request (found in ctx) may do. It returns a nil
// error to allow, with a ResultFilter when what the request may see is restricted (nil: not
// restricted); an error to deny (the error handler writes its status, 403 for a denial).
// Resources are checked one by one (Resource set) only when the type-level answer had a
// filter: an unrestricted type-level answer must hold for every resource of the type.
type Authorizer interface {
	Authorize(ctx context.Context, r AccessRequest) (ResultFilter, error)
}

// authorize asks the Authorizer about a type-level request; nil, nil on an open server.
func (a *API) authorize(ctx context.Context, r AccessRequest) (ResultFilter, error) {
	if a.authz == nil {
		return nil, nil
	}
	return a.authz.Authorize(ctx, r)
}

// authorizeBody asks the Authorizer about one resource given by its stored JSON.
func (a *API) authorizeBody(ctx context.Context, in Access, typ, id string, body []byte) error {
	if a.authz == nil {
		return nil
	}
	// Without a filter at the type level nothing about the resource can deny it: skip
	// re-indexing the stored body (system tokens, practitioners).
	f, err := a.authz.Authorize(ctx, AccessRequest{Access: in, Type: typ, ID: id})
	if err != nil || f == nil {
		return err
	}
	index, err := a.indexOf(body)
	if err != nil {
		return err
	}
	_, err = a.authz.Authorize(ctx, AccessRequest{Access: in, Type: typ, ID: id, Resource: &AccessResource{ID: id, Index: index}})
	return err
}

// authorizeIndex asks the Authorizer about one resource whose index entries are known.
func (a *API) authorizeIndex(ctx context.Context, in Access, typ, id string, index []store.IndexEntry) error {
	if a.authz == nil {
		return nil
	}
	_, err := a.authz.Authorize(ctx, AccessRequest{Access: in, Type: typ, ID: id, Resource: &AccessResource{ID: id, Index: index}})
	return err
}

// indexOf extracts the index entries of a stored resource body.
func (a *API) indexOf(body []byte) ([]store.IndexEntry, error) {
	root, err := fhir.ParseJSON(body)
	if err != nil {
		return nil, fmt.Errorf("api: a stored resource does not parse: %w", err)
	}
	return fhir.ExtractIndexBase(&fhir.Resource{Root: root}, a.base)
}

// visibility decides, for one request, which records may be returned: each record's type is
// authorized once (cached), and the record must pass that type's filter. Tombstones carry no
// content to check: under a filter they are hidden, unless keepTombstones.
type visibility struct {
	a              *API
	ctx            context.Context
	in             Access
	typeErrs       map[string]error
	filters        map[string]ResultFilter
	keepTombstones bool
}

func (a *API) newVisibility(ctx context.Context, in Access) *visibility {
	return &visibility{a: a, ctx: ctx, in: in, typeErrs: map[string]error{}, filters: map[string]ResultFilter{}}
}

// setType records a type-level decision already made.
func (v *visibility) setType(typ string, f ResultFilter) { v.filters[typ] = f; v.typeErrs[typ] = nil }

// typeFilter is the filter of a type, asking the Authorizer the first time; err when denied.
func (v *visibility) typeFilter(typ string) (ResultFilter, error) {
	if err, ok := v.typeErrs[typ]; ok {
		return v.filters[typ], err
	}
	f, err := v.a.authorize(v.ctx, AccessRequest{Access: v.in, Type: typ})
	v.typeErrs[typ], v.filters[typ] = err, f
	return f, err
}

// visible reports whether rec may be returned. Store errors and unparsable records are errors;
// a denial is false.
func (v *visibility) visible(rec store.Record) (bool, error) {
	if v.a.authz == nil {
		return true, nil
	}
	f, err := v.typeFilter(rec.Type)
	if err != nil {
		return false, nil
	}
	if f == nil {
		return true, nil
	}
	if rec.Body == nil {
		return v.keepTombstones, nil
	}
	index, err := v.a.indexOf(rec.Body)
	if err != nil {
		return false, err
	}
	return f.Matches(rec.Type, rec.ID, index), nil
}

// filter keeps the visible records (in place).
func (v *visibility) filter(recs []store.Record) ([]store.Record, error) {
	if v.a.authz == nil {
		return recs, nil
	}
	out := recs[:0]
	for _, r := range recs {
		ok, err := v.visible(r)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, r)
		}
	}
	return out, nil
}

// authorizeReferencedTypes checks that the caller may search every type a chain or _has of
// the query looks into: otherwise the criteria would tell about resources it may not see.
func (a *API) authorizeReferencedTypes(ctx context.Context, where []store.Clause) error {
	if a.authz == nil {
		return nil
	}
	for _, c := range where {
		if c.Chain != nil {
			for _, t := range c.Chain.Types {
				if _, err := a.authorize(ctx, AccessRequest{Access: AccessSearch, Type: t}); err != nil {
					return err
				}
			}
			if err := a.authorizeReferencedTypes(ctx, c.Chain.Where); err != nil {
				return err
			}
		}
		if c.Has != nil {
			if _, err := a.authorize(ctx, AccessRequest{Access: AccessSearch, Type: c.Has.Type}); err != nil {
				return err
			}
			if err := a.authorizeReferencedTypes(ctx, c.Has.Where); err != nil {
				return err
			}
		}
	}
	return nil
}

// authorizeWrite checks one write: the stored version it replaces or deletes (prev, when
// live) and the new version (index, nil for a delete), each with the write's interaction.
func (a *API) authorizeWrite(ctx context.Context, in Access, typ, id string, prev *store.Record, index []store.IndexEntry, hasNew bool) error {
	if a.authz == nil {
		return nil
	}
	if prev != nil && !prev.Deleted() && prev.Version > 0 {
		body := prev.Body
		if body == nil { // a search match without its body: read it, never skip the check
			rec, err := a.store.Read(ctx, typ, id)
			if err != nil {
				return err
			}
			body = rec.Body
		}
		if err := a.authorizeBody(ctx, in, typ, id, body); err != nil {
			return err
		}
	}
	if hasNew {
		return a.authorizeIndex(ctx, in, typ, id, index)
	}
	return nil
}

// access is the interaction of a write entry.
func (e *entry) access() Access {
	switch e.method {
	case "POST":
		return AccessCreate
	case "PATCH":
		return AccessPatch
	case "DELETE":
		return AccessDelete
	}
	return AccessUpdate
}
