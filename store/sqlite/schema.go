package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"time"
)

// schemaVersion is stored in PRAGMA user_version; Open refuses a file written by a newer
// schema rather than misreading it. Version 2 added the search index of every parameter kind
// and keys index rows by the resource's rid; a version-1 file has no migration. Version 3
// (fewer index insertions per write: docs/store.md, "Write cost") dropped tokens_by_system and
// made the sort walk indexes partial; migrateV2 upgrades a version-2 file in place. Version 4
// put ref_id before param in refs_by_target (migrateV3 rebuilds that index). Version 5 keeps
// no sort row for a token sorted by its codes (apply.go, sortKeys; migrateV4 deletes them).
const schemaVersion = 5

// SchemaVersion is the version of the database schema this build writes, for tools that keep
// databases between runs.
const SchemaVersion = schemaVersion

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
	// precondition of every write, and the columns of _id and _lastUpdated. rid is the
	// resource's compact key in every search table: assigned at creation, never changed.
	`CREATE TABLE resources (
		rid          INTEGER PRIMARY KEY,
		type         TEXT    NOT NULL,
		id           TEXT    NOT NULL,
		version      INTEGER NOT NULL,
		seq          INTEGER NOT NULL, -- versions.seq of the current version
		deleted      INTEGER NOT NULL, -- 1 when the current version is a tombstone
		last_updated INTEGER NOT NULL  -- of the current version, Unix nanoseconds
	)`,
	`CREATE UNIQUE INDEX resources_by_id ON resources (type, id)`,
	`CREATE INDEX resources_by_updated ON resources (type, last_updated)`,

	// Search index rows of current, non-deleted versions only, keyed by rid: a write replaces
	// the rows of its resource, a delete removes them. Each table's primary key starts with
	// (rid, param): the probe of a clause on one candidate and the replacement on write. The
	// secondary indexes start with (type, param, value) and drive a search from a clause.
	`CREATE TABLE tokens (
		rid    INTEGER NOT NULL,
		type   TEXT    NOT NULL,
		param  TEXT    NOT NULL,
		system TEXT    NOT NULL, -- '' when the value has no system
		code   TEXT    NOT NULL,
		text   TEXT    NOT NULL, -- normalised display/text, for :text
		PRIMARY KEY (rid, param, system, code)
	) WITHOUT ROWID`,
	// No index by (type, param, system): a system| value alone does not drive a search (it is
	// probed), which saves one b-tree insertion per token row.
	`CREATE INDEX tokens_by_code ON tokens (type, param, code)`,

	`CREATE TABLE strings (
		rid   INTEGER NOT NULL,
		type  TEXT    NOT NULL,
		param TEXT    NOT NULL,
		text  TEXT    NOT NULL, -- normalised: default (starts-with) and :contains
		code  TEXT    NOT NULL, -- as written: :exact
		PRIMARY KEY (rid, param, text, code)
	) WITHOUT ROWID`,
	`CREATE INDEX strings_by_text ON strings (type, param, text)`,

	`CREATE TABLE refs (
		rid      INTEGER NOT NULL,
		type     TEXT    NOT NULL,
		param    TEXT    NOT NULL,
		ref_type TEXT    NOT NULL,
		ref_id   TEXT    NOT NULL,
		ref_url  TEXT    NOT NULL,
		system   TEXT    NOT NULL, -- Reference.identifier, for :identifier
		code     TEXT    NOT NULL,
		PRIMARY KEY (rid, param, ref_type, ref_id, ref_url, system, code)
	) WITHOUT ROWID`,
	// ref_id before param: the entries of one resource that point at the same target (an
	// Observation's subject and patient) are neighbours, so a create dirties one random leaf
	// for them, not two. Every search that uses the index knows the target id.
	refsByTarget,
	`CREATE INDEX refs_by_url ON refs (type, param, ref_url) WHERE ref_url != ''`,
	`CREATE INDEX refs_by_identifier ON refs (type, param, code) WHERE code != ''`,

	// Dates, numbers and quantities: the value's range [lo, hi); system/code the quantity's
	// unit. lo drives eq, lt, le, sa, ap; hi drives gt, ge, eb.
	`CREATE TABLE ranges (
		rid    INTEGER NOT NULL,
		type   TEXT    NOT NULL,
		param  TEXT    NOT NULL,
		lo     REAL    NOT NULL,
		hi     REAL    NOT NULL,
		system TEXT    NOT NULL,
		code   TEXT    NOT NULL,
		PRIMARY KEY (rid, param, lo, hi, system, code)
	) WITHOUT ROWID`,
	`CREATE INDEX ranges_by_lo ON ranges (type, param, lo)`,
	`CREATE INDEX ranges_by_hi ON ranges (type, param, hi)`,

	`CREATE TABLE uris (
		rid   INTEGER NOT NULL,
		type  TEXT    NOT NULL,
		param TEXT    NOT NULL,
		uri   TEXT    NOT NULL,
		PRIMARY KEY (rid, param, uri)
	) WITHOUT ROWID`,
	`CREATE INDEX uris_by_uri ON uris (type, param, uri)`,

	// Composite entries: one row per entry, its first two components flattened into the a_
	// and b_ columns (every R4 composite has two). A component fills the columns of its kind:
	// token system/code/text, string text/code, uri text, reference system=type code=id
	// text=url, date/number lo/hi, quantity lo/hi and system/code of the unit.
	`CREATE TABLE composites (
		rid      INTEGER NOT NULL,
		type     TEXT    NOT NULL,
		param    TEXT    NOT NULL,
		a_system TEXT NOT NULL, a_code TEXT NOT NULL, a_text TEXT NOT NULL, a_lo REAL, a_hi REAL,
		b_system TEXT NOT NULL, b_code TEXT NOT NULL, b_text TEXT NOT NULL, b_lo REAL, b_hi REAL
	)`,
	`CREATE INDEX composites_by_rid ON composites (rid, param)`,
	`CREATE INDEX composites_by_code ON composites (type, param, a_code)`,

	// Sort keys: per resource and parameter the smallest (lo) and largest (hi) SortKey of its
	// entries. The primary key serves the sort of a driven search (a lookup per candidate) and
	// costs a create one append, rid being new. Ascending _sort walks sorts_by_lo, descending
	// sorts_by_hi; both are partial: walk is 0 for the parameters nobody walks in order
	// (references, uris, identifier: high-cardinality keys, each a random page per insert),
	// and sorts_unwalked (appended to, like the primary key) tells a search that a parameter
	// has such rows, so that it sorts its matches instead of walking (walkable in search.go).
	`CREATE TABLE sorts (
		rid   INTEGER NOT NULL,
		type  TEXT    NOT NULL,
		param TEXT    NOT NULL,
		lo    TEXT    NOT NULL,
		hi    TEXT    NOT NULL,
		walk  INTEGER NOT NULL DEFAULT 1,
		PRIMARY KEY (rid, param)
	) WITHOUT ROWID`,
	sortIndexes[0], sortIndexes[1], sortIndexes[2],

	fmt.Sprintf("PRAGMA application_id = %d", applicationID),
	fmt.Sprintf("PRAGMA user_version = %d", schemaVersion),
}

