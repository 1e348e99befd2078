package mongo

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// CountWriteChecks counts the documents of the write check's collection.
func (s *Store) CountWriteChecks(ctx context.Context) (int64, error) {
	return s.checks.CountDocuments(ctx, bson.D{})
}
