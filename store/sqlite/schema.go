package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// schemaVersion is stored in PRAGMA user_version; Open refuses a file written by a newer
// schema rather than misreading it.
const schemaVersion = 1

// schema is the whole database. docs/store.md explains every index by the query it serves.
var schema = []string{
	// Every version ever written, in commit order: seq is the rowid, so an insert appends to
	// the end of the table's b-tree and seq orders history ties and cursors.
	`CREATE TABLE versions (
		seq          INTEGER PRIMARY KEY,
		type         TEXT    NOT NULL,
		id           TEXT    NOT NULL,
		version      INTEGER NOT NULL,
		last_updated INTEGER NOT NULL, -- Unix nanoseconds, UTC
		op           INTEGER NOT NULL, -- store.Op
		body         BLOB              -- NULL for a tombstone
	)`,
	// VRead, instance history, and the invariant that a version number is used once.
	`CREATE UNIQUE INDEX versions_by_resource ON versions (type, id, version)`,
	// Type and system history, newest first; seq (the rowid) is implicitly the last column.
	`CREATE INDEX versions_by_type_time ON versions (type, last_updated)`,
	`CREATE INDEX versions_by_time ON versions (last_updated)`,

	// The current version of every resource, tombstones included: point reads, the version
	// precondition of every write, and search without clauses.
	`CREATE TABLE resources (
		type    TEXT    NOT NULL,
		id      TEXT    NOT NULL,
		version INTEGER NOT NULL,
		seq     INTEGER NOT NULL, -- versions.seq of the current version
		deleted INTEGER NOT NULL, -- 1 when the current version is a tombstone
		PRIMARY KEY (type, id)
	) WITHOUT ROWID`,

	// Token index entries of current, non-deleted versions only: a write replaces the entries
	// of its resource, a delete removes them, so search never has to filter out superseded or
	// deleted versions. The primary key serves that replacement. The two indexes drive
	// searches (by code, with or without system, and by system alone) and put id right after
	// the equality columns, so matches come out in id order, the order of search results, and
	// a page reads only as many rows as it returns; the remaining primary-key columns are
	// appended by SQLite, which makes both indexes covering.
	`CREATE TABLE tokens (
		type   TEXT NOT NULL,
		id     TEXT NOT NULL,
		param  TEXT NOT NULL,
		system TEXT NOT NULL, -- '' when the value has no system
		code   TEXT NOT NULL,
		PRIMARY KEY (type, id, param, system, code)
	) WITHOUT ROWID`,
	`CREATE INDEX tokens_by_code ON tokens (type, param, code, id)`,
	`CREATE INDEX tokens_by_system ON tokens (type, param, system, id)`,

	fmt.Sprintf("PRAGMA user_version = %d", schemaVersion),
}

// migrate creates the schema in an empty database and checks the version of an existing one.
func migrate(ctx context.Context, db *sql.DB) error {
	var v int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("sqlite: read schema version: %w", err)
	}
	switch {
	case v == schemaVersion:
		return nil
	case v > schemaVersion:
		return fmt.Errorf("sqlite: database schema version %d is newer than this Portico's %d", v, schemaVersion)
	case v != 0:
		return fmt.Errorf("sqlite: database schema version %d has no migration", v)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: create schema: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	for _, stmt := range schema {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("sqlite: create schema: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: create schema: %w", err)
	}
	return nil
}
