package mongo

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// CountWriteChecks counts the documents of the write check's collection.
func (s *Store) CountWriteChecks(ctx context.Context) (int64, error) {
	return s.checks.CountDocuments(ctx, bson.D{})
}

// HoldSearchSlots takes n slots of the main pool and m of the overflow pool, as client
// searches in flight would; release gives them back.
func (s *Store) HoldSearchSlots(n, m int) (release func()) { return s.lanes.Hold(n, m) }
