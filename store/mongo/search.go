package mongo

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/portico-health/portico/store"
)

// recordProjection is what a search returns of a resources document: no index entries.
var recordProjection = bson.D{{Key: "t", Value: 1}, {Key: "i", Value: 1}, {Key: "v", Value: 1},
	{Key: "lu", Value: 1}, {Key: "op", Value: 1}, {Key: "b", Value: 1}, {Key: "del", Value: 1}}

// matchAny returns up to limit current resources matching q (conditional create).
func (s *Store) matchAny(ctx context.Context, q store.Query, limit int) ([]store.Record, error) {
	f, err := s.compile(ctx, q.Types, q.Where)
	if err != nil {
		return nil, err
	}
	cur, err := s.res.Find(ctx, f, options.Find().SetProjection(recordProjection).
		SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, err
	}
	return decodeRecords(ctx, cur)
}

func decodeRecords(ctx context.Context, cur *mongo.Cursor) ([]store.Record, error) {
	var docs []resDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, err
	}
	out := make([]store.Record, len(docs))
	for i, d := range docs {
		out[i] = d.record()
	}
	return out, nil
}

// searchCursor is the keyset position after the last record of a page: the values of the
// sort fields (_s0, _s1, ...) and the _id that breaks ties.
type searchCursor struct {
	Keys []cursorKey `json:"k,omitempty"`
	ID   string      `json:"id"`
}

// cursorKey is one sort value: a string, a time (ms), or missing.
type cursorKey struct {
	S  *string `json:"s,omitempty"`
	MS *int64  `json:"t,omitempty"`
}

func (k cursorKey) value(asc bool) any {
	switch {
	case k.S != nil:
		return *k.S
	case k.MS != nil:
		return time.UnixMilli(*k.MS).UTC()
	case asc:
		return true // missing keys are true ascending (booleans sort after strings)...
	}
	return nil // ...and null descending (null sorts before strings)
}

const searchCursorPrefix = "s"

func encodeSearchCursor(c searchCursor) string {
	b, _ := json.Marshal(c)
	return searchCursorPrefix + base64.RawURLEncoding.EncodeToString(b)
}

func decodeSearchCursor(s string, nkeys int) (searchCursor, error) {
	var c searchCursor
	if len(s) < 2 || s[:1] != searchCursorPrefix {
		return c, store.ErrInvalidCursor
	}
	b, err := base64.RawURLEncoding.DecodeString(s[1:])
	if err != nil || json.Unmarshal(b, &c) != nil || len(c.Keys) != nkeys || c.ID == "" {
		return c, store.ErrInvalidCursor
	}
	return c, nil
}

// sortField is one _sort key as a computed field of the aggregation.
type sortField struct {
	name   string // _s0, _s1, ...
	asc    bool
	expr   any
	column bool // _id or _lastUpdated: always present
}

func sortFields(sorts []store.Sort) []sortField {
	out := make([]sortField, len(sorts))
	for j, so := range sorts {
		f := sortField{name: fmt.Sprintf("_s%d", j), asc: !so.Desc}
		switch so.Param {
		case "_id":
			f.expr, f.column = "$i", true
		case "_lastUpdated":
			f.expr, f.column = "$lu", true
		default:
			if f.asc {
				f.expr = bson.D{{Key: "$ifNull", Value: bson.A{"$sk." + fieldName(so.Param) + ".lo", true}}}
			} else {
				f.expr = bson.D{{Key: "$ifNull", Value: bson.A{"$sk." + fieldName(so.Param) + ".hi", nil}}}
			}
		}
		out[j] = f
	}
	return out
}

// after is the keyset condition "strictly after the cursor" for the sort fields then _id.
func after(fields []sortField, c searchCursor) bson.D {
	var alts bson.A
	eq := bson.D{}
	for j, f := range fields {
		v := c.Keys[j].value(f.asc)
		op := "$gt"
		if !f.asc {
			op = "$lt"
		}
		var beyond []bson.D
		switch {
		case v == true || v == nil:
			// missing keys come last in both directions: nothing is beyond them
		default:
			beyond = append(beyond, append(clone(eq), bson.E{Key: f.name, Value: bson.D{{Key: op, Value: v}}}))
			if !f.column {
				missing := any(true)
				if !f.asc {
					missing = nil
				}
				beyond = append(beyond, append(clone(eq), bson.E{Key: f.name, Value: missing}))
			}
		}
		for _, b := range beyond {
			alts = append(alts, b)
		}
		eq = append(eq, bson.E{Key: f.name, Value: v})
	}
	alts = append(alts, append(clone(eq), bson.E{Key: "_id", Value: bson.D{{Key: "$gt", Value: c.ID}}}))
	return bson.D{{Key: "$or", Value: alts}}
}

