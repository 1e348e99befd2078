package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// RawSearcher runs the two searches a patient app lives on as hand-written SQL on an existing
// store's database, with none of the store's logic (no query compiler, no planner queries, no
// cursor, no Record): the physical ceiling a load tool prints beside Portico's search over
// HTTP. The SQL is the best plan for the schema: drive from the patient's reference rows,
// probe the other clause by primary key, take the sort key from the sorts primary key, and
// read bodies for the page only.
type RawSearcher struct {
	db       *sql.DB
	obs, com *sql.Stmt
}

// rawObservationsSQL: Observation?patient=Patient/?1&code=?2|?3&_sort=-date&_count=?4.
const rawObservationsSQL = `SELECT v.body FROM (
	SELECT p.rid AS rid, coalesce(s.hi, '') AS k FROM refs p
	JOIN tokens c ON c.rid = p.rid AND c.param = 'code' AND c.system = ?2 AND c.code = ?3
	LEFT JOIN sorts s ON s.rid = p.rid AND s.param = 'date'
	WHERE p.type = 'Observation' AND p.param = 'patient' AND p.ref_id = ?1 AND p.ref_type = 'Patient'
	ORDER BY k DESC, p.rid DESC LIMIT ?4) m
JOIN resources r ON r.rid = m.rid JOIN versions v ON v.seq = r.seq
ORDER BY m.k DESC, m.rid DESC`

// rawCommunicationsSQL: Communication?recipient=Patient/?1&status=?2&_sort=priority,sent&_count=?3.
const rawCommunicationsSQL = `SELECT v.body FROM (
	SELECT p.rid AS rid, coalesce(sp.lo, x'') AS k1, coalesce(ss.lo, x'') AS k2 FROM refs p
	JOIN tokens st ON st.rid = p.rid AND st.param = 'status' AND st.code = ?2
	LEFT JOIN sorts sp ON sp.rid = p.rid AND sp.param = 'priority'
	LEFT JOIN sorts ss ON ss.rid = p.rid AND ss.param = 'sent'
	WHERE p.type = 'Communication' AND p.param = 'recipient' AND p.ref_id = ?1 AND p.ref_type = 'Patient'
	ORDER BY k1, k2, p.rid LIMIT ?3) m
JOIN resources r ON r.rid = m.rid JOIN versions v ON v.seq = r.seq
ORDER BY m.k1, m.k2, m.rid`

// OpenRawSearcher opens a pool of conns read-only connections (0: GOMAXPROCS) to the database
// of an existing store in dir, configured as the store's readers.
func OpenRawSearcher(ctx context.Context, dir string, conns int) (*RawSearcher, error) {
	path := filepath.Join(dir, DatabaseFile)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("sqlite: raw searcher: %w", err)
	}
	if conns <= 0 {
		conns = runtime.GOMAXPROCS(0)
	}
	r := &RawSearcher{db: openPool(path, readerPragmas, conns)}
	var err error
	if r.obs, err = r.db.PrepareContext(ctx, rawObservationsSQL); err == nil {
		r.com, err = r.db.PrepareContext(ctx, rawCommunicationsSQL)
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("sqlite: raw searcher: %w", err), r.db.Close())
	}
	return r, nil
}

// Observations returns the bodies of patient's latest count Observations with code
// system|code, newest first.
func (r *RawSearcher) Observations(ctx context.Context, patientID, system, code string, count int) ([][]byte, error) {
	return bodies(r.obs.QueryContext(ctx, patientID, system, code, count))
}

// Communications returns the bodies of the first count Communications to patient with status,
// in clinical priority then sent order.
func (r *RawSearcher) Communications(ctx context.Context, patientID, status string, count int) ([][]byte, error) {
	return bodies(r.com.QueryContext(ctx, patientID, status, count))
}

// Close closes the pool.
func (r *RawSearcher) Close() error { return r.db.Close() }

func bodies(rows *sql.Rows, err error) ([][]byte, error) {
	if err != nil {
		return nil, fmt.Errorf("sqlite: raw search: %w", err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, fmt.Errorf("sqlite: raw search: %w", err)
		}
		out = append(out, b)
	}
	return out, rows.Err()
}
