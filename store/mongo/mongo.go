// Package mongo is Portico's MongoDB backend: store.Store on the official Go driver
// (go.mongodb.org/mongo-driver/v2). See docs/mongodb.md for the data model, the indexes and the
// write protocol.
package mongo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"

	"github.com/portico-health/portico/store"
	"github.com/portico-health/portico/store/lanes"
)

// DefaultDatabase is the database used when the connection string names none.
const DefaultDatabase = "portico"

// maxDocBytes is MongoDB's BSON document limit (16 MiB). A write whose documents would exceed
// it is refused with store.ErrTooLarge before the driver sees it.
const maxDocBytes = 16 << 20

// Config configures Open.
type Config struct {
	// URI is a standard MongoDB connection string (mongodb:// or mongodb+srv://, with replica
	// set, TLS and authentication options as MongoDB documents them). The database is the
	// URI's path, DefaultDatabase when it has none.
	URI string
	// Database overrides the database named by URI (tests use one database per store).
	Database string
	// Logger receives the backend's few log lines; nil discards them.
	Logger *slog.Logger
	// ConnectTimeout bounds the first contact at Open (ping, topology, indexes). Default 10s.
	ConnectTimeout time.Duration
	// RetrySetup: when the first contact fails with store.ErrUnavailable, Open still returns
	// the store, not ready, and retries the setup in the background with exponential backoff
	// (250 ms doubling to 30 s, with jitter) until it succeeds or the store is closed. Until then
	// every operation fails with store.ErrUnavailable (HTTP 503, /readyz 503). Other errors
	// (a bad connection string) still fail Open.
	RetrySetup bool
	// NoTransactions makes the store behave as on a standalone server even where the deployment
	// supports transactions (tests of the standalone protocol).
	NoTransactions bool
	// SearchSlots is how many client searches and history pages run at once, scheduled by
	// store/lanes (a caller that used the store least first; a long search may be asked to
	// yield to a short one); as many again may run once they waited behind costly ones.
	// 0 means DefaultSearchSlots.
	SearchSlots int
}

// DefaultSearchSlots: twice the CPUs Go may use here, at least 4. A search on MongoDB runs
// on the deployment's cores, not this process's, but its results are decoded and checked
// here.
func DefaultSearchSlots() int { return max(4, 2*runtime.GOMAXPROCS(0)) }

// Store is the MongoDB backend. It is safe for concurrent use.
type Store struct {
	client   *mongo.Client
	db       *mongo.Database
	versions *mongo.Collection
	res      *mongo.Collection
	locks    *mongo.Collection
	counters *mongo.Collection
	checks   *mongo.Collection // the one document CheckWrite rewrites
	log      *slog.Logger
	lanes    *lanes.Lanes // the client searches' slots
	txn      bool         // the deployment supports multi-document transactions; set before ready
	noTxn    bool         // Config.NoTransactions

	// ready is true once the setup succeeded; operations check it first, which also orders
	// their reads of txn after the background setup's write.
	ready     atomic.Bool
	setupErr  atomic.Pointer[error] // the last failed setup attempt, while not ready
	settled   chan struct{}         // closed when ready, or when the retry loop stopped (closed)
	stopRetry context.CancelFunc    // ends the retry loop (Close)
	retryDone chan struct{}         // closed when the retry loop has returned

	mu     sync.Mutex
	closed bool
	active sync.WaitGroup
}

