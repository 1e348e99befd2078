package store

import (
	"context"
	"errors"
	"time"
)

// Store is the persistence contract every backend implements and store/storetest checks.
//
// Versions are immutable: every write adds a version, deletions add a tombstone version, and
// nothing is ever rewritten in place. Version numbers are 1, 2, 3... per resource, tombstones
// included, so an update after a delete continues the sequence.
//
// All methods are safe for concurrent use. Errors are the sentinels below (test them with
// errors.Is) or wrap them; any other error means the backend failed (HTTP 500, or 503 when it
// wraps ErrUnavailable).
type Store interface {
	// Read returns the current version of a resource.
	// ErrNotFound: the resource never existed. ErrGone: its current version is a tombstone; the
	// tombstone Record is returned with the error.
	Read(ctx context.Context, typ, id string) (Record, error)

	// VRead returns one version of a resource.
	// ErrNotFound: no such resource or version. ErrGone: that version is a tombstone (returned with it).
	VRead(ctx context.Context, typ, id string, version int64) (Record, error)

	// Write applies all writes atomically: either every one becomes visible or none does.
	// Each write's preconditions are checked inside the same atomic unit:
	//   - the resource's latest version (tombstones included, 0 when it never existed) must be
	//     w.Version-1, else ErrVersionConflict;
	//   - if w.IfNoneExist is set and matches any current resource, nothing is written and the
	//     error is an *ExistsError (errors.Is(err, ErrExists)) carrying the matches.
	// A backend that cannot apply several writes atomically returns ErrNoTransactions for
	// len(writes) > 1 without writing anything.
	Write(ctx context.Context, writes ...Write) error

	// History lists versions newest first (by LastUpdated, ties broken by the backend's commit
	// order), for one resource (Type and ID set), one type (Type set) or the whole system.
	// Paging is by opaque cursor and stays exact while new versions are written.
	// ErrInvalidCursor: q.Cursor is not a Page.Next this backend issued.
	History(ctx context.Context, q HistoryQuery) (Page, error)

	// Search returns the current, non-deleted versions matching q, ordered by (Type, ID) for now.
	// ErrUnsupported: the query uses a parameter kind or modifier the backend cannot evaluate.
	// ErrInvalidCursor: q.Cursor is not a Page.Next this backend issued.
	Search(ctx context.Context, q Query) (Page, error)

	// Purge removes a resource with every one of its versions and index entries, as if it had
	// never been written: Read and VRead answer ErrNotFound, no history lists it, and a create
	// starts again at version 1. It is for internal records whose content must not outlive
	// them (signing keys, expired codes and replay records); FHIR resources are deleted with
	// a tombstone. Purging a resource that does not exist is no error.
	Purge(ctx context.Context, typ, id string) error

	// Ping reports whether the backend can serve requests (for /readyz).
	Ping(ctx context.Context) error

	// Close releases the backend's resources; pending writes are finished first.
	Close() error
}

// Sentinel errors of the Store contract.
var (
	ErrNotFound        = errors.New("store: not found")
	ErrGone            = errors.New("store: deleted")
	ErrVersionConflict = errors.New("store: version conflict")
	ErrExists          = errors.New("store: a matching resource exists")
	ErrNoTransactions  = errors.New("store: backend cannot apply several writes atomically")
	ErrUnsupported     = errors.New("store: unsupported query")
	ErrUnavailable     = errors.New("store: backend unavailable")
	ErrTooLarge        = errors.New("store: resource too large for the backend")
	ErrInvalidCursor   = errors.New("store: invalid cursor") // a client-supplied cursor was damaged: HTTP 400
	// ErrYielded: a long search was stopped so that searches waiting behind it could run (its
	// caller had used the store far more than theirs, and every search connection was held).
	ErrYielded = errors.New("store: the search was stopped to let other callers' searches run")
)

// ExistsError is returned by Write when a conditional create (Write.IfNoneExist) matched.
type ExistsError struct {
	Matches []Record // the current versions that matched (at least one)
}

func (e *ExistsError) Error() string { return ErrExists.Error() }

// Is makes errors.Is(err, ErrExists) true.
func (e *ExistsError) Is(target error) bool { return target == ErrExists }

// Op is the interaction that produced a version; history reports it as the entry's request.
type Op uint8

const (
	OpCreate Op = iota + 1 // POST, or conditional create
	OpUpdate               // PUT or PATCH, including update-as-create
	OpDelete               // DELETE: the version is a tombstone
)

func (o Op) String() string {
	switch o {
	case OpCreate:
		return "create"
	case OpUpdate:
		return "update"
	case OpDelete:
		return "delete"
	}
	return "unknown"
}

