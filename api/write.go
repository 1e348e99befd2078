package api

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/store"
)

// maxAttempts bounds how often a write without If-Match is retried after losing a race
// (store.ErrVersionConflict, or a conditional create that found a match appear): each retry
// re-reads the current version, so concurrent unconditional updates do not fail spuriously.
const maxAttempts = 20

// current is the state of a resource before a write.
type current struct {
	rec  store.Record // Version 0 when the resource never existed
	live bool         // it exists and its current version is not a tombstone
}

// liveVersion is the version that If-Match and If-None-Match compare with (0: none).
func (cur current) liveVersion() int64 {
	if cur.live {
		return cur.rec.Version
	}
	return 0
}

// readCurrent reads the current state of a resource for a write, through the caller's view
// for that write (guard.View.For): what the caller may not see is not there.
func readCurrent(ctx context.Context, st store.Store, typ, id string) (current, error) {
	rec, err := st.Read(ctx, typ, id)
	switch {
	case err == nil:
		return current{rec: rec, live: true}, nil
	case errors.Is(err, store.ErrGone):
		return current{rec: rec}, nil
	case errors.Is(err, store.ErrNotFound):
		return current{}, nil
	}
	return current{}, err
}

// stamp is the lastUpdated of a new version: now at millisecond precision (what meta shows),
// never before the previous version's, so that history order follows version order even if
// the clock steps back.
func (a *API) stamp(prev time.Time) time.Time {
	t := a.now().UTC().Truncate(time.Millisecond)
	if t.Before(prev) {
		t = prev
	}
	return t
}

// maxIndexEntries bounds the search index entries of one resource. The largest official example
// has about 150; one Observation with 200,000 codings (7 MB, under the body limit) made 200,000
// index rows, and four patients writing such each second held the store's single writer so
// that everyone else's writes waited seconds (blind attack, round 7). Terminology resources
// (manyCodesTypes) list thousands of codes by nature, and only staff and backend services
// write them (docs/smart.md).
const maxIndexEntries = 10_000

var manyCodesTypes = map[string]bool{"CodeSystem": true, "ValueSet": true, "ConceptMap": true}

// indexedWrite sets id and meta (versionId, lastUpdated) in res and makes the store write of
// that version, with the search index entries of every parameter of its type
// (fhir.ExtractIndexBase; references to this server's base are indexed as local ones). A value
// the validator accepted but the extractor cannot index is HTTP 422.
func (a *API) indexedWrite(op store.Op, res *fhir.Resource, typ, id string, version int64, prev time.Time) (store.Write, error) {
	now := a.stamp(prev)
	res.SetID(id)
	res.SetMeta(strconv.FormatInt(version, 10), now)
	index, err := fhir.ExtractIndexBase(res, a.base)
	if err != nil {
		e := errorf(http.StatusUnprocessableEntity, "processing", "the resource cannot be indexed for search: %v", err)
		e.Err = err
		return store.Write{}, e
	}
	if len(index) > maxIndexEntries && !manyCodesTypes[typ] {
		return store.Write{}, errorf(http.StatusUnprocessableEntity, "too-costly",
			"the resource would have %d search index entries (its codes, references, names...); a resource may have at most %d: split it", len(index), maxIndexEntries)
	}
	return store.Write{
		Op:          op,
		Type:        typ,
		ID:          id,
		Version:     version,
		LastUpdated: now,
		Body:        res.JSON(),
		Index:       index,
	}, nil
}

// admitIndexEntries asks Config.AdmitIndexEntries to admit the index entries of a client's
// writes.
func (a *API) admitIndexEntries(ctx context.Context, writes ...store.Write) error {
	if a.admitIndex == nil {
		return nil
	}
	n := 0
	for _, w := range writes {
		n += len(w.Index)
	}
	return a.admitIndex(ctx, n)
}

// record is the Record a successful write created.
func record(w store.Write) store.Record {
	return store.Record{Type: w.Type, ID: w.ID, Version: w.Version, LastUpdated: w.LastUpdated, Op: w.Op, Body: w.Body}
}

// newID is a server-assigned logical id: a UUID (36 characters, a valid FHIR id).
//
// The ids are UUIDv7 (RFC 9562): random in their low 74 bits, but ordered by creation time, so
// a new resource's rows land at the end of the store's id indexes instead of on a random page
// of each (two fewer random page writes per create on SQLite). What they reveal, the creation
// millisecond, meta.lastUpdated of version 1 already says.
func newID() string { return uuid.Must(uuid.NewV7()).String() }

// retryable reports whether a failed write lost a race that a fresh attempt may win.
func retryable(err error) bool {
	return errors.Is(err, store.ErrVersionConflict) || errors.Is(err, store.ErrExists)
}

// backoff waits a little before the next attempt, with jitter so that racing writers spread
// out; it returns early with the context's error.
func backoff(ctx context.Context, attempt int) error {
	d := time.Duration(rand.Int64N(int64(time.Millisecond) << min(attempt, 5)))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// conflictAfterRetries is the error when every attempt lost a race.
func conflictAfterRetries(err error) error {
	e := errorf(http.StatusConflict, "conflict", "the resource kept changing concurrently (%d attempts); try again", maxAttempts)
	e.Err = err
	return e
}

// raceOutcome decides what a failed write leads to: nil to try again, else the error to return.
func raceOutcome(err error, pre preconditions, attempt int) error {
	switch {
	case !retryable(err):
		return err
	case pre.ifMatch.present:
		e := preconditionFailed("If-Match: the resource was changed by another request")
		e.Err = err
		return e
	case attempt+1 >= maxAttempts:
		return conflictAfterRetries(err)
	}
	return nil
}

// idError is HTTP 400 about Resource.id.
func idError(format string, args ...any) *Error {
	e := badRequest(format, args...)
	e.Issues[0].Expression = []string{"id"}
	return e
}