// Open connects to the deployment cfg.URI names, detects whether it supports transactions and
// creates the collections and indexes Portico needs (idempotently). An unreachable server is an
// error wrapping store.ErrUnavailable.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	cs, err := connstring.ParseAndValidate(cfg.URI)
	if err != nil {
		return nil, fmt.Errorf("mongo: connection string: %w", err)
	}
	dbName := cfg.Database
	if dbName == "" {
		dbName = cs.Database
	}
	if dbName == "" {
		dbName = DefaultDatabase
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts := options.Client().ApplyURI(cfg.URI)
	if cs.WString == "" && !cs.WNumberSet {
		opts.SetWriteConcern(writeconcern.Majority())
	}
	if !cs.ServerSelectionTimeoutSet {
		// The driver's default (30 s) would hold a request that long while the deployment is
		// down; 5 s gives the client its 503 sooner. The URI's serverSelectionTimeoutMS wins.
		opts.SetServerSelectionTimeout(5 * time.Second)
	}
	client, err := mongo.Connect(opts)
	if err != nil {
		return nil, fmt.Errorf("mongo: %w", err)
	}
	slots := cfg.SearchSlots
	if slots <= 0 {
		slots = DefaultSearchSlots()
	}
	s := &Store{client: client, db: client.Database(dbName), log: log, noTxn: cfg.NoTransactions, settled: make(chan struct{}),
		lanes: lanes.New(slots, slots)}
	s.versions = s.db.Collection("versions")
	s.res = s.db.Collection("resources")
	s.locks = s.db.Collection("locks")
	s.counters = s.db.Collection("counters")
	s.checks = s.db.Collection("write_check")

	timeout := cfg.ConnectTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	octx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := s.setup(octx); err != nil {
		err = s.mapErr(octx, err)
		if !errors.Is(err, store.ErrUnavailable) && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) {
			err = fmt.Errorf("%w: %v", store.ErrUnavailable, err)
		}
		if cfg.RetrySetup && errors.Is(err, store.ErrUnavailable) && ctx.Err() == nil {
			// Serve (503) rather than exit or block: an orchestrator may start Portico before
			// MongoDB, and a deployment that comes back later is picked up without a restart.
			s.setupErr.Store(&err)
			log.Error("MongoDB unreachable at start: serving 503 until it answers, retrying in the background",
				"deployment", redact(cs), "error", err.Error())
			rctx, stop := context.WithCancel(context.Background())
			s.stopRetry, s.retryDone = stop, make(chan struct{})
			go s.retrySetup(rctx, redact(cs))
			return s, nil
		}
		_ = client.Disconnect(context.Background())
		return nil, fmt.Errorf("mongo: open %s: %w", redact(cs), err)
	}
	s.markReady()
	log.Info("mongo store open", "database", dbName, "transactions", s.txn)
	return s, nil
}

// markReady publishes a successful setup.
func (s *Store) markReady() {
	if s.noTxn {
		s.txn = false
	}
	s.ready.Store(true)
	close(s.settled)
}

// Setup retry backoff: the first retry after about setupBackoffMin, doubling up to setupBackoffMax.
const (
	setupBackoffMin = 250 * time.Millisecond
	setupBackoffMax = 30 * time.Second
	setupAttemptMax = 30 * time.Second // one attempt; an unreachable deployment fails at server selection (5 s by default)
)

// retrySetup repeats the setup until it succeeds or ctx ends (Close).
func (s *Store) retrySetup(ctx context.Context, deployment string) {
	defer close(s.retryDone)
	delay := setupBackoffMin
	for attempt := 2; ; attempt++ {
		// Jitter (a random half of the delay) keeps several Portico processes that lost the
		// same deployment from retrying in lockstep.
		wait := delay/2 + rand.N(delay/2+1)
		select {
		case <-ctx.Done():
			close(s.settled)
			return
		case <-time.After(wait):
		}
		actx, cancel := context.WithTimeout(ctx, setupAttemptMax)
		err := s.setup(actx)
		if err != nil {
			err = s.mapErr(actx, err)
		}
		cancel()
		if err == nil {
			s.setupErr.Store(nil)
			s.markReady()
			s.log.Info("mongo store open: MongoDB answers now, serving", "deployment", deployment,
				"attempt", attempt, "transactions", s.txn)
			return
		}
		if ctx.Err() != nil {
			close(s.settled)
			return
		}
		s.setupErr.Store(&err)
		delay = min(delay*2, setupBackoffMax)
		s.log.Warn("MongoDB still unreachable, retrying", "deployment", deployment, "attempt", attempt,
			"next_retry_ms", delay.Milliseconds(), "error", err.Error())
	}
}

