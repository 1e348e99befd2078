package sqlite

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"time"
)

// Config configures Open. Only Dir is required.
type Config struct {
	// Dir is the data directory; it is created if missing and holds the database file (and
	// SQLite's -wal and -shm files beside it).
	Dir string

	// Logger receives the store's few operational messages; nil discards them.
	Logger *slog.Logger

	// Sync says when a write is acknowledged (docs/store.md, "Durability"):
	//   - "full" (the default): once the WAL holding it is fsynced, so it survives a power
	//     loss. The fsync runs beside the writer's next transaction (walsync.go); another
	//     connection can read a write up to one fsync (~2 ms) before it is durable.
	//   - "strict": the same, with SQLite's own fsync inside COMMIT, so nothing is readable
	//     before it is on disk; the writer waits for every fsync (~25% fewer creates/s).
	//   - "normal": at COMMIT, without an fsync: survives a crash or SIGKILL of the process
	//     but may lose the last commits on power loss.
	Sync string

	// ReadConns is the size of the search pool, and of its overflow pool; 0 means GOMAXPROCS.
	// SQLite reads are CPU-bound once the pages are cached, and connections beyond the cores
	// cost throughput; the overflow serves only searches that wait behind costly ones (reads
	// by id have their own pool: docs/store.md, "Concurrency").
	ReadConns int

	// MmapSize is how many bytes of the database file each reader maps into memory (SQLite's
	// mmap_size; at most MaxMmapSize); 0, the default, maps nothing. Mapping saves a pread per
	// page a reader's cache misses, but every mapped page a reader touches counts as resident
	// memory of the process, once per reader (docs/store.md, "Memory").
	MmapSize int64

	// QuickCheck bounds the integrity check (SQLite's PRAGMA quick_check) that Open starts in
	// the background: until it ends, and after it found damage, CheckWrite fails, so /readyz
	// answers 503. A check still running after QuickCheck is stopped and counts as passed (it
	// reports nothing before it has read every page). 0, the default, runs none (the admin
	// commands).
	QuickCheck time.Duration
}

// DatabaseFile is the name of the database file inside Config.Dir.
const DatabaseFile = "portico.db"

// withDefaults returns c with the zero fields filled in, or every problem with it at once.
func (c Config) withDefaults() (Config, error) {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("the data directory (Dir) is required"))
	}
	switch c.Sync {
	case "":
		c.Sync = "full"
	case "full", "strict", "normal":
	default:
		errs = append(errs, fmt.Errorf("synchronous setting (Sync) %q: want \"full\", \"strict\" or \"normal\"", c.Sync))
	}
	if c.MmapSize < 0 {
		errs = append(errs, fmt.Errorf("memory map size (MmapSize) %d: want >= 0", c.MmapSize))
	}
	if c.QuickCheck < 0 {
		errs = append(errs, fmt.Errorf("integrity check bound (QuickCheck) %v: want >= 0", c.QuickCheck))
	}
	if c.ReadConns < 0 {
		errs = append(errs, fmt.Errorf("read pool size (ReadConns) %d: want >= 0", c.ReadConns))
	}
	if c.ReadConns == 0 {
		c.ReadConns = runtime.GOMAXPROCS(0)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("sqlite: invalid config: %w", err)
	}
	return c, nil
}
