package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/portico-health/portico/guard"
	"github.com/portico-health/portico/store"
)

// runTransaction processes a transaction Bundle: every write goes to the store in one
// store.Write, so either all of them happen or none does. A lost race with a concurrent
// request is retried from the start (the Bundle is parsed again, as references were
// rewritten in place), unless an entry carries ifMatch: then it is HTTP 412.
func (a *API) runTransaction(ctx context.Context, v *guard.View, data []byte, b *bundleRequest, prefer preferReturn) ([]byte, error) {
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
		err := a.transactionOnce(ctx, v, b)
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
			if err := a.getEntry(ctx, v, b, e); err != nil {
				e.fail(err)
			}
		}
	}
	return a.appendResponseBundle(b, "transaction-response", prefer), nil
}

// transactionOnce makes one attempt at a transaction.
func (a *API) transactionOnce(ctx context.Context, v *guard.View, b *bundleRequest) error {
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
		if err := a.resolveTarget(ctx, v, e); err != nil {
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
	rw := &refRewriter{a: a, ctx: ctx, v: v, refs: refs, tx: true}
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
	var clients []store.Write // the client's own writes, without the hooks'
	changedBy := map[string]*entry{}
	for _, e := range order {
		if !e.isWrite() {
			continue
		}
		if err := a.planWrite(ctx, v, e); err != nil {
			return failEntry(e, err)
		}
		if e.write == nil {
			continue
		}
		// A write hook may change another resource (an answer completes the message it
		// answers): two entries that change one resource, one of them through a hook, would
		// lose the race to each other at every attempt.
		for _, w := range withExtra(*e.write, e.extra) {
			k := w.Type + "/" + w.ID
			if prev := changedBy[k]; prev != nil && prev != e {
				ex := errorf(http.StatusConflict, "business-rule",
					"Bundle.entry[%d] and Bundle.entry[%d] both change %s (one of them through a change the server makes on its own, such as completing the message an answer answers); a transaction may change a resource only once: send them in separate requests", prev.index, e.index, k)
				return failEntry(e, ex)
			}
			changedBy[k] = e
		}
		clients = append(clients, *e.write)
		writes = append(writes, *e.write)
		writes = append(writes, e.extra...)
	}
	if len(writes) == 0 {
		return nil
	}
	if err := a.admitIndexEntries(ctx, clients...); err != nil {
		return err
	}
	return v.Write(ctx, writes...)
}

// isURN reports whether a fullUrl is a urn:uuid: or urn:oid: placeholder.
func isURN(s string) bool {
	return strings.HasPrefix(s, "urn:uuid:") || strings.HasPrefix(s, "urn:oid:")
}
