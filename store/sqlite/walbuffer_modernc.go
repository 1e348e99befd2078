//go:build !portico_mattn

package sqlite

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"modernc.org/libc"
	lib "modernc.org/sqlite/lib"
)

// The WAL write buffer: a VFS that wraps SQLite's own ("unix") and changes one thing, how the
// writer's WAL file is written. SQLite writes each WAL frame with two pwrite calls (its 24-byte
// header, then the page), so a commit of ~120 pages costs ~240 system calls, and on this
// workload they were a third of the writer's CPU: the writer is the one serial part of a
// create. Through this VFS the frames of a transaction collect in a buffer and reach the file
// in pwrites of up to 128 KiB: when the buffer is full, and when the commit frame is complete.
//
// What SQLite relies on is kept: every frame of a commit is in the file (the OS's page cache)
// before xWrite of the commit frame returns, hence before SQLite publishes the commit in the
// WAL index, where readers and the checkpointer (other connections, other file handles) find
// it. A read, a size query, a truncate, a sync or a close of the file first writes out what
// is buffered, so the writer's own connection sees its file as SQLite wrote it, and a write
// that does not continue the buffered run (SQLite rewriting a frame of the current
// transaction, or restarting the WAL at offset 0) writes the buffer out before it. The
// checksums SQLite rewrites after a commit frame (a transaction that overwrote frames it had
// spilled) are written at once, unbuffered, before SQLite publishes the commit. Only
// frames of a transaction that has not committed can be in the buffer when the process dies;
// SQLite's recovery ignores such frames in the file too.
//
// The commit frame is recognised by its header (https://sqlite.org/fileformat2.html#walformat):
// a frame header is 24 bytes, and its second big-endian word, the database size after the
// commit, is non-zero only in a commit frame. TestWALBufferFlushesAtCommit fails if a SQLite
// update ever writes frames differently.

// walBufferVFS is the name the buffering VFS is registered under.
const walBufferVFS = "portico-walbuf"

// walBufferSize is each buffered WAL file's buffer: the most that SQLite's unix VFS writes in
// one call (seekAndWriteFd masks a length to 17 bits), 31 frames of 4 KiB pages. A group
// commit of creates writes ~0.5 MiB, in ~4 calls instead of ~240.
const walBufferSize = 1<<17 - 1

const (
	walHeaderSize      = 32
	walFrameHeaderSize = 24
)

// writerDSN is the DSN of a writing connection to the database at path: through the WAL write
// buffer.
func writerDSN(path string) (string, error) {
	if err := registerWALBuffer(); err != nil {
		return "", err
	}
	return path + "?vfs=" + walBufferVFS, nil
}

var (
	walBufferOnce sync.Once
	walBufferErr  error
	unixVFS       uintptr // SQLite's default VFS, which does the I/O

	// walFiles maps an open WAL file (its sqlite3_file pointer) to its buffer.
	walFiles sync.Map // uintptr → *walFile

	// walMethods are the io_methods of buffered WAL files, one table per table of the
	// underlying VFS (there is one in practice), kept here for as long as the process runs.
	walMethodsMu sync.Mutex
	walMethods   = map[uintptr]uintptr{}

	// walRewrites counts writes below a commit (checksum rewrites), for the tests.
	walRewrites atomic.Int64
)

// walFile is one open WAL file's buffer: n bytes at buf (C memory, not moved by Go's
// collector) destined for offset off of the file.
type walFile struct {
	orig *lib.Tsqlite3_io_methods
	buf  uintptr
	off  int64
	n    int32
	// commitPage is set when the header of a commit frame was the last write: the write that
	// follows, its page, completes the commit.
	commitPage bool
	// committed is the offset just past the last commit frame written: SQLite writes below it
	// only to rewrite the checksums of the transaction it has just committed, and those go to
	// the file at once.
	committed int64
}

func registerWALBuffer() error {
	walBufferOnce.Do(func() {
		tls := libc.NewTLS()
		defer tls.Close()
		unixVFS = lib.Xsqlite3_vfs_find(tls, 0)
		if unixVFS == 0 {
			walBufferErr = fmt.Errorf("sqlite: no default VFS to wrap")
			return
		}
		name, err := libc.CString(walBufferVFS)
		if err != nil {
			walBufferErr = err
			return
		}
		vfs := libc.Xmalloc(tls, libc.Tsize_t(unsafe.Sizeof(lib.Tsqlite3_vfs{})))
		if vfs == 0 {
			walBufferErr = fmt.Errorf("sqlite: out of memory registering the WAL buffer")
			return
		}
		v := (*lib.Tsqlite3_vfs)(cptr(vfs))
		*v = *(*lib.Tsqlite3_vfs)(cptr(unixVFS))
		v.FpNext, v.FzName = 0, name
		*(*func(*libc.TLS, uintptr, uintptr, uintptr, int32, uintptr) int32)(unsafe.Pointer(&v.FxOpen)) = walbufOpen
		if rc := lib.Xsqlite3_vfs_register(tls, vfs, 0); rc != lib.SQLITE_OK {
			walBufferErr = fmt.Errorf("sqlite: registering the WAL buffer VFS: code %d", rc)
		}
	})
	return walBufferErr
}

