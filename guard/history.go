package guard

import (
	"context"
	"errors"
	"fmt"

	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/policy"
	"github.com/portico-health/portico/store"
)

// History implements store.Store.
//
// Instance history is for a resource the caller may read (a deleted one: whose last version it
// could; else not found, as the read), and lists the versions the caller may see (a resource
// may have moved between compartments; a tombstone is visible when the version it deleted
// is), in full pages: the view reads on until the page is full or the history ends.
//
// Type and system history cannot be confined that way (the store indexes current versions
// only, so hidden versions could only be skipped one by one, at a cost that hidden data would
// set): they need a decision without restriction on the type, or on every type (403 otherwise).
func (v *View) History(ctx context.Context, q store.HistoryQuery) (store.Page, error) {
	return v.bounded(ctx, func(ctx context.Context) (store.Page, error) { return v.history(ctx, q) })
}

func (v *View) history(ctx context.Context, q store.HistoryQuery) (store.Page, error) {
	if v.src.policy == nil {
		return v.src.store.History(ctx, q)
	}
	switch {
	case q.ID != "":
		return v.instanceHistory(ctx, q)
	case q.Type != "":
		d := v.Decide(q.Type, policy.PermSearch)
		if err := d.Err(); err != nil {
			return store.Page{}, err
		}
		if d.Restricted() {
			return store.Page{}, policy.Deny("the history of a whole type is not available to a token restricted to some of its resources; read each resource's history, or search with _lastUpdated")
		}
	default:
		for _, t := range fhir.ResourceTypes {
			if !v.Unrestricted(t, policy.PermSearch) {
				return store.Page{}, policy.Deny("the history of the whole system needs unrestricted search on every type (%s is not)", t)
			}
		}
	}
	return v.src.store.History(ctx, q)
}

func (v *View) instanceHistory(ctx context.Context, q store.HistoryQuery) (store.Page, error) {
	d := v.Decide(q.Type, policy.PermRead)
	if err := d.Err(); err != nil {
		return store.Page{}, err
	}
	if !d.Restricted() {
		return v.src.store.History(ctx, q)
	}
	if q.Count < 1 {
		return store.Page{}, fmt.Errorf("guard: history page size %d", q.Count)
	}
	// A resource the caller may not read has no history for it either (404, as a read), decided
	// on its current version at the cost of a read: walking every version to find none visible
	// took seconds for a hidden resource of a thousand versions, and told that it exists.
	if _, err := v.Read(ctx, q.Type, q.ID); err != nil && !errors.Is(err, store.ErrGone) {
		return store.Page{}, err
	}
	out := store.Page{Total: -1}
	cursor := q.Cursor
	for {
		part := q
		part.Cursor, part.Count = cursor, q.Count-len(out.Records)
		page, err := v.src.store.History(ctx, part)
		if err != nil {
			return store.Page{}, err
		}
		for _, rec := range page.Records {
			var ok bool
			if rec.Deleted() {
				ok, err = v.versionVisible(ctx, d, rec.Type, rec.ID, rec.Version-1)
			} else {
				ok, err = v.visible(ctx, d, rec)
			}
			if err != nil {
				return store.Page{}, err
			}
			if ok {
				out.Records = append(out.Records, rec)
			}
		}
		cursor = page.Next
		if cursor == "" || len(out.Records) >= q.Count {
			out.Next = cursor
			return out, nil
		}
	}
}