// writeCheckTable holds the one row that Store.CheckWrite rewrites to find out whether the
// store can write (for /readyz): no resource, version or history entry. It is not part of the
// versioned schema (an older Portico ignores it), so Open creates it when it is missing.
const writeCheckTable = `CREATE TABLE IF NOT EXISTS write_check (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	at INTEGER NOT NULL -- Unix nanoseconds of the last check
)`

// prepareSchema readies an existing or just created database on the writer's connection: the
// application_id of a file an older Portico wrote (mark), the schema migrations (logged: a
// migrated file no longer opens in the Portico before, docs/operations.md "Upgrades"), and the
// write check's table.
func prepareSchema(ctx context.Context, db *sql.DB, mark bool, log *slog.Logger) error {
	if mark {
		if _, err := db.ExecContext(ctx, fmt.Sprintf("PRAGMA application_id = %d", applicationID)); err != nil {
			return fmt.Errorf("sqlite: mark the database as Portico's: %w", err)
		}
	}
	var from int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&from); err != nil {
		return fmt.Errorf("sqlite: read schema version: %w", err)
	}
	start := time.Now()
	if err := migrate(ctx, db); err != nil {
		return err
	}
	if from != 0 && from != schemaVersion {
		log.Warn("sqlite: migrated the database schema; a Portico older than this one no longer opens it (roll back by restoring the backup taken before the upgrade)",
			"from", from, "to", schemaVersion, "took_ms", time.Since(start).Milliseconds())
	}
	if _, err := db.ExecContext(ctx, writeCheckTable); err != nil {
		return fmt.Errorf("sqlite: create the write check table: %w", err)
	}
	return nil
}