// walbufOpen opens a file with the default VFS; a WAL file gets the buffering io_methods.
func walbufOpen(tls *libc.TLS, _ uintptr, zName, pFile uintptr, flags int32, pOutFlags uintptr) int32 {
	base := (*lib.Tsqlite3_vfs)(cptr(unixVFS))
	rc := (*(*func(*libc.TLS, uintptr, uintptr, uintptr, int32, uintptr) int32)(unsafe.Pointer(&base.FxOpen)))(
		tls, unixVFS, zName, pFile, flags, pOutFlags)
	if rc != lib.SQLITE_OK || flags&lib.SQLITE_OPEN_WAL == 0 {
		return rc
	}
	file := (*lib.Tsqlite3_file)(cptr(pFile))
	if file.FpMethods == 0 {
		return rc
	}
	orig := (*lib.Tsqlite3_io_methods)(cptr(file.FpMethods))
	// Without powersafe overwrite (the psow URI parameter, on by default), SQLite pads a
	// synchronous commit to a sector boundary and splits the frame that crosses it around an
	// fsync: writes this buffer does not recognise. Such a file is left unbuffered.
	if (*(*func(*libc.TLS, uintptr) int32)(unsafe.Pointer(&orig.FxDeviceCharacteristics)))(tls, pFile)&lib.SQLITE_IOCAP_POWERSAFE_OVERWRITE == 0 {
		return rc
	}
	methods := bufferedMethods(tls, file.FpMethods)
	buf := libc.Xmalloc(tls, walBufferSize)
	if methods == 0 || buf == 0 {
		return rc // unbuffered, still correct
	}
	walFiles.Store(pFile, &walFile{orig: orig, buf: buf})
	file.FpMethods = methods
	return rc
}

// bufferedMethods returns the io_methods of a buffered WAL file whose underlying methods are
// orig: orig's, with the methods that touch the file's bytes replaced. The table is in C
// memory, as SQLite's own are, and kept for as long as the process runs.
func bufferedMethods(tls *libc.TLS, orig uintptr) uintptr {
	walMethodsMu.Lock()
	defer walMethodsMu.Unlock()
	if p := walMethods[orig]; p != 0 {
		return p
	}
	p := libc.Xmalloc(tls, libc.Tsize_t(unsafe.Sizeof(lib.Tsqlite3_io_methods{})))
	if p == 0 {
		return 0
	}
	m := (*lib.Tsqlite3_io_methods)(cptr(p))
	*m = *(*lib.Tsqlite3_io_methods)(cptr(orig))
	*(*func(*libc.TLS, uintptr) int32)(unsafe.Pointer(&m.FxClose)) = walbufClose
	*(*func(*libc.TLS, uintptr, uintptr, int32, int64) int32)(unsafe.Pointer(&m.FxRead)) = walbufRead
	*(*func(*libc.TLS, uintptr, uintptr, int32, int64) int32)(unsafe.Pointer(&m.FxWrite)) = walbufWrite
	*(*func(*libc.TLS, uintptr, int64) int32)(unsafe.Pointer(&m.FxTruncate)) = walbufTruncate
	*(*func(*libc.TLS, uintptr, int32) int32)(unsafe.Pointer(&m.FxSync)) = walbufSync
	*(*func(*libc.TLS, uintptr, uintptr) int32)(unsafe.Pointer(&m.FxFileSize)) = walbufFileSize
	walMethods[orig] = p
	return p
}

// cptr converts the address of C memory (libc's heap, which Go's collector neither moves nor
// frees, or a table of this file that stays referenced) to a pointer.
func cptr(p uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&p)) }

func fileOf(pFile uintptr) *walFile {
	f, _ := walFiles.Load(pFile)
	return f.(*walFile)
}

