package mongo

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/portico-health/portico/store"
)

// historyCursor is the position after a page's last version (its lastUpdated and seq) and the
// snapshot: the highest seq reserved when the first page was read.
type historyCursor struct {
	LU   int64 `json:"lu"`
	Seq  int64 `json:"seq"`
	Snap int64 `json:"snap"`
}

const historyCursorPrefix = "h"

// History lists versions newest first (lastUpdated, then seq), exact under concurrent writes:
// a cursor never lists a version whose seq is above its snapshot.
func (s *Store) History(ctx context.Context, q store.HistoryQuery) (store.Page, error) {
	if err := s.enter(ctx); err != nil {
		return store.Page{}, err
	}
	defer s.leave()
	run, done, err := s.searchSlot(ctx)
	if err != nil {
		return store.Page{}, err
	}
	page, err := s.history(run, q)
	if err = done(err); err != nil {
		return store.Page{}, err
	}
	return page, nil
}

func (s *Store) history(ctx context.Context, q store.HistoryQuery) (store.Page, error) {
	count := q.Count
	if count <= 0 {
		count = 10
	}
	var c historyCursor
	if q.Cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(q.Cursor[min(1, len(q.Cursor)):])
		if q.Cursor[:1] != historyCursorPrefix || err != nil || json.Unmarshal(b, &c) != nil || c.Seq <= 0 {
			return store.Page{}, store.ErrInvalidCursor
		}
	} else {
		snap, err := s.currentSeq(ctx)
		if err != nil {
			return store.Page{}, err
		}
		c.Snap = snap
	}
	f := bson.D{}
	if q.Type != "" {
		f = append(f, bson.E{Key: "t", Value: q.Type})
		if q.ID != "" {
			f = append(f, bson.E{Key: "i", Value: q.ID})
		}
	}
	f = append(f, bson.E{Key: "seq", Value: bson.D{{Key: "$lte", Value: c.Snap}}})
	var and bson.A
	if !q.Since.IsZero() {
		and = append(and, bson.D{{Key: "lu", Value: bson.D{{Key: "$gte", Value: q.Since.UTC()}}}})
	}
	if !q.At.IsZero() {
		at := q.At.UTC()
		and = append(and, bson.D{{Key: "lu", Value: bson.D{{Key: "$lte", Value: at}}}},
			bson.D{{Key: "$or", Value: bson.A{
				bson.D{{Key: "nlu", Value: bson.D{{Key: "$exists", Value: false}}}},
				bson.D{{Key: "nlu", Value: bson.D{{Key: "$gt", Value: at}}}},
			}}})
	}
	if q.Cursor != "" {
		lu := time.UnixMilli(c.LU).UTC()
		and = append(and, bson.D{{Key: "$or", Value: bson.A{
			bson.D{{Key: "lu", Value: bson.D{{Key: "$lt", Value: lu}}}},
			bson.D{{Key: "lu", Value: lu}, {Key: "seq", Value: bson.D{{Key: "$lt", Value: c.Seq}}}},
		}}})
	}
	if len(and) > 0 {
		f = append(f, bson.E{Key: "$and", Value: and})
	}
	cur, err := s.versions.Find(ctx, f, options.Find().
		SetSort(bson.D{{Key: "lu", Value: -1}, {Key: "seq", Value: -1}}).
		SetLimit(int64(count+1)))
	if err != nil {
		return store.Page{}, err
	}
	var docs []versionDoc
	if err := cur.All(ctx, &docs); err != nil {
		return store.Page{}, err
	}
	page := store.Page{Total: -1}
	for i, d := range docs {
		if i == count {
			last := docs[count-1]
			b, _ := json.Marshal(historyCursor{LU: last.LU.UnixMilli(), Seq: last.Seq, Snap: c.Snap})
			page.Next = historyCursorPrefix + base64.RawURLEncoding.EncodeToString(b)
			break
		}
		page.Records = append(page.Records, d.record())
	}
	return page, nil
}