// Ready reports whether the setup has succeeded (always true for a store Open returned without
// Config.RetrySetup).
func (s *Store) Ready() bool { return s.ready.Load() }

// WaitReady waits until the setup has succeeded (nil), the store is closed (an error wrapping
// store.ErrUnavailable) or ctx ends.
func (s *Store) WaitReady(ctx context.Context) error {
	select {
	case <-s.settled:
		if s.ready.Load() {
			return nil
		}
		return fmt.Errorf("mongo: store closed before MongoDB answered: %w", store.ErrUnavailable)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// setup pings, detects transaction support and ensures collections and indexes.
func (s *Store) setup(ctx context.Context) error {
	if err := s.client.Ping(ctx, nil); err != nil {
		return err
	}
	var hello bson.M
	err := s.client.Database("admin").RunCommand(ctx, bson.D{{Key: "hello", Value: 1}}).Decode(&hello)
	if err != nil {
		err = s.client.Database("admin").RunCommand(ctx, bson.D{{Key: "isMaster", Value: 1}}).Decode(&hello)
	}
	if err != nil {
		return fmt.Errorf("hello: %w", err)
	}
	_, rs := hello["setName"]
	mongos := hello["msg"] == "isdbgrid"
	s.txn = rs || mongos

	// Collections must exist before a transaction writes to them (MongoDB < 4.4).
	existing, err := s.db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, n := range existing {
		have[n] = true
	}
	for _, n := range []string{"versions", "resources", "locks", "counters"} {
		if !have[n] {
			if err := s.db.CreateCollection(ctx, n); err != nil && !isNamespaceExists(err) {
				return fmt.Errorf("create collection %s: %w", n, err)
			}
		}
	}
	for coll, models := range indexModels() {
		if _, err := s.db.Collection(coll).Indexes().CreateMany(ctx, models); err != nil {
			return fmt.Errorf("indexes of %s: %w", coll, err)
		}
	}
	return nil
}

func isNamespaceExists(err error) bool {
	var ce mongo.CommandError
	return errors.As(err, &ce) && ce.Code == 48
}

// indexModels lists the indexes Portico creates on start; docs/mongodb.md explains each.
func indexModels() map[string][]mongo.IndexModel {
	idx := func(name string, keys bson.D, unique bool) mongo.IndexModel {
		o := options.Index().SetName(name)
		if unique {
			o.SetUnique(true)
		}
		return mongo.IndexModel{Keys: keys, Options: o}
	}
	k := func(fields ...string) bson.D {
		d := bson.D{}
		for _, f := range fields {
			dir := 1
			if f[0] == '-' {
				dir, f = -1, f[1:]
			}
			d = append(d, bson.E{Key: f, Value: dir})
		}
		return d
	}
	return map[string][]mongo.IndexModel{
		"versions": {
			idx("by_resource", k("t", "i", "v"), true),
			idx("by_type_time", k("t", "-lu", "-seq"), false),
			idx("by_time", k("-lu", "-seq"), false),
		},
		"resources": {
			idx("by_type_id", k("t", "i"), false),
			idx("by_type_updated", k("t", "lulo"), false),
			idx("match_keys", k("t", "k"), false),
			idx("token_code", k("t", "x.p", "x.c"), false),
			idx("token_system", k("t", "x.p", "x.sy"), false),
			idx("text", k("t", "x.p", "x.tx"), false),
			idx("ref_target", k("t", "x.p", "x.ri"), false),
			idx("ref_url", k("t", "x.p", "x.ru"), false),
			idx("range_lo", k("t", "x.p", "x.lo"), false),
			idx("range_hi", k("t", "x.p", "x.hi"), false),
			idx("composite_code", k("t", "x.p", "x.a.c"), false),
		},
	}
}

// enter registers an operation; it fails once the store is closed.
func (s *Store) enter(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("mongo: store closed: %w", store.ErrUnavailable)
	}
	if !s.ready.Load() {
		msg := "initial setup pending"
		if p := s.setupErr.Load(); p != nil {
			msg += ": " + (*p).Error()
		}
		return fmt.Errorf("mongo: not ready (%s): %w", msg, store.ErrUnavailable)
	}
	s.active.Add(1)
	return nil
}

func (s *Store) leave() { s.active.Done() }

// Ping reports whether the deployment answers (for /readyz).
func (s *Store) Ping(ctx context.Context) error {
	if err := s.enter(ctx); err != nil {
		return err
	}
	defer s.leave()
	if err := s.client.Ping(ctx, nil); err != nil {
		return s.mapErr(ctx, err)
	}
	return nil
}

var _ store.WriteChecker = (*Store)(nil)

// CheckWrite implements store.WriteChecker: it upserts the one document of the write_check
// collection with the store's write concern (majority unless the URI says otherwise), so it
// fails when the deployment takes no writes (no primary, a majority unreachable, a user that
// may only read, a full disk). No resource or history changes.
func (s *Store) CheckWrite(ctx context.Context) error {
	if err := s.enter(ctx); err != nil {
		return err
	}
	defer s.leave()
	_, err := s.checks.UpdateOne(ctx, bson.D{{Key: "_id", Value: "readyz"}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "at", Value: time.Now().UTC()}}}}, options.UpdateOne().SetUpsert(true))
	if err = s.mapErr(ctx, err); err != nil && !errors.Is(err, store.ErrUnavailable) {
		err = fmt.Errorf("mongo: write check: %w: %w", store.ErrUnavailable, err)
	}
	return err
}