const refsByTarget = `CREATE INDEX refs_by_target ON refs (type, ref_id, param)`

// sortIndexes are the sort walk indexes of schema version 3 (also created by migrateV2).
var sortIndexes = []string{
	`CREATE INDEX sorts_by_lo ON sorts (type, param, lo) WHERE walk = 1`,
	`CREATE INDEX sorts_by_hi ON sorts (type, param, hi) WHERE walk = 1`,
	`CREATE INDEX sorts_unwalked ON sorts (type, param) WHERE walk = 0`,
}

// migrateV2 upgrades a version-2 database to version 3: existing sort rows stay walkable (walk
// defaults to 1), which is correct, only larger than needed; rows written from now on follow
// the new rule.
var migrateV2 = append([]string{
	`ALTER TABLE sorts ADD COLUMN walk INTEGER NOT NULL DEFAULT 1`,
	`DROP INDEX tokens_by_system`,
	`DROP INDEX sorts_by_lo`,
	`DROP INDEX sorts_by_hi`,
}, append(sortIndexes, "PRAGMA user_version = 3")...)

// migrateV3 upgrades a version-3 database to version 4: refs_by_target is rebuilt with its new
// column order (a few seconds per million reference rows, once, at start-up).
var migrateV3 = []string{
	`DROP INDEX refs_by_target`,
	refsByTarget,
	"PRAGMA user_version = 4",
}

// migrateV4 upgrades a version-4 database to version 5: the sort rows of tokens whose keys are
// their smallest and largest codes go (search.go reads those from tokens), and the rows of
// concepts known by their text alone become unwalked, as version 5 writes them. Both are
// needed at once: a walk of the remaining rows would otherwise miss the resources written
// from now on. One pass over the sort rows, each probing the tokens of its resource.
var migrateV4 = []string{
	`DELETE FROM sorts
	 WHERE lo = (SELECT min(t.code) FROM tokens t WHERE t.rid = sorts.rid AND t.param = sorts.param AND t.code != '')
	   AND hi = (SELECT max(t.code) FROM tokens t WHERE t.rid = sorts.rid AND t.param = sorts.param AND t.code != '')`,
	`UPDATE sorts SET walk = 0
	 WHERE walk = 1
	   AND EXISTS (SELECT 1 FROM tokens t WHERE t.rid = sorts.rid AND t.param = sorts.param)
	   AND NOT EXISTS (SELECT 1 FROM tokens t WHERE t.rid = sorts.rid AND t.param = sorts.param AND t.code != '')`,
	"PRAGMA user_version = 5",
}

// indexTables are the tables holding a resource's search rows, all keyed by rid.
var indexTables = []string{"tokens", "strings", "refs", "ranges", "uris", "composites", "sorts"}

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
	case v == 0:
		return run(ctx, db, "create schema", schema)
	case v < 2:
		return fmt.Errorf("sqlite: database schema version %d has no migration", v)
	}
	// Each step is one transaction: a crash between two leaves a valid older version.
	steps := map[int][]string{2: migrateV2, 3: migrateV3, 4: migrateV4}
	for ; v < schemaVersion; v++ {
		if err := run(ctx, db, fmt.Sprintf("migrate schema %d to %d", v, v+1), steps[v]); err != nil {
			return err
		}
	}
	return nil
}

// run executes stmts in one transaction.
func run(ctx context.Context, db *sql.DB, what string, stmts []string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: %s: %w", what, err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	for _, stmt := range stmts {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("sqlite: %s: %w", what, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: %s: %w", what, err)
	}
	return nil
}
