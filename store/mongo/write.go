package mongo

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readconcern"

	"github.com/portico-health/portico/store"
)

// versionDoc is one document of the versions collection: one version of one resource.
type versionDoc struct {
	T   string     `bson:"t"`
	I   string     `bson:"i"`
	V   int64      `bson:"v"`
	LU  time.Time  `bson:"lu"`
	Op  int32      `bson:"op"`
	B   []byte     `bson:"b"`             // the stored JSON, byte for byte; null for a tombstone
	Seq int64      `bson:"seq"`           // commit order: history ties and cursor snapshots
	NLU *time.Time `bson:"nlu,omitempty"` // the successor's lastUpdated (history _at)
}

// resDoc is the part of a resources document that reads decode.
type resDoc struct {
	T   string    `bson:"t"`
	I   string    `bson:"i"`
	V   int64     `bson:"v"`
	LU  time.Time `bson:"lu"`
	Op  int32     `bson:"op"`
	B   []byte    `bson:"b"`
	Del bool      `bson:"del"`
}

func (d resDoc) record() store.Record {
	return store.Record{Type: d.T, ID: d.I, Version: d.V, LastUpdated: d.LU.UTC(), Op: store.Op(d.Op), Body: nilIfTombstone(store.Op(d.Op), d.B)}
}

func (d versionDoc) record() store.Record {
	return store.Record{Type: d.T, ID: d.I, Version: d.V, LastUpdated: d.LU.UTC(), Op: store.Op(d.Op), Body: nilIfTombstone(store.Op(d.Op), d.B)}
}

func nilIfTombstone(op store.Op, b []byte) []byte {
	if op == store.OpDelete {
		return nil
	}
	if b == nil {
		return []byte{}
	}
	return b
}

// resID is the _id of a resources document: "Type/id". Type names are letters only and '/'
// sorts below every letter and digit, so _id order is (type, id) order.
func resID(typ, id string) string { return typ + "/" + id }

// Read returns the current version of a resource.
func (s *Store) Read(ctx context.Context, typ, id string) (store.Record, error) {
	if err := s.enter(ctx); err != nil {
		return store.Record{}, err
	}
	defer s.leave()
	var d resDoc
	err := s.res.FindOne(ctx, bson.D{{Key: "_id", Value: resID(typ, id)}},
		options.FindOne().SetProjection(bson.D{{Key: "x", Value: 0}, {Key: "sk", Value: 0}})).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return store.Record{}, store.ErrNotFound
	}
	if err != nil {
		return store.Record{}, s.mapErr(ctx, err)
	}
	r := d.record()
	if r.Deleted() {
		return r, store.ErrGone
	}
	return r, nil
}

