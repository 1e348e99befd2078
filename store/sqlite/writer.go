package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/portico-health/portico/store"
)

// maxBatch bounds how many Write calls share one transaction, so that one commit's latency
// (and the memory of its results) stays bounded under any load.
const maxBatch = 256

// request is one Write call waiting for the writer.
type request struct {
	ctx    context.Context
	writes []store.Write
	op     func(ctx context.Context) error // instead of writes: a Purge or a CheckWrite call
	// checked: the conditional creates' criteria searched before queueing, each with the
	// commit sequence it was searched at (precheck.go)
	checked map[*store.Query]int64
	done    chan error // buffered: the writer never blocks on a caller
	result  error      // the call's outcome, sent on done once it is durable
}

// writer owns the only writing connection. It takes every Write call queued while the previous
// transaction was committing and applies them in one transaction (group commit): a commit's
// fsync is shared by the whole batch, which is what makes synchronous=FULL affordable. Each
// call runs inside its own SAVEPOINT, so a failed precondition undoes that call alone. With a
// syncer (Config.Sync "full"), a committed batch is answered once the syncer has fsynced the
// WAL, which it does while the writer applies the next batch (walsync.go).
type writer struct {
	db      *sql.DB
	conn    *sql.Conn
	stmts   *writeStmts
	inserts map[int]*sql.Stmt // multi-row index INSERTs by table and row count (apply.go)
	log     *slog.Logger
	checked map[*store.Query]int64 // of the request being applied
	syncer  *walSyncer             // nil: SQLite syncs in COMMIT ("strict") or nobody does ("normal")

	mu     sync.RWMutex // held for reading while queueing, for writing to close the queue
	closed bool
	queue  chan *request
	exited chan struct{}
}

// newWriter starts the writer of db. Given the database file's path, it also starts the syncer
// that fsyncs its WAL after each COMMIT (db then runs SQLite's synchronous=NORMAL); "" means
// no syncer. The writer stops the syncer when it exits.
func newWriter(ctx context.Context, db *sql.DB, syncPath string, log *slog.Logger) (*writer, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlite: writer connection: %w", err)
	}
	stmts, err := prepareWriteStmts(ctx, conn)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	w := &writer{db: db, conn: conn, stmts: stmts, log: log,
		queue: make(chan *request, maxBatch), exited: make(chan struct{})}
	if syncPath != "" {
		w.syncer = startWALSyncer(syncPath, log)
	}
	go w.run()
	return w, nil
}

// submit queues writes and waits for their outcome. Once queued, a call always waits for the
// commit: the writer skips it if ctx ended before its turn, and otherwise the answer says
// whether it was committed, so a cancelled caller never has to guess.
func (w *writer) submit(ctx context.Context, writes []store.Write, checked map[*store.Query]int64) error {
	return w.enqueue(ctx, &request{ctx: ctx, writes: writes, checked: checked, done: make(chan error, 1)})
}

func (w *writer) enqueue(ctx context.Context, req *request) error {
	if err := w.syncErr(); err != nil {
		return err
	}
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return errClosed
	}
	select {
	case w.queue <- req:
		w.mu.RUnlock()
	case <-ctx.Done():
		w.mu.RUnlock()
		return fmt.Errorf("sqlite: write not queued: %w", ctx.Err())
	}
	return <-req.done
}

// close stops accepting writes, waits for the queued ones to be committed and closes the
// connection.
func (w *writer) close() error {
	w.mu.Lock()
	w.closed = true
	close(w.queue)
	w.mu.Unlock()
	<-w.exited
	w.stmts.close()
	for _, st := range w.inserts {
		_ = st.Close()
	}
	return errors.Join(w.conn.Close(), w.db.Close())
}

func (w *writer) run() {
	defer close(w.exited)
	if w.syncer != nil {
		defer func() {
			close(w.syncer.queue)
			if err := w.syncer.close(); err != nil {
				w.log.Warn("sqlite: close the write-ahead log", "err", err)
			}
		}()
	}
	for req := range w.queue {
		w.commit(drain(w.queue, []*request{req}, maxBatch))
	}
}

// drain appends to batch what ch holds right now, without waiting, up to limit items.
func drain[T any](ch <-chan T, batch []T, limit int) []T {
	for len(batch) < limit {
		select {
		case v, ok := <-ch:
			if !ok {
				return batch
			}
			batch = append(batch, v)
		default:
			return batch
		}
	}
	return batch
}

// syncErr is the error of a failed WAL fsync, after which the writer applies nothing: what it
// committed would be readable, yet its callers would be told it failed.
func (w *writer) syncErr() error {
	if w.syncer == nil {
		return nil
	}
	return w.syncer.err()
}

// answer sends every caller of a batch its result: through the syncer once the WAL is on disk
// when the batch committed writes, at once otherwise.
func (w *writer) answer(batch []*request, committed bool) {
	if committed && w.syncer != nil {
		w.syncer.queue <- batch
		return
	}
	for _, req := range batch {
		req.done <- req.result
	}
}

// commit applies a batch in one transaction and answers every caller after COMMIT (and, with
// a syncer, after the fsync that follows it).
//
// A call of independent writes (one write, or several on different resources without a
// conditional create: every plain create, update, delete and most transaction Bundles) runs
// without a savepoint: all its preconditions are checked before anything is modified, so a
// refused call has nothing to undo, and the savepoint's statement journal (every page the call
// touches copied first) was ~5% of the writer's CPU. Should such a call fail after it began
// modifying (a full disk, say), the transaction is rolled back and the batch applied again
// with a savepoint around every call.
func (w *writer) commit(batch []*request) {
	if !w.commitOnce(batch, false) {
		w.commitOnce(batch, true)
	}
}