// Record is one stored version of one resource.
type Record struct {
	Type        string
	ID          string
	Version     int64
	LastUpdated time.Time // UTC
	Op          Op
	Body        []byte // the whole resource JSON, meta included; nil for a tombstone
}

// Deleted reports whether the record is a tombstone.
func (r Record) Deleted() bool { return r.Op == OpDelete }

// Capabilities are what a backend can do beyond the Store contract's core.
type Capabilities struct {
	// Transactions: Write applies several writes atomically. Without it, Write refuses more
	// than one write with ErrNoTransactions (store/intent sequences server follow-ups).
	Transactions bool
}

// Reindexer is a backend that can replace the search index of a resource's current version
// without writing a version: `portico admin reindex`, after the server's indexing changed
// (data written before keeps the entries of its day until then).
type Reindexer interface {
	// Reindex replaces the index entries of typ/id's current version, which must be version
	// and not deleted; otherwise it changes nothing and returns ErrVersionConflict (a write
	// since then indexed the resource anew).
	Reindex(ctx context.Context, typ, id string, version int64, index []IndexEntry) error
}

// Capable is a Store that reports its capabilities; wrappers report their backend's.
type Capable interface {
	Capabilities() Capabilities
}

// CapabilitiesOf returns what st can do; a Store that does not say has none.
func CapabilitiesOf(st Store) Capabilities {
	if c, ok := st.(Capable); ok {
		return c.Capabilities()
	}
	return Capabilities{}
}

// WriteChecker is a Store that can tell whether it can write now, for /readyz: CheckWrite
// commits a write of its own that changes no resource and no history (a dedicated record
// outside the FHIR data), and returns nil, or why the store cannot write (wrapping
// ErrUnavailable). It costs a commit, so callers cache its answer for a few seconds.
type WriteChecker interface {
	CheckWrite(ctx context.Context) error
}

// Write is one new version to store. The caller (the api package) has already set id,
// meta.versionId and meta.lastUpdated inside Body to the values given here.
type Write struct {
	Op          Op
	Type        string
	ID          string
	Version     int64 // the version this write creates: the latest version must be Version-1
	LastUpdated time.Time
	Body        []byte       // nil for OpDelete
	Index       []IndexEntry // search index entries of this version; replace those of the previous one
	IfNoneExist *Query       // conditional create: write only if nothing matches (Type must equal Write.Type)

	// Fresh: ID was generated by the server for this create (a UUID no other writer can hold),
	// so the write cannot lose a race. Stores without transactions apply follow-up writes in
	// sequence relying on it (store/intent).
	Fresh bool

	// Service names the server-side service (a write hook, e.g. "triage") that adds this write
	// to a client's request; "" for the client's own write. The guard authorizes each write
	// against its author's principal; backends ignore it.
	Service string
}

// HistoryQuery selects versions for a history interaction.
type HistoryQuery struct {
	Type   string    // "" for system history
	ID     string    // "" for type or system history; requires Type
	Since  time.Time // zero: no bound; else only versions with LastUpdated >= Since
	At     time.Time // zero: no bound; else only versions that were current at that instant
	Count  int       // page size, > 0
	Cursor string    // "" for the first page; else a Page.Next from the same query
}

// Page is one page of records with the cursor of the next page ("" when it is the last).
type Page struct {
	Records []Record
	Next    string
	Total   int // number of matches over all pages, when the query asked for it (Query.Total); else -1
}

type internalKey struct{}

// Internal marks ctx as the server's own bookkeeping (checking that a token's client and user
// may still act, resolving a user's patients), which every request waits for: a store may run
// its reads ahead of clients' searches (SQLite: on the pool of reads by id, never behind the
// costly searches that fill the search pools).
func Internal(ctx context.Context) context.Context {
	return context.WithValue(ctx, internalKey{}, true)
}

type callerKey struct{}

// Caller is who a search runs for, so that a store sharing a few connections among many callers
// can share them fairly (SQLite: lanes.go): waiting searches are served by their caller's recent
// use, and when every connection is held by a long search, one of the caller that used the
// store most may be stopped for a waiting caller whose Rank is as high or higher.
type Caller struct {
	Name string // a user over all their apps, or a backend client
	// Rank: 0 for patients' and carers' apps (many, self-service accounts), 1 for staff, 2 for
	// backend services. A search is never stopped for a caller of a lower rank.
	Rank int
}

// WithCaller names who the searches of ctx run for. Searches without a caller share one
// anonymous caller of rank 0.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerOf returns the Caller that WithCaller put in ctx, or the anonymous one.
func CallerOf(ctx context.Context) Caller {
	c, _ := ctx.Value(callerKey{}).(Caller)
	return c
}

// IsInternal reports whether ctx was marked by Internal.
func IsInternal(ctx context.Context) bool {
	v, _ := ctx.Value(internalKey{}).(bool)
	return v
}
