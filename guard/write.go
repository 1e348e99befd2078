package guard

import (
	"context"
	"errors"
	"fmt"

	"github.com/portico-health/portico/policy"
	"github.com/portico-health/portico/store"
)

// Write implements store.Store: every write is authorized before any is made.
//
// The caller's own writes (Service "") need the permission of their operation (create c,
// update u, delete d) on their type; under a restricted decision, the new version must be
// writable (policy.Alternative: every patient it names reachable) and so must the version it
// replaces or deletes, so that nothing moves out of, or into, another patient's chart. A
// confined caller cannot create at an id of its choosing (update as create): such a token
// creates with POST. A conditional create's criteria are restricted like a search.
//
// A write a service adds (a write hook's automatic reply, say) is authorized against the
// service's principal, and one that changes an existing resource also needs the caller to be
// able to read that resource: a hook acts for the request it runs in, never beyond it.
func (v *View) Write(ctx context.Context, writes ...store.Write) error {
	if v.src.policy == nil {
		return v.src.store.Write(ctx, writes...)
	}
	out := make([]store.Write, len(writes))
	for i, w := range writes {
		if err := v.authorizeWrite(ctx, &w); err != nil {
			return err
		}
		out[i] = w
	}
	return v.src.store.Write(ctx, out...)
}

// ErrNoUpdateAsCreate refuses an update as create (PUT at an id that holds nothing the caller
// may see) to a restricted caller: whether something it may not see is at that id must not
// change the answer, so it never creates there (http.html#update allows refusing).
var ErrNoUpdateAsCreate = policy.Deny("a token restricted to some resources cannot create a resource at an id of its choosing; create it with POST")

func opPerm(op store.Op) policy.Perm {
	switch op {
	case store.OpCreate:
		return policy.PermCreate
	case store.OpUpdate:
		return policy.PermUpdate
	case store.OpDelete:
		return policy.PermDelete
	}
	return policy.PermAll // unknown: needs everything, fails closed
}

func (v *View) authorizeWrite(ctx context.Context, w *store.Write) error {
	author := v
	if w.Service != "" {
		sv, ok := v.src.Service(w.Service)
		if !ok {
			return fmt.Errorf("guard: a write by the unknown service %q", w.Service)
		}
		author = sv
	}
	d := author.Decide(w.Type, opPerm(w.Op))
	if err := d.Err(); err != nil {
		return err
	}
	if w.IfNoneExist != nil {
		q, _, err := author.restrictTop(*w.IfNoneExist)
		if err != nil {
			return err
		}
		w.IfNoneExist = &q
	}
	if w.Op != store.OpDelete {
		ok, err := author.writableIndex(ctx, d, w.Type, w.ID, w.Index)
		if err != nil {
			return err
		}
		if !ok {
			return policy.Deny("the %s written would name a patient, or hold values, outside what the token may write", w.Type)
		}
	}
	if w.Version <= 1 {
		if w.Op == store.OpUpdate && d.Restricted() && w.IfNoneExist == nil {
			return ErrNoUpdateAsCreate
		}
		return nil
	}
	prev, err := v.src.store.VRead(ctx, w.Type, w.ID, w.Version-1)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil // the store refuses the write: the version sequence is not there
	case errors.Is(err, store.ErrGone):
		if d.Restricted() && w.Service == "" {
			return ErrNoUpdateAsCreate
		}
		return nil
	case err != nil:
		return err
	}
	if d.Restricted() {
		ok, err := author.writable(ctx, d, prev)
		if err != nil {
			return err
		}
		if !ok {
			return policy.Deny("the token may not change %s/%s", w.Type, w.ID)
		}
	}
	if w.Service != "" {
		ok, err := v.visible(ctx, v.Decide(w.Type, policy.PermRead), prev)
		if err != nil {
			return err
		}
		if !ok {
			return policy.Deny("the %s service may not change %s/%s for a caller who cannot read it", w.Service, w.Type, w.ID)
		}
	}
	return nil
}
