package guard

import (
	"context"
	"fmt"

	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/policy"
	"github.com/portico-health/portico/store"
)

// History implements store.Store.
//
// Instance history lists the versions the caller may see (a resource may have moved between
// compartments; a tombstone is visible when the version it deleted is), in full pages: the
// view reads on until the page is full or the history ends, so a page tells nothing of the
// versions left out.
//
// Type and system history cannot be confined that way (the store indexes current versions
// only, so hidden versions could only be skipped one by one, at a cost that hidden data would
// set): they need a decision without restriction on the type, or on every type (403 otherwise).
func (v *View) History(ctx context.Context, q store.HistoryQuery) (store.Page, error) {
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
