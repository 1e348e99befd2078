package sqlite

import (
	"context"
	"database/sql"

	"github.com/portico-health/portico/store"
	"github.com/portico-health/portico/store/lanes"
)

// searchPools are the connections searches and history pages run on, scheduled by
// store/lanes.
//
// Two pools: the read pool (Config.ReadConns, the cores by default, where short searches run
// fastest: more connections than cores cost ~15% of the searches per second,
// BenchmarkSearchParallel) is the lanes' main pool, and an overflow pool of as many again
// their overflow pool (BenchmarkReadsBesideCostlySearches; reads by id have their own pool).
// A slot of a lane is a connection of its pool, so a search that holds one finds a connection
// at once for each of its statements. The server's own searches (store.Internal: a token's
// user still allowed to act, a user's patients) run on the pool of reads by id, behind no
// client's search.
type searchPools struct {
	lanes                    *lanes.Lanes
	main, overflow, internal *stmtCache
}

func newSearchPools(main, overflow, internal *sql.DB, mainConns, overflowConns int) *searchPools {
	return &searchPools{lanes: lanes.New(mainConns, overflowConns),
		main: newStmtCache(main), overflow: newStmtCache(overflow), internal: newStmtCache(internal)}
}

func noRelease() {}

// acquire returns the statements of the pool a search runs on, the context to run it with
// (stopped, with cause store.ErrYielded, if it must yield) and the release of its slot.
func (p *searchPools) acquire(ctx context.Context) (*stmtCache, context.Context, func(), error) {
	if store.IsInternal(ctx) {
		return p.internal, ctx, noRelease, nil
	}
	pool, runCtx, release, err := p.lanes.Acquire(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	if pool == lanes.Overflow {
		return p.overflow, runCtx, release, nil
	}
	return p.main, runCtx, release, nil
}

func (p *searchPools) close() {
	p.main.close()
	p.overflow.close()
	p.internal.close()
}