// VRead returns one version of a resource.
func (s *Store) VRead(ctx context.Context, typ, id string, version int64) (store.Record, error) {
	if err := s.enter(ctx); err != nil {
		return store.Record{}, err
	}
	defer s.leave()
	var d versionDoc
	err := s.versions.FindOne(ctx, bson.D{{Key: "t", Value: typ}, {Key: "i", Value: id}, {Key: "v", Value: version}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return store.Record{}, store.ErrNotFound
	}
	if err != nil {
		return store.Record{}, s.mapErr(ctx, err)
	}
	r := d.record()
	if r.Deleted() {
		return r, store.ErrGone
	}
	return r, nil
}

// Write applies writes. With transactions every call is one multi-document transaction; on a
// standalone server a single write follows the ordered protocol of docs/mongodb.md and several
// writes are refused with store.ErrNoTransactions.
func (s *Store) Write(ctx context.Context, writes ...store.Write) error {
	if len(writes) == 0 {
		return nil
	}
	if err := s.enter(ctx); err != nil {
		return err
	}
	defer s.leave()
	if len(writes) > 1 && !s.txn {
		return store.ErrNoTransactions
	}
	prepared := make([]prepared, len(writes))
	for i, w := range writes {
		p, err := prepare(w)
		if err != nil {
			return err
		}
		prepared[i] = p
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	first, err := s.nextSeq(ctx, int64(len(writes)))
	if err != nil {
		return s.mapErr(ctx, err)
	}
	for i := range prepared {
		prepared[i].ver.Seq = first + int64(i)
	}
	if !s.txn {
		return s.mapErr(ctx, s.writeOne(ctx, &prepared[0], false))
	}
	sess, err := s.client.StartSession()
	if err != nil {
		return s.mapErr(ctx, err)
	}
	defer sess.EndSession(context.WithoutCancel(ctx))
	_, err = sess.WithTransaction(ctx, func(sc context.Context) (any, error) {
		for i := range prepared {
			if err := s.writeOne(sc, &prepared[i], true); err != nil {
				return nil, err
			}
		}
		return nil, nil
	}, options.Transaction().SetReadConcern(readconcern.Snapshot()))
	return s.mapErr(ctx, err)
}

// prepared is a write turned into its documents.
type prepared struct {
	w   store.Write
	ver versionDoc
	set bson.D // $set of the resources document
}

func prepare(w store.Write) (prepared, error) {
	if w.Version < 1 {
		return prepared{}, store.ErrVersionConflict
	}
	lu := w.LastUpdated.UTC().Truncate(time.Millisecond)
	body := w.Body
	if w.Op == store.OpDelete {
		body = nil
	} else if body == nil {
		body = []byte{}
	}
	p := prepared{w: w}
	p.ver = versionDoc{T: w.Type, I: w.ID, V: w.Version, LU: lu, Op: int32(w.Op), B: body}
	ms := float64(lu.UnixMilli())
	p.set = bson.D{
		{Key: "t", Value: w.Type}, {Key: "i", Value: w.ID}, {Key: "v", Value: w.Version},
		{Key: "lu", Value: lu}, {Key: "lulo", Value: ms}, {Key: "luhi", Value: ms + 1},
		{Key: "op", Value: int32(w.Op)}, {Key: "del", Value: w.Op == store.OpDelete}, {Key: "b", Value: body},
	}
	if w.Op != store.OpDelete {
		entries, sorts := indexDocs(w.Index)
		p.set = append(p.set, bson.E{Key: "x", Value: entries}, bson.E{Key: "k", Value: matchKeys(w.Index)}, bson.E{Key: "sk", Value: sorts})
	} else {
		p.set = append(p.set, bson.E{Key: "x", Value: bson.A{}}, bson.E{Key: "k", Value: bson.A{}}, bson.E{Key: "sk", Value: bson.D{}})
	}
	raw, err := bson.Marshal(p.set)
	if err != nil {
		return prepared{}, fmt.Errorf("mongo: encode %s/%s: %w", w.Type, w.ID, err)
	}
	if len(raw) > maxDocBytes-4096 {
		return prepared{}, fmt.Errorf("mongo: %s/%s would be a %d-byte document (limit %d): %w",
			w.Type, w.ID, len(raw), maxDocBytes, store.ErrTooLarge)
	}
	return p, nil
}

// nextSeq reserves n consecutive sequence numbers and returns the first.
func (s *Store) nextSeq(ctx context.Context, n int64) (int64, error) {
	var d struct {
		N int64 `bson:"n"`
	}
	err := s.counters.FindOneAndUpdate(ctx, bson.D{{Key: "_id", Value: "seq"}},
		bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: n}}}},
		options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After)).Decode(&d)
	if err != nil {
		return 0, err
	}
	return d.N - n + 1, nil
}

// currentSeq is the highest sequence number reserved so far.
func (s *Store) currentSeq(ctx context.Context) (int64, error) {
	var d struct {
		N int64 `bson:"n"`
	}
	err := s.counters.FindOne(ctx, bson.D{{Key: "_id", Value: "seq"}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, nil
	}
	return d.N, err
}

// writeOne applies one write: the conditional-create check, the current pointer (which is the
// version precondition), the new version and the predecessor's successor time. In a transaction (inTxn)
// all of it commits or aborts together; outside one the order makes each step safe on its own.
func (s *Store) writeOne(ctx context.Context, p *prepared, inTxn bool) error {
	w := p.w
	if w.IfNoneExist != nil {
		release, err := s.conditionLock(ctx, w.IfNoneExist, inTxn)
		if err != nil {
			return err
		}
		defer release()
		limit := w.IfNoneExist.Count
		if limit <= 0 {
			limit = 10
		}
		q := *w.IfNoneExist
		if len(q.Types) == 0 {
			q.Types = []string{w.Type}
		}
		matches, err := s.matchAny(ctx, q, limit)
		if err != nil {
			return err
		}
		if len(matches) > 0 {
			return &store.ExistsError{Matches: matches}
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// The precondition "the latest version is Version-1" is one atomic document operation on
	// the current pointer: a create inserts it (a duplicate _id is a conflict), an update moves
	// it from Version-1 to Version (no match is a conflict).
	id := resID(w.Type, w.ID)
	if w.Version == 1 {
		if _, err := s.res.InsertOne(ctx, append(bson.D{{Key: "_id", Value: id}}, p.set...)); err != nil {
			if mongo.IsDuplicateKeyError(err) {
				return store.ErrVersionConflict
			}
			return err
		}
	} else {
		r, err := s.res.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "v", Value: w.Version - 1}},
			bson.D{{Key: "$set", Value: p.set}})
		if err != nil {
			return err
		}
		if r.MatchedCount == 0 {
			return store.ErrVersionConflict
		}
	}
	// The unique index by_resource is the second guard: a version number is inserted once.
	if _, err := s.versions.InsertOne(ctx, p.ver); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			return store.ErrVersionConflict
		}
		return err
	}
	if w.Version > 1 {
		_, err := s.versions.UpdateOne(ctx,
			bson.D{{Key: "t", Value: w.Type}, {Key: "i", Value: w.ID}, {Key: "v", Value: w.Version - 1}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "nlu", Value: p.ver.LU}}}})
		if err != nil {
			return err
		}
	}
	return nil
}

