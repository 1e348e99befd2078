// Package sqlite owns Portico's embedded default backend: a store.Store kept in one SQLite
// database file inside a data directory, in WAL mode, with every acknowledged write committed
// (synchronous=FULL unless configured otherwise). Versions are appended to one table in commit
// order, a current-version table answers point reads, and token index rows of current versions
// answer search; all writes go through a single writer goroutine that group-commits concurrent
// Write calls, each in its own SAVEPOINT, and writes its WAL through a buffer that turns a
// commit's ~240 write calls into a few (walbuffer_modernc.go), while reads use a separate pool
// of read-only connections. Ceiling and RawReader measure the same schema without Portico's logic, for load
// tools. docs/store.md describes the schema and the measurements behind the choices.
package sqlite
