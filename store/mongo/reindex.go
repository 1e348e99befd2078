package mongo

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/portico-health/portico/store"
)

// Reindex implements store.Reindexer: one update of the resource's document, matched on its
// version, so that a write since then is never overwritten.
func (s *Store) Reindex(ctx context.Context, typ, id string, version int64, index []store.IndexEntry) error {
	if err := s.enter(ctx); err != nil {
		return err
	}
	defer s.leave()
	entries, sorts := indexDocs(index)
	set := bson.D{{Key: "x", Value: entries}, {Key: "k", Value: matchKeys(index)}, {Key: "sk", Value: sorts}}
	res, err := s.res.UpdateOne(ctx,
		bson.D{{Key: "_id", Value: resID(typ, id)}, {Key: "v", Value: version}, {Key: "del", Value: false}},
		bson.D{{Key: "$set", Value: set}})
	if err != nil {
		return s.mapErr(ctx, err)
	}
	if res.MatchedCount == 0 {
		return fmt.Errorf("mongo: reindex %s/%s: version %d is no longer current: %w", typ, id, version, store.ErrVersionConflict)
	}
	return nil
}