// conditionKey names a conditional create's query: creates with the same condition contend
// for one document of the locks collection.
func conditionKey(q *store.Query) string {
	b, _ := json.Marshal(struct {
		Types []string
		Where []store.Clause
	}{q.Types, q.Where})
	h := sha256.Sum256(b)
	return "ifnoneexist:" + hex.EncodeToString(h[:])
}

// conditionLock serialises conditional creates with the same condition. In a transaction it
// writes the condition's document, so that two concurrent transactions on one condition
// conflict and one is retried (and then sees the other's resource). Outside one it takes a
// lease on the document (30 s, so that a crashed holder does not block the condition forever).
func (s *Store) conditionLock(ctx context.Context, q *store.Query, inTxn bool) (func(), error) {
	key := conditionKey(q)
	if inTxn {
		_, err := s.locks.UpdateOne(ctx, bson.D{{Key: "_id", Value: key}},
			bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: 1}}}}, options.UpdateOne().SetUpsert(true))
		return func() {}, err
	}
	var tok [12]byte
	_, _ = rand.Read(tok[:])
	owner := base64.RawURLEncoding.EncodeToString(tok[:])
	const lease = 30 * time.Second
	for wait := time.Millisecond; ; wait = min(wait*2, 50*time.Millisecond) {
		now := time.Now()
		_, err := s.locks.InsertOne(ctx, bson.D{{Key: "_id", Value: key}, {Key: "owner", Value: owner}, {Key: "exp", Value: now.Add(lease)}})
		if err == nil {
			break
		}
		if !mongo.IsDuplicateKeyError(err) {
			return nil, err
		}
		// Take over an expired lease.
		res, err := s.locks.UpdateOne(ctx, bson.D{{Key: "_id", Value: key}, {Key: "exp", Value: bson.D{{Key: "$lt", Value: now}}}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "owner", Value: owner}, {Key: "exp", Value: now.Add(lease)}}}})
		if err != nil {
			return nil, err
		}
		if res.ModifiedCount == 1 {
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
	return func() {
		c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_, _ = s.locks.DeleteOne(c, bson.D{{Key: "_id", Value: key}, {Key: "owner", Value: owner}})
	}, nil
}

// fieldName makes a search parameter usable as a field name ('.' and a leading '$' are
// MongoDB path syntax).
func fieldName(param string) string {
	param = strings.ReplaceAll(param, ".", "\uff0e")
	if strings.HasPrefix(param, "$") {
		param = "\uff04" + param[1:]
	}
	return param
}

// indexDocs turns index entries into the embedded entry documents and the sort keys (per
// parameter the smallest and the largest SortKey).
func indexDocs(index []store.IndexEntry) (bson.A, bson.D) {
	entries := bson.A{}
	type minmax struct{ lo, hi string }
	keys := map[string]*minmax{}
	var order []string
	for _, e := range index {
		if e.Kind == store.KindSpecial {
			continue
		}
		d := entryDoc(e)
		entries = append(entries, append(bson.D{{Key: "p", Value: e.Param}}, d...))
		if e.SortKey != "" {
			f := fieldName(e.Param)
			m := keys[f]
			if m == nil {
				m = &minmax{e.SortKey, e.SortKey}
				keys[f] = m
				order = append(order, f)
			}
			m.lo = min(m.lo, e.SortKey)
			m.hi = max(m.hi, e.SortKey)
		}
	}
	sorts := bson.D{}
	for _, f := range order {
		sorts = append(sorts, bson.E{Key: f, Value: bson.D{{Key: "lo", Value: keys[f].lo}, {Key: "hi", Value: keys[f].hi}}})
	}
	return entries, sorts
}

