//go:build !portico_mattn

package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// walBuffered is how many bytes the WAL buffers of open files hold, and how many are open.
func walBuffered() (bytes int64, files int) {
	walFiles.Range(func(_, v any) bool {
		bytes += int64(v.(*walFile).n)
		files++
		return true
	})
	return bytes, files
}

// TestWALBufferFlushesAtCommit: when a write is answered, nothing of it is left in the WAL
// buffer, and another connection (a reader of the store's pool, through SQLite's own VFS)
// reads it. It fails if SQLite stops writing a frame's header and page as two writes, which
// is how the buffer recognises a commit.
func TestWALBufferFlushesAtCommit(t *testing.T) {
	for _, sync := range []string{"full", "strict", "normal"} {
		t.Run(sync, func(t *testing.T) {
			s, err := Open(t.Context(), Config{Dir: t.TempDir(), Sync: sync})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if _, files := walBuffered(); files == 0 {
				t.Fatal("the writer's WAL is not buffered")
			}
			for i := range 300 {
				id := fmt.Sprintf("p%d", i)
				body := fmt.Sprintf(`{"resourceType":"Basic","id":%q,"code":{"text":"%0500d"}}`, id, i)
				w := basicWrite(id)
				w.Body = []byte(body)
				if err := s.Write(t.Context(), w); err != nil {
					t.Fatal(err)
				}
				if n, _ := walBuffered(); n != 0 {
					t.Fatalf("write %d answered with %d bytes of its WAL frames still buffered", i, n)
				}
				rec, err := s.Read(t.Context(), "Basic", id)
				if err != nil || string(rec.Body) != body {
					t.Fatalf("read after write %d: %v, %.60q", i, err, rec.Body)
				}
			}
		})
	}
}

// rawWriter opens a writing connection through the WAL buffer, without checkpoints, with a
// page cache of 20 pages so that a large transaction spills frames before it commits.
func rawWriter(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := openWriter(path, []string{"PRAGMA journal_mode = WAL", "PRAGMA synchronous = NORMAL",
		"PRAGMA wal_autocheckpoint = 0", "PRAGMA cache_size = 20"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// recovered copies the database and its WAL (as a crash leaves them: the WAL not checkpointed)
// into a new directory and opens the copy through SQLite's own VFS, which rebuilds the WAL
// index from the frames whose checksums hold.
func recovered(t *testing.T, path string) *sql.DB {
	t.Helper()
	dir := t.TempDir()
	for _, suffix := range []string{"", "-wal"} {
		src, err := os.Open(path + suffix)
		if err != nil {
			t.Fatal(err)
		}
		dst, err := os.Create(filepath.Join(dir, DatabaseFile+suffix))
		if err == nil {
			_, err = io.Copy(dst, src)
			err = errors.Join(err, dst.Close())
		}
		src.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	db := openPool(filepath.Join(dir, DatabaseFile), nil, 1)
	t.Cleanup(func() { db.Close() })
	var ok string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&ok); err != nil || ok != "ok" {
		t.Fatalf("integrity_check of the recovered copy: %v %s", err, ok)
	}
	return db
}

// checkRows fails unless db's table t holds want rows whose v sums to sum.
func checkRows(t *testing.T, db *sql.DB, want, sum int64) {
	t.Helper()
	var n, got sql.NullInt64
	if err := db.QueryRow("SELECT count(*), sum(v) FROM t").Scan(&n, &got); err != nil {
		t.Fatal(err)
	}
	if n.Int64 != want || got.Int64 != sum {
		t.Fatalf("rows %d (sum %d), want %d (sum %d)", n.Int64, got.Int64, want, sum)
	}
}

// TestWALBufferRewrittenChecksums: a transaction larger than the page cache spills frames to
// the WAL, then changes pages it spilled, which SQLite overwrites in place and whose checksums
// it rewrites after the commit frame. Those rewrites must reach the file before the commit is
// acknowledged: a crash copy of the files must recover the whole transaction.
func TestWALBufferRewrittenChecksums(t *testing.T) {
	path := filepath.Join(t.TempDir(), DatabaseFile)
	db := rawWriter(t, path)
	ctx := context.Background()
	mustExec(t, db, "CREATE TABLE t (k INTEGER PRIMARY KEY, v INTEGER NOT NULL, pad BLOB NOT NULL)")
	rewrites := walRewrites.Load()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k := range 3000 {
		if _, err := tx.Exec("INSERT INTO t VALUES (?, 1, zeroblob(400))", k); err != nil {
			t.Fatal(err)
		}
	}
	// Reading every row reads the spilled pages back from the WAL, the last of them from the
	// buffer's run (which must be written out first).
	var n, sum int64
	if err := tx.QueryRow("SELECT count(*), sum(v + length(pad)) FROM t").Scan(&n, &sum); err != nil || n != 3000 || sum != 3000*401 {
		t.Fatalf("reading the transaction's rows: %v, %d rows, sum %d", err, n, sum)
	}
	// The first rows' pages were spilled long ago; changing them reads them back from the
	// WAL (through the buffer) and writes them again.
	if _, err := tx.Exec("UPDATE t SET v = 2 WHERE k < 200"); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec("INSERT INTO t VALUES (3000, 1, zeroblob(400))"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if walRewrites.Load() == rewrites {
		t.Fatal("SQLite rewrote no checksums: the test no longer covers that path")
	}
	if n, _ := walBuffered(); n != 0 {
		t.Fatalf("%d bytes still buffered after the commit", n)
	}
	checkRows(t, db, 3001, 3001+200)
	checkRows(t, recovered(t, path), 3001, 3001+200)
}

// TestWALBufferRestart: after a checkpoint SQLite starts the WAL over at offset 0; frames
// written there must be buffered and written out like any others.
func TestWALBufferRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), DatabaseFile)
	db := rawWriter(t, path)
	mustExec(t, db, "CREATE TABLE t (k INTEGER PRIMARY KEY, v INTEGER NOT NULL, pad BLOB NOT NULL)")
	k := 0
	insert := func(n int) {
		for range n {
			mustExec(t, db, "INSERT INTO t VALUES (?, 1, zeroblob(300))", k)
			k++
		}
	}
	insert(100)
	mustExec(t, db, "PRAGMA wal_checkpoint(RESTART)")
	insert(50)
	mustExec(t, db, "PRAGMA wal_checkpoint(TRUNCATE)")
	insert(50)
	checkRows(t, db, 200, 200)
	checkRows(t, recovered(t, path), 200, 200)
}

func mustExec(t *testing.T, db *sql.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.Exec(query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}