// flush writes out what is buffered.
func (f *walFile) flush(tls *libc.TLS, pFile uintptr) int32 {
	if f.n == 0 {
		return lib.SQLITE_OK
	}
	rc := f.write(tls, pFile, f.buf, f.n, f.off)
	// Written or not, the bytes leave the buffer: a failed write fails SQLite's transaction,
	// which writes its frames again when it retries.
	f.n = 0
	return rc
}

// write writes to the file, unbuffered.
func (f *walFile) write(tls *libc.TLS, pFile, zBuf uintptr, iAmt int32, iOfst int64) int32 {
	return (*(*func(*libc.TLS, uintptr, uintptr, int32, int64) int32)(unsafe.Pointer(&f.orig.FxWrite)))(tls, pFile, zBuf, iAmt, iOfst)
}

func walbufWrite(tls *libc.TLS, pFile, zBuf uintptr, iAmt int32, iOfst int64) int32 {
	f := fileOf(pFile)
	completesCommit := f.commitPage
	f.commitPage = false
	if iOfst == 0 && iAmt == walHeaderSize {
		f.committed = 0 // the WAL starts over
	}
	if iOfst < f.committed || iAmt > walBufferSize {
		if iOfst < f.committed {
			walRewrites.Add(1)
		}
		if rc := f.flush(tls, pFile); rc != lib.SQLITE_OK {
			return rc
		}
		if rc := f.write(tls, pFile, zBuf, iAmt, iOfst); rc != lib.SQLITE_OK || !completesCommit {
			return rc
		}
		f.committed = max(f.committed, iOfst+int64(iAmt))
		return lib.SQLITE_OK
	}
	if f.n > 0 && (iOfst != f.off+int64(f.n) || f.n+iAmt > walBufferSize) {
		if rc := f.flush(tls, pFile); rc != lib.SQLITE_OK {
			return rc
		}
	}
	if f.n == 0 {
		f.off = iOfst
	}
	src := unsafe.Slice((*byte)(cptr(zBuf)), iAmt)
	copy(unsafe.Slice((*byte)(cptr(f.buf+uintptr(f.n))), iAmt), src)
	f.n += iAmt
	if completesCommit {
		f.committed = iOfst + int64(iAmt)
		return f.flush(tls, pFile)
	}
	// A frame header whose commit field is set: its page, written next, ends the transaction.
	f.commitPage = iAmt == walFrameHeaderSize && iOfst >= walHeaderSize && binary.BigEndian.Uint32(src[4:8]) != 0
	return lib.SQLITE_OK
}

func walbufRead(tls *libc.TLS, pFile, zBuf uintptr, iAmt int32, iOfst int64) int32 {
	f := fileOf(pFile)
	if rc := f.flush(tls, pFile); rc != lib.SQLITE_OK {
		return rc
	}
	return (*(*func(*libc.TLS, uintptr, uintptr, int32, int64) int32)(unsafe.Pointer(&f.orig.FxRead)))(tls, pFile, zBuf, iAmt, iOfst)
}

func walbufTruncate(tls *libc.TLS, pFile uintptr, size int64) int32 {
	f := fileOf(pFile)
	if rc := f.flush(tls, pFile); rc != lib.SQLITE_OK {
		return rc
	}
	f.committed = min(f.committed, size)
	return (*(*func(*libc.TLS, uintptr, int64) int32)(unsafe.Pointer(&f.orig.FxTruncate)))(tls, pFile, size)
}

func walbufSync(tls *libc.TLS, pFile uintptr, flags int32) int32 {
	f := fileOf(pFile)
	if rc := f.flush(tls, pFile); rc != lib.SQLITE_OK {
		return rc
	}
	return (*(*func(*libc.TLS, uintptr, int32) int32)(unsafe.Pointer(&f.orig.FxSync)))(tls, pFile, flags)
}

func walbufFileSize(tls *libc.TLS, pFile, pSize uintptr) int32 {
	f := fileOf(pFile)
	if rc := f.flush(tls, pFile); rc != lib.SQLITE_OK {
		return rc
	}
	return (*(*func(*libc.TLS, uintptr, uintptr) int32)(unsafe.Pointer(&f.orig.FxFileSize)))(tls, pFile, pSize)
}

func walbufClose(tls *libc.TLS, pFile uintptr) int32 {
	f := fileOf(pFile)
	rc := f.flush(tls, pFile)
	walFiles.Delete(pFile)
	libc.Xfree(tls, f.buf)
	if rc2 := (*(*func(*libc.TLS, uintptr) int32)(unsafe.Pointer(&f.orig.FxClose)))(tls, pFile); rc == lib.SQLITE_OK {
		rc = rc2
	}
	return rc
}