// entryDoc is one index entry's fields (without its parameter), by kind.
func entryDoc(e store.IndexEntry) bson.D {
	switch e.Kind {
	case store.KindToken:
		return bson.D{{Key: "sy", Value: e.System}, {Key: "c", Value: e.Code}, {Key: "tx", Value: e.Text}}
	case store.KindString, store.KindURI:
		return bson.D{{Key: "tx", Value: e.Text}, {Key: "c", Value: e.Code}}
	case store.KindReference:
		return bson.D{{Key: "rt", Value: e.RefType}, {Key: "ri", Value: e.RefID}, {Key: "ru", Value: e.RefURL},
			{Key: "sy", Value: e.System}, {Key: "c", Value: e.Code}}
	case store.KindDate, store.KindNumber, store.KindQuantity:
		return bson.D{{Key: "lo", Value: finite(e.Low)}, {Key: "hi", Value: finite(e.High)}, {Key: "sy", Value: e.System}, {Key: "c", Value: e.Code}}
	case store.KindComposite:
		d := bson.D{}
		for i, c := range e.Components {
			if i >= 2 {
				break
			}
			d = append(d, bson.E{Key: string(rune('a' + i)), Value: componentDoc(c)})
		}
		return d
	}
	return bson.D{{Key: "sy", Value: e.System}, {Key: "c", Value: e.Code}, {Key: "tx", Value: e.Text}}
}

// componentDoc is a composite component: the same fields as an entry, with a reference's
// target also in sy/c/tx so that a component value is matched without knowing its kind.
func componentDoc(c store.IndexEntry) bson.D {
	d := entryDoc(c)
	if c.Kind == store.KindReference {
		d = bson.D{{Key: "sy", Value: c.RefType}, {Key: "c", Value: c.RefID}, {Key: "tx", Value: c.RefURL},
			{Key: "rt", Value: c.RefType}, {Key: "ri", Value: c.RefID}, {Key: "ru", Value: c.RefURL}}
	}
	return d
}

// finite keeps infinities (open ranges) as the largest doubles, which every server compares.
func finite(f float64) float64 {
	switch {
	case math.IsInf(f, 1):
		return math.MaxFloat64
	case math.IsInf(f, -1):
		return -math.MaxFloat64
	}
	return f
}

// Match keys: the equality forms of token and reference entries, and the presence of every
// parameter, as plain strings in one array "k". The common clauses (code, system|code, |code,
// system|, Type/id, bare id, URL, :missing) become {k: {$in: [...]}}: one multikey index serves
// all of them, and servers evaluate them without $elemMatch.
const sep = "\x1f"

func keyParam(p string) string              { return p + sep }
func keyCode(p, code string) string         { return p + sep + "c" + sep + code }
func keySysCode(p, sys, code string) string { return p + sep + "sc" + sep + sys + sep + code }
func keySys(p, sys string) string           { return p + sep + "s" + sep + sys }
func keyRef(p, typ, id string) string       { return p + sep + "r" + sep + typ + "/" + id }
func keyRefID(p, id string) string          { return p + sep + "ri" + sep + id }
func keyRefURL(p, url string) string        { return p + sep + "u" + sep + url }

func matchKeys(index []store.IndexEntry) bson.A {
	seen := map[string]bool{}
	out := bson.A{}
	add := func(k string) {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	for _, e := range index {
		if e.Kind == store.KindSpecial {
			continue
		}
		add(keyParam(e.Param))
		switch e.Kind {
		case store.KindToken:
			add(keyCode(e.Param, e.Code))
			add(keySysCode(e.Param, e.System, e.Code))
			add(keySys(e.Param, e.System))
		case store.KindReference:
			switch {
			case e.RefURL != "":
				add(keyRefURL(e.Param, e.RefURL))
			case e.RefID != "":
				add(keyRef(e.Param, e.RefType, e.RefID))
				add(keyRefID(e.Param, e.RefID))
			}
		}
	}
	return out
}

// Purge removes a resource's current document and all its versions: in one transaction where
// the deployment has them; otherwise the current document first, so that the resource stops
// being readable and searchable before its versions go.
func (s *Store) Purge(ctx context.Context, typ, id string) error {
	if err := s.enter(ctx); err != nil {
		return err
	}
	defer s.leave()
	purge := func(ctx context.Context) error {
		if _, err := s.res.DeleteOne(ctx, bson.D{{Key: "_id", Value: resID(typ, id)}}); err != nil {
			return err
		}
		_, err := s.versions.DeleteMany(ctx, bson.D{{Key: "t", Value: typ}, {Key: "i", Value: id}})
		return err
	}
	if !s.txn {
		return s.mapErr(ctx, purge(ctx))
	}
	sess, err := s.client.StartSession()
	if err != nil {
		return s.mapErr(ctx, err)
	}
	defer sess.EndSession(context.WithoutCancel(ctx))
	_, err = sess.WithTransaction(ctx, func(sc context.Context) (any, error) { return nil, purge(sc) })
	return s.mapErr(ctx, err)
}
