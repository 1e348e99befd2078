package intent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-health/portico/internal/mongojava"
	"github.com/portico-health/portico/store"
	"github.com/portico-health/portico/store/mongo"
	"github.com/portico-health/portico/store/sqlite"
)

// The sequence and its recovery, on two stores without transactions: SQLite made to refuse
// several writes at once as a standalone MongoDB does, and MongoDB itself (mongo-java-server,
// which has no transactions). A crash is a store that stops between two steps; the restart is
// a new Store on the same data.

// noTxn is a store that reports no transactions and refuses several writes at once.
type noTxn struct{ store.Store }

func (n noTxn) Capabilities() store.Capabilities { return store.Capabilities{} }
func (n noTxn) Write(ctx context.Context, ws ...store.Write) error {
	if len(ws) > 1 {
		return store.ErrNoTransactions
	}
	return n.Store.Write(ctx, ws...)
}

// backend opens (and reopens, for a restart) one store of a kind.
type backend struct {
	name string
	open func(t *testing.T) store.Store
}

func backends(t *testing.T) []backend {
	dir := t.TempDir()
	out := []backend{{"sqlite", func(t *testing.T) store.Store {
		st, err := sqlite.Open(context.Background(), sqlite.Config{Dir: dir, Sync: "normal"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		return noTxn{st}
	}}}
	uri := "" // the MongoDB of the subtest, started on its first open
	db := fmt.Sprintf("portico_intent_%d_%d", os.Getpid(), dbN.Add(1))
	out = append(out, backend{"mongo", func(t *testing.T) store.Store {
		if uri == "" {
			uri = mongojava.TestURI(t, "../../"+mongojava.Jar)
		}
		st, err := mongo.Open(context.Background(), mongo.Config{URI: uri, Database: db})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		if store.CapabilitiesOf(st).Transactions {
			return noTxn{st} // a replica set: test the sequenced path all the same
		}
		return st
	}})
	return out
}

var dbN atomic.Int64

func create(typ, id string, fresh bool) store.Write {
	return store.Write{Op: store.OpCreate, Type: typ, ID: id, Version: 1, LastUpdated: time.Now().UTC(),
		Body: fmt.Appendf(nil, `{"resourceType":%q,"id":%q}`, typ, id), Fresh: fresh}
}

func update(typ, id string, v int64, note string) store.Write {
	return store.Write{Op: store.OpUpdate, Type: typ, ID: id, Version: v, LastUpdated: time.Now().UTC(),
		Body: fmt.Appendf(nil, `{"resourceType":%q,"id":%q,"status":%q}`, typ, id, note)}
}

// hook marks w as a write hook's follow-up.
func hook(w store.Write) store.Write {
	w.Service = "triage"
	return w
}

func intents(t *testing.T, st store.Store) int {
	t.Helper()
	p, err := st.Search(context.Background(), store.Query{Types: []string{Type}, Count: 100})
	if err != nil {
		t.Fatal(err)
	}
	return len(p.Records)
}

func exists(t *testing.T, st store.Store, typ, id string) bool {
	t.Helper()
	_, err := st.Read(context.Background(), typ, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

func TestSequence(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			raw := b.open(t)
			s := Wrap(raw, slog.New(slog.DiscardHandler))

			// A client create and a follow-up create: both, and no intent left.
			if err := s.Write(ctx, create("Communication", "m1", true), hook(create("Communication", "r1", true))); err != nil {
				t.Fatal(err)
			}
			if !exists(t, raw, "Communication", "m1") || !exists(t, raw, "Communication", "r1") || intents(t, raw) != 0 {
				t.Fatal("a sequence of two creates did not leave both and no intent")
			}

			// An answer: a create and an update of the original. The update goes first; when it
			// loses a race, nothing is written.
			if err := s.Write(ctx, create("Communication", "a1", true), hook(update("Communication", "m1", 2, "completed"))); err != nil {
				t.Fatal(err)
			}
			if err := s.Write(ctx, create("Communication", "a2", true), hook(update("Communication", "m1", 2, "completed-again"))); !errors.Is(err, store.ErrVersionConflict) {
				t.Fatalf("a lost race: %v", err)
			}
			if exists(t, raw, "Communication", "a2") || intents(t, raw) != 0 {
				t.Error("a sequence whose first write lost its race wrote its follow-up or left its intent")
			}

			// Two writes that can lose a race cannot be sequenced: refused, nothing written.
			if err := s.Write(ctx, update("Communication", "m1", 3, "x"), hook(create("Communication", "named", false))); !errors.Is(err, store.ErrNoTransactions) {
				t.Fatalf("two raceable writes: %v", err)
			}
			// Two client writes (a transaction Bundle) must be atomic for readers: refused.
			if err := s.Write(ctx, create("Patient", "t1", true), create("Patient", "t2", true)); !errors.Is(err, store.ErrNoTransactions) {
				t.Fatalf("two client writes: %v", err)
			}
			if exists(t, raw, "Communication", "named") || exists(t, raw, "Patient", "t1") || intents(t, raw) != 0 {
				t.Error("a refused sequence wrote")
			}
		})
	}
}

// TestCrashAndRecover: a process that stops after the first write of a sequence leaves it
// recovered exactly once after a restart; one that stops before leaves nothing.
func TestCrashAndRecover(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			crash := errors.New("the process stopped")
			s := Wrap(b.open(t), nil)
			s.afterStep = func(step int) error {
				if step == 1 {
					return crash // after the message, before its reply
				}
				return nil
			}
			if err := s.Write(ctx, create("Communication", "stat-1", true), hook(create("Communication", "reply-1", true))); !errors.Is(err, crash) {
				t.Fatal(err)
			}
			s.afterStep = func(step int) error {
				if step == 0 {
					return crash // after the intent, before the message
				}
				return nil
			}
			if err := s.Write(ctx, create("Communication", "stat-2", true), hook(create("Communication", "reply-2", true))); !errors.Is(err, crash) {
				t.Fatal(err)
			}

			// Restart: a new Store on the same data.
			raw := b.open(t)
			r := Wrap(raw, nil)
			if n, err := r.Recover(ctx); err != nil || n != 0 {
				t.Fatalf("young intents were settled: %d %v", n, err)
			}
			later := time.Now().Add(RecoverAge + time.Second)
			r.now = func() time.Time { return later }
			if n, err := r.Recover(ctx); err != nil || n != 2 {
				t.Fatalf("recover: %d %v, want 2 intents settled", n, err)
			}
			if !exists(t, raw, "Communication", "stat-1") || !exists(t, raw, "Communication", "reply-1") {
				t.Error("the message whose first write applied lacks its reply after recovery")
			}
			if exists(t, raw, "Communication", "stat-2") || exists(t, raw, "Communication", "reply-2") {
				t.Error("a sequence that stopped before its first write was applied by recovery")
			}
			if n, err := r.Recover(ctx); err != nil || n != 0 || intents(t, raw) != 0 {
				t.Errorf("a second recovery: %d %v, %d intents", n, err, intents(t, raw))
			}
			rec, err := raw.Read(ctx, "Communication", "reply-1")
			if err != nil || rec.Version != 1 {
				t.Errorf("reply-1: version %d %v, want exactly one version", rec.Version, err)
			}
		})
	}
}
