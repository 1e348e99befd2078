// Package mongo is Portico's MongoDB backend: store.Store on the official Go driver
// (go.mongodb.org/mongo-driver/v2). See docs/mongodb.md for the data model, the indexes and the
// write protocol.
package mongo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"

	"github.com/portico-health/portico/store"
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
	// NoTransactions makes the store behave as on a standalone server even where the deployment
	// supports transactions (tests of the standalone protocol).
	NoTransactions bool
}

// Store is the MongoDB backend. It is safe for concurrent use.
type Store struct {
	client   *mongo.Client
	db       *mongo.Database
	versions *mongo.Collection
	res      *mongo.Collection
	locks    *mongo.Collection
	counters *mongo.Collection
	log      *slog.Logger
	txn      bool // the deployment supports multi-document transactions

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
	s := &Store{client: client, db: client.Database(dbName), log: log}
	s.versions = s.db.Collection("versions")
	s.res = s.db.Collection("resources")
	s.locks = s.db.Collection("locks")
	s.counters = s.db.Collection("counters")

	timeout := cfg.ConnectTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	octx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := s.setup(octx); err != nil {
		_ = client.Disconnect(context.Background())
		err = s.mapErr(octx, err)
		if !errors.Is(err, store.ErrUnavailable) && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) {
			err = fmt.Errorf("%w: %v", store.ErrUnavailable, err)
		}
		return nil, fmt.Errorf("mongo: open %s: %w", redact(cs), err)
	}
	if cfg.NoTransactions {
		s.txn = false
	}
	log.Info("mongo store open", "database", dbName, "transactions", s.txn)
	return s, nil
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

// Close waits for the operations in flight, then disconnects.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.active.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.client.Disconnect(ctx)
}

// Transactions reports whether the store applies several writes atomically.
func (s *Store) Transactions() bool { return s.txn }

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

// redact names a deployment without its credentials.
func redact(cs *connstring.ConnString) string {
	return fmt.Sprintf("hosts %v database %q", cs.Hosts, cs.Database)
}