// Close waits for the operations in flight, then disconnects.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	if s.stopRetry != nil {
		s.stopRetry()
		<-s.retryDone
	}
	s.active.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.client.Disconnect(ctx)
}

// Transactions reports whether the store applies several writes atomically.
func (s *Store) Transactions() bool { return s.ready.Load() && s.txn }

// Capabilities: transactions on a replica set or through mongos (known once the deployment
// answered; before that, none).
func (s *Store) Capabilities() store.Capabilities {
	return store.Capabilities{Transactions: s.Transactions()}
}

// DropDatabase drops the store's database (tests).
func (s *Store) DropDatabase(ctx context.Context) error { return s.db.Drop(ctx) }

// mapErr turns driver errors into the contract's: a context that ended wraps its error, an
// unreachable deployment store.ErrUnavailable.
func (s *Store) mapErr(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w (%v)", cerr, err)
	}
	if errors.Is(err, store.ErrUnavailable) {
		return err
	}
	var sse topology.ServerSelectionError
	if mongo.IsNetworkError(err) || mongo.IsTimeout(err) || errors.As(err, &sse) ||
		errors.Is(err, mongo.ErrClientDisconnected) {
		// Also the driver's own timeouts (server selection), which it reports as a context
		// deadline although the caller's context is still alive.
		return fmt.Errorf("%w: %v", store.ErrUnavailable, err)
	}
	return err
}

// searchSlot waits for a client search's slot (store/lanes); the server's own searches
// (store.Internal) take none. run is the context to search with, and done maps its error
// (a search asked to yield: store.ErrYielded) and gives the slot back.
func (s *Store) searchSlot(ctx context.Context) (run context.Context, done func(error) error, err error) {
	if store.IsInternal(ctx) {
		return ctx, func(err error) error { return s.mapErr(ctx, err) }, nil
	}
	_, run, release, err := s.lanes.Acquire(ctx)
	if err != nil {
		return nil, nil, err
	}
	return run, func(err error) error {
		release()
		if y := lanes.Yielded(ctx, run, err); errors.Is(y, store.ErrYielded) {
			return y
		}
		return s.mapErr(ctx, err)
	}, nil
}

// redact names a deployment without its credentials.
func redact(cs *connstring.ConnString) string {
	return fmt.Sprintf("hosts %v database %q", cs.Hosts, cs.Database)
}
