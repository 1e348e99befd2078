package server

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/store"
	"github.com/portico-health/portico/store/derived"
)

// ReindexStats counts what Reindex did.
type ReindexStats struct {
	Reindexed int `json:"reindexed"` // current versions whose index was rewritten
	Skipped   int `json:"skipped"`   // written again while the command ran: the write indexed them
	Failed    int `json:"failed"`    // bodies this build cannot parse or index (left as they were)
}

// reindexWorkers run at once: the embedded store commits their calls together (group commit).
const reindexWorkers = 8

// Reindex rewrites the search index of every current FHIR resource of st (a backend, as
// OpenStore opens it) from its body, as this build indexes a write (fhir.ExtractIndexBase with
// the server's base URL, without derived parameters): after an upgrade that changed how
// something is indexed (a reference's spellings, a search parameter), data written before
// answers searches, and access decisions that ask the index, as new data does. No version is
// written; a resource written meanwhile is skipped, its write having indexed it. The server may
// keep running.
func Reindex(ctx context.Context, st store.Store, baseURL string) (ReindexStats, error) {
	var stats ReindexStats
	rx, ok := st.(store.Reindexer)
	if !ok {
		return stats, errors.New("this store cannot rewrite its index")
	}
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	recs := make(chan store.Record)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range reindexWorkers {
		wg.Go(func() {
			for rec := range recs {
				outcome, err := reindexOne(ctx, rx, rec, baseURL)
				mu.Lock()
				switch {
				case err != nil:
					if firstErr == nil {
						firstErr = err
						cancel()
					}
				case outcome == reindexed:
					stats.Reindexed++
				case outcome == skipped:
					stats.Skipped++
				default:
					stats.Failed++
				}
				mu.Unlock()
			}
		})
	}
	q := store.Query{Count: 500}
	var err error
	for err == nil {
		var page store.Page
		if page, err = st.Search(ctx, q); err != nil {
			break
		}
		for _, rec := range page.Records {
			if !fhir.IsResourceType(rec.Type) {
				continue // the authorization server's records index themselves
			}
			select {
			case recs <- rec:
			case <-ctx.Done():
			}
		}
		if page.Next == "" || ctx.Err() != nil {
			break
		}
		q.Cursor = page.Next
	}
	close(recs)
	wg.Wait()
	if firstErr != nil {
		return stats, firstErr
	}
	if err == nil {
		err = ctx.Err()
	}
	return stats, err
}

type reindexOutcome int

const (
	reindexed reindexOutcome = iota
	skipped
	unindexable
)

func reindexOne(ctx context.Context, rx store.Reindexer, rec store.Record, baseURL string) (reindexOutcome, error) {
	res, err := fhir.ParseResource(rec.Body)
	if err != nil {
		return unindexable, nil
	}
	index, err := fhir.ExtractIndexBase(res, baseURL)
	if err != nil {
		return unindexable, nil
	}
	index, _ = derived.StoredIndex(rec.Type, index)
	switch err := rx.Reindex(ctx, rec.Type, rec.ID, rec.Version, index); {
	case errors.Is(err, store.ErrVersionConflict):
		return skipped, nil
	case err != nil:
		return 0, fmt.Errorf("%s/%s: %w", rec.Type, rec.ID, err)
	}
	return reindexed, nil
}