// commitOnce applies a batch; it returns false, having answered nobody and rolled back, when a
// call without a savepoint failed part way and the batch must be retried with savepoints.
func (w *writer) commitOnce(batch []*request, savepoints bool) bool {
	// The writer's statements run on a context of their own: a caller's cancellation must not
	// interrupt a transaction that carries other callers' writes.
	ctx := context.Background()
	results := make([]error, len(batch))
	fail := func(err error) {
		for i := range results {
			if results[i] == nil {
				results[i] = err
			}
		}
	}

	committed := false
	if err := w.syncErr(); err != nil {
		fail(err)
	} else if _, err := w.conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		fail(fmt.Errorf("sqlite: begin: %w", err))
	} else {
		for i, req := range batch {
			if err := req.ctx.Err(); err != nil {
				results[i] = fmt.Errorf("sqlite: write not applied: %w", err)
				continue
			}
			var broken error
			if req.op != nil && !savepoints {
				if results[i] = req.op(ctx); results[i] != nil {
					if _, err := w.conn.ExecContext(ctx, "ROLLBACK"); err != nil {
						w.log.Error("sqlite rollback failed", "err", err)
					}
					return false
				}
				continue
			}
			if req.op != nil {
				results[i], broken = w.savepoint(ctx, func() error { return req.op(ctx) })
				if broken != nil {
					fail(broken)
					break
				}
				continue
			}
			w.checked = req.checked
			if !savepoints && independent(req.writes) {
				results[i] = w.applyChecked(ctx, req.writes)
				var m errModified
				if errors.As(results[i], &m) {
					if _, err := w.conn.ExecContext(ctx, "ROLLBACK"); err != nil {
						w.log.Error("sqlite rollback failed", "err", err)
					}
					return false
				}
				continue
			}
			results[i], broken = w.applyCall(ctx, req.writes)
			if broken != nil {
				fail(broken)
				break
			}
		}
		var err error
		if committed, err = w.finish(ctx, results); err != nil {
			w.log.Error("sqlite commit failed", "calls", len(batch), "err", err)
			fail(err)
		}
	}
	for i, req := range batch {
		req.result = unavailable(results[i])
	}
	w.answer(batch, committed)
	return true
}

// independent reports whether a call's writes can run without a savepoint: all their
// preconditions can be checked before the first is applied, because no write depends on
// another of the call (no resource written twice) and none is a conditional create (whose
// search could see an earlier write of the call).
func independent(writes []store.Write) bool {
	if len(writes) == 1 {
		return true // apply checks a conditional create's search, too, before modifying
	}
	seen := make(map[[2]string]bool, len(writes))
	for i := range writes {
		k := [2]string{writes[i].Type, writes[i].ID}
		if writes[i].IfNoneExist != nil || seen[k] {
			return false
		}
		seen[k] = true
	}
	return true
}

// applyChecked applies independent writes without a savepoint: first every version
// precondition, then the writes. A refused call has modified nothing; an error once writing
// began is an errModified.
func (w *writer) applyChecked(ctx context.Context, writes []store.Write) error {
	if len(writes) > 1 {
		for i := range writes {
			if err := w.checkVersion(ctx, &writes[i]); err != nil {
				return err
			}
		}
	}
	for i := range writes {
		if err := w.apply(ctx, &writes[i]); err != nil {
			var m errModified
			if i > 0 && !errors.As(err, &m) {
				err = errModified{err} // the earlier writes of the call are in
			}
			return err
		}
	}
	return nil
}

// finish commits the transaction, or rolls it back when no call in it succeeded or the
// transaction is broken; committed reports a COMMIT.
func (w *writer) finish(ctx context.Context, results []error) (committed bool, err error) {
	if !slices.Contains(results, nil) {
		if _, err := w.conn.ExecContext(ctx, "ROLLBACK"); err != nil {
			return false, fmt.Errorf("sqlite: rollback: %w", err)
		}
		return false, nil
	}
	if _, err := w.conn.ExecContext(ctx, "COMMIT"); err != nil {
		_, _ = w.conn.ExecContext(ctx, "ROLLBACK") // may fail: SQLite can have rolled back already
		return false, fmt.Errorf("sqlite: commit: %w", err)
	}
	return true, nil
}

// applyCall applies one Write call inside a SAVEPOINT. It returns the call's own outcome, and
// broken when the transaction itself can no longer be used.
func (w *writer) applyCall(ctx context.Context, writes []store.Write) (result, broken error) {
	return w.savepoint(ctx, func() error {
		for i := range writes {
			if err := w.apply(ctx, &writes[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// savepoint runs fn inside a SAVEPOINT, rolled back to when fn fails.
func (w *writer) savepoint(ctx context.Context, fn func() error) (result, broken error) {
	if _, err := w.conn.ExecContext(ctx, "SAVEPOINT call"); err != nil {
		return nil, fmt.Errorf("sqlite: savepoint: %w", err)
	}
	result = fn()
	if result != nil {
		if _, err := w.conn.ExecContext(ctx, "ROLLBACK TO call"); err != nil {
			return result, fmt.Errorf("sqlite: rollback to savepoint: %w", err)
		}
	}
	if _, err := w.conn.ExecContext(ctx, "RELEASE call"); err != nil {
		return result, fmt.Errorf("sqlite: release savepoint: %w", err)
	}
	return result, nil
}
