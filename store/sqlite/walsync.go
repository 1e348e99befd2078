package sqlite

import (
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
)

// walSyncer makes committed transactions durable beside the writer (Config.Sync "full").
//
// With SQLite's synchronous=FULL, COMMIT fsyncs the WAL while holding the write lock: the
// writer spent ~40% of its time waiting there under a create load, time in which it could
// have applied the next batch. So the writer runs with synchronous=NORMAL (COMMIT appends the
// frames to the WAL, no fsync) and hands each committed batch to this goroutine, which
// fdatasyncs the WAL file and only then answers the batch's callers. The writer meanwhile
// applies and commits the next batch; batches that commit during one fsync share the next.
//
// Durability is the same as synchronous=FULL for every acknowledged write: the WAL is
// append-only between checkpoints and recovery replays its longest valid prefix of
// transactions, so once the fsync that followed a commit returns, that commit (and every one
// before it) survives a power loss. A WAL restart only overwrites frames a checkpoint has
// already copied into the database file and synced (the checkpointer's connection runs with
// synchronous=FULL). What differs: another connection can read a transaction during the
// ~2 ms between its COMMIT and the fsync, and a power loss in that window loses what it
// read, though its writer was never told it succeeded. Config.Sync "strict" keeps SQLite's
// own in-commit fsync for deployments that want nothing visible before it is on disk.
//
// A failed fsync is not retried: after one, Linux may have dropped the dirty pages it could
// not write, so a later fsync that succeeds proves nothing. The store answers the waiting
// callers with an error and refuses every later write until it is reopened (recovery then
// sees only what really reached the disk).
type walSyncer struct {
	path  string // the WAL file: the database path + "-wal"
	log   *slog.Logger
	queue chan []*request
	done  chan struct{}

	file   *os.File              // the syncer goroutine's alone; opened at its first sync
	broken atomic.Pointer[error] // set by a failed fsync; every later write is refused with it
}

// syncQueueLen bounds how many committed batches can wait for an fsync; when they do, the
// writer waits too, so an fsync that stalls cannot let unsynced batches pile up unbounded.
const syncQueueLen = 64

func startWALSyncer(dbPath string, log *slog.Logger) *walSyncer {
	s := &walSyncer{path: dbPath + "-wal", log: log, queue: make(chan []*request, syncQueueLen),
		done: make(chan struct{})}
	go s.run()
	return s
}

// syncWAL, replaced by tests only, makes the WAL file durable.
var syncWAL = fdatasync

func (s *walSyncer) run() {
	defer close(s.done)
	for batch := range s.queue {
		// Every batch committed since the last fsync shares this one.
		waiting := drain(s.queue, [][]*request{batch}, syncQueueLen+1)
		err := s.sync()
		for _, b := range waiting {
			for _, req := range b {
				if req.result == nil && err != nil {
					req.result = err
				}
				req.done <- req.result
			}
		}
	}
}

// sync fsyncs the WAL file, or returns the error that broke the store. Only the syncer
// goroutine calls it; nothing is locked meanwhile, so the writer and new calls go on.
func (s *walSyncer) sync() error {
	if err := s.err(); err != nil {
		return err
	}
	if s.file == nil {
		f, err := os.Open(s.path)
		if err != nil {
			return s.breaks(fmt.Errorf("sqlite: open the write-ahead log to sync it: %w", err))
		}
		s.file = f
	}
	if err := syncWAL(s.file); err != nil {
		return s.breaks(fmt.Errorf("sqlite: fsync of the write-ahead log failed, so recent writes may not be durable; "+
			"the store refuses writes until it is reopened: %w", err))
	}
	return nil
}

// breaks records err as the end of writes.
func (s *walSyncer) breaks(err error) error {
	s.broken.Store(&err)
	s.log.Error("sqlite store refuses writes from now on", "err", err)
	return err
}

// err is the error that broke the store, or nil.
func (s *walSyncer) err() error {
	if p := s.broken.Load(); p != nil {
		return *p
	}
	return nil
}

// close waits for the queued batches to be synced and answered (the writer closes the queue),
// then closes the WAL file.
func (s *walSyncer) close() error {
	<-s.done
	if s.file == nil {
		return nil
	}
	return s.file.Close()
}