func clone(d bson.D) bson.D { return append(bson.D{}, d...) }

// Search returns a page of current resources matching q.
func (s *Store) Search(ctx context.Context, q store.Query) (store.Page, error) {
	if err := s.enter(ctx); err != nil {
		return store.Page{}, err
	}
	defer s.leave()
	run, done, err := s.searchSlot(ctx)
	if err != nil {
		return store.Page{}, err
	}
	page, err := s.search(run, q)
	if err = done(err); err != nil {
		return store.Page{}, err
	}
	return page, nil
}

func (s *Store) search(ctx context.Context, q store.Query) (store.Page, error) {
	count := q.Count
	if count <= 0 {
		count = 10
	}
	fields := sortFields(q.Sort)
	var cur *searchCursor
	if q.Cursor != "" {
		c, err := decodeSearchCursor(q.Cursor, len(fields))
		if err != nil {
			return store.Page{}, err
		}
		cur = &c
	}
	filter, err := s.compile(ctx, q.Types, q.Where)
	if err != nil {
		return store.Page{}, err
	}
	page := store.Page{Total: -1}
	if q.Total {
		n, err := s.res.CountDocuments(ctx, filter)
		if err != nil {
			return store.Page{}, err
		}
		page.Total = int(n)
	}

	if len(fields) == 0 {
		// The default order: a find on _id, which every server serves from the _id index.
		f := filter
		if cur != nil {
			f = bson.D{{Key: "$and", Value: bson.A{filter, bson.D{{Key: "_id", Value: bson.D{{Key: "$gt", Value: cur.ID}}}}}}}
		}
		c, err := s.res.Find(ctx, f, options.Find().SetProjection(recordProjection).
			SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(count+1)))
		if err != nil {
			return store.Page{}, err
		}
		return s.pageOf(ctx, c, page, count, fields, q.MaxBytes)
	}
	pipeline := mongo.Pipeline{{{Key: "$match", Value: filter}}}
	sortSpec := bson.D{}
	if len(fields) > 0 {
		add := bson.D{}
		for _, f := range fields {
			add = append(add, bson.E{Key: f.name, Value: f.expr})
			dir := 1
			if !f.asc {
				dir = -1
			}
			sortSpec = append(sortSpec, bson.E{Key: f.name, Value: dir})
		}
		pipeline = append(pipeline, bson.D{{Key: "$project", Value: append(clone(recordProjection), add...)}})
	}
	sortSpec = append(sortSpec, bson.E{Key: "_id", Value: 1})
	if cur != nil {
		pipeline = append(pipeline, bson.D{{Key: "$match", Value: after(fields, *cur)}})
	}
	pipeline = append(pipeline,
		bson.D{{Key: "$sort", Value: sortSpec}},
		bson.D{{Key: "$limit", Value: count + 1}})
	c, err := s.res.Aggregate(ctx, pipeline, options.Aggregate().SetAllowDiskUse(true))
	if err != nil {
		return store.Page{}, err
	}
	return s.pageOf(ctx, c, page, count, fields, q.MaxBytes)
}

// pageOf reads up to count records of a page, and the cursor of the next when there is one
// more; with budget > 0 the page also ends before the record whose body would pass budget
// bytes (after one record at least).
func (s *Store) pageOf(ctx context.Context, c *mongo.Cursor, page store.Page, count int, fields []sortField, budget int) (store.Page, error) {
	defer c.Close(context.WithoutCancel(ctx))
	used := 0
	var last bson.Raw
	for i := 0; c.Next(ctx); i++ {
		if i == count {
			page.Next = encodeSearchCursor(cursorOf(last, fields))
			return page, nil
		}
		raw := append(bson.Raw(nil), c.Current...) // Current is reused by the next Next
		var d resDoc
		if err := bson.Unmarshal(raw, &d); err != nil {
			return store.Page{}, err
		}
		rec := d.record()
		if budget > 0 && len(page.Records) > 0 && used+len(rec.Body) > budget {
			page.Next = encodeSearchCursor(cursorOf(last, fields))
			return page, nil
		}
		used += len(rec.Body)
		last = raw
		page.Records = append(page.Records, rec)
	}
	return page, c.Err()
}

// cursorOf reads the sort values and _id of a page's last document.
func cursorOf(raw bson.Raw, fields []sortField) searchCursor {
	c := searchCursor{}
	if v, ok := raw.Lookup("_id").StringValueOK(); ok {
		c.ID = v
	}
	for _, f := range fields {
		var k cursorKey
		v := raw.Lookup(f.name)
		switch v.Type {
		case bson.TypeString:
			s := v.StringValue()
			k.S = &s
		case bson.TypeDateTime:
			ms := v.DateTime()
			k.MS = &ms
		}
		c.Keys = append(c.Keys, k)
	}
	return c
}
