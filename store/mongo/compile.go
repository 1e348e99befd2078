package mongo

import (
	"context"
	"fmt"
	"regexp"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/portico-health/portico/store"
)

// nothing is a filter that matches no document.
var nothing = bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: bson.A{}}}}}

// compile turns a query's types and clauses into a filter on the resources collection: current,
// non-deleted resources of the types, each clause an $elemMatch on the embedded entries (or a
// condition on the resource's own fields for _id and _lastUpdated). Chains and _has run their
// inner query first and compile to the ids found.
func (s *Store) compile(ctx context.Context, types []string, where []store.Clause) (bson.D, error) {
	and := bson.A{}
	switch len(types) {
	case 0:
	case 1:
		and = append(and, bson.D{{Key: "t", Value: types[0]}})
	default:
		and = append(and, bson.D{{Key: "t", Value: bson.D{{Key: "$in", Value: types}}}})
	}
	and = append(and, bson.D{{Key: "del", Value: false}})
	for _, cl := range where {
		f, err := s.clause(ctx, types, cl)
		if err != nil {
			return nil, err
		}
		and = append(and, f)
	}
	// Flatten: one document of conditions where their keys differ (cheaper to evaluate than
	// $and on servers that do not optimise it), else $and.
	flat := bson.D{}
	seen := map[string]bool{}
	for _, c := range and {
		for _, e := range c.(bson.D) {
			if seen[e.Key] {
				return bson.D{{Key: "$and", Value: and}}, nil
			}
			seen[e.Key] = true
			flat = append(flat, e)
		}
	}
	return flat, nil
}

func unsupported(cl store.Clause, why string) error {
	return fmt.Errorf("%w: %s (%s)", store.ErrUnsupported, cl.Param, why)
}

func elem(param string, cond bson.D) bson.D {
	return bson.D{{Key: "x", Value: bson.D{{Key: "$elemMatch", Value: append(bson.D{{Key: "p", Value: param}}, cond...)}}}}
}

func nor(f bson.D) bson.D { return bson.D{{Key: "$nor", Value: bson.A{f}}} }

func or(conds []bson.D) bson.D {
	if len(conds) == 1 {
		return conds[0]
	}
	a := bson.A{}
	for _, c := range conds {
		a = append(a, c)
	}
	return bson.D{{Key: "$or", Value: a}}
}

func (s *Store) clause(ctx context.Context, types []string, cl store.Clause) (bson.D, error) {
	if cl.AnyOf != nil {
		return s.anyOfClause(ctx, types, cl.AnyOf)
	}
	if cl.Has != nil {
		return s.hasClause(ctx, types, cl.Has)
	}
	switch cl.Param {
	case "_id":
		ids := bson.A{}
		for _, v := range cl.Values {
			ids = append(ids, v.Code)
		}
		if cl.Modifier == store.ModNot {
			return bson.D{{Key: "i", Value: bson.D{{Key: "$nin", Value: ids}}}}, nil
		}
		if cl.Modifier != store.ModNone {
			return nil, unsupported(cl, "modifier")
		}
		return bson.D{{Key: "i", Value: bson.D{{Key: "$in", Value: ids}}}}, nil
	case "_type":
		if cl.Modifier != store.ModNone {
			return nil, unsupported(cl, "modifier")
		}
		types := bson.A{}
		for _, v := range cl.Values {
			types = append(types, v.Code)
		}
		return bson.D{{Key: "t", Value: bson.D{{Key: "$in", Value: types}}}}, nil
	case "_lastUpdated":
		if cl.Modifier == store.ModMissing {
			if cl.Missing {
				return nothing, nil
			}
			return bson.D{}, nil
		}
		var conds []bson.D
		for _, v := range cl.Values {
			conds = append(conds, rangeCond(v, "lulo", "luhi"))
		}
		if len(conds) == 0 {
			return nothing, nil
		}
		return or(conds), nil
	}
	if cl.Modifier == store.ModMissing {
		has := bson.D{{Key: "k", Value: keyParam(cl.Param)}}
		if cl.Missing {
			return nor(has), nil
		}
		return has, nil
	}
	if cl.Chain != nil {
		return s.chainClause(ctx, cl)
	}
	if cl.Kind == store.KindSpecial {
		return nil, unsupported(cl, "special parameter")
	}
	if keys, ok := clauseKeys(cl); ok {
		if cl.Modifier == store.ModNot {
			return bson.D{{Key: "k", Value: bson.D{{Key: "$nin", Value: keys}}}}, nil
		}
		if len(keys) == 1 {
			return bson.D{{Key: "k", Value: keys[0]}}, nil
		}
		return bson.D{{Key: "k", Value: bson.D{{Key: "$in", Value: keys}}}}, nil
	}
	param := cl.Param
	if cl.Modifier == store.ModOfType {
		param = cl.Param + ":of-type"
	}
	var conds []bson.D
	for _, v := range cl.Values {
		c, err := valueCond(cl, v)
		if err != nil {
			return nil, err
		}
		conds = append(conds, c)
	}
	if len(conds) == 0 {
		if cl.Modifier == store.ModNot {
			return bson.D{}, nil
		}
		return nothing, nil
	}
	m := elem(param, or(conds))
	if cl.Modifier == store.ModNot {
		return nor(m), nil
	}
	return m, nil
}

// valueCond is one value of a clause as a condition on one entry document.
func valueCond(cl store.Clause, v store.Value) (bson.D, error) {
	switch cl.Kind {
	case store.KindToken:
		switch cl.Modifier {
		case store.ModText:
			return startsWith("tx", v.Text), nil
		case store.ModOfType:
			return append(tokenCond(v, "sy", "c"), bson.E{Key: "tx", Value: v.Text}), nil
		case store.ModNone, store.ModNot:
			return tokenCond(v, "sy", "c"), nil
		}
	case store.KindString:
		switch cl.Modifier {
		case store.ModNone:
			return startsWith("tx", v.Text), nil
		case store.ModExact:
			return bson.D{{Key: "c", Value: v.Text}}, nil
		case store.ModContains:
			return bson.D{{Key: "tx", Value: bson.Regex{Pattern: regexp.QuoteMeta(v.Text)}}}, nil
		}
	case store.KindReference:
		switch cl.Modifier {
		case store.ModIdentifier:
			return tokenCond(v, "sy", "c"), nil
		case store.ModNone, store.ModNot:
			return refCond(v, "rt", "ri", "ru"), nil
		}
	case store.KindDate, store.KindNumber, store.KindQuantity:
		if cl.Modifier == store.ModNone {
			return unitCond(rangeCond(v, "lo", "hi"), v, "sy", "c"), nil
		}
	case store.KindURI:
		switch cl.Modifier {
		case store.ModNone:
			return bson.D{{Key: "tx", Value: v.Text}}, nil
		case store.ModBelow:
			return startsWith("tx", v.Text), nil
		case store.ModAbove:
			prefixes := bson.A{}
			for i := 1; i <= len(v.Text); i++ {
				prefixes = append(prefixes, v.Text[:i])
			}
			return bson.D{{Key: "tx", Value: bson.D{{Key: "$in", Value: prefixes}}}}, nil
		}
	case store.KindComposite:
		if cl.Modifier != store.ModNone {
			break
		}
		if len(v.Components) != 2 {
			return nil, unsupported(cl, fmt.Sprintf("composite value of %d components", len(v.Components)))
		}
		return append(componentCond(v.Components[0], "a."), componentCond(v.Components[1], "b.")...), nil
	}
	return nil, unsupported(cl, "modifier for this kind")
}

func startsWith(field, prefix string) bson.D {
	if prefix == "" {
		return bson.D{{Key: field, Value: bson.D{{Key: "$exists", Value: true}}}}
	}
	return bson.D{{Key: field, Value: bson.Regex{Pattern: "^" + regexp.QuoteMeta(prefix)}}}
}

// tokenCond is the four token forms on fields sy and c.
func tokenCond(v store.Value, sy, c string) bson.D {
	d := bson.D{}
	if !v.AnySystem {
		d = append(d, bson.E{Key: sy, Value: v.System})
	}
	if !v.AnyCode {
		d = append(d, bson.E{Key: c, Value: v.Code})
	}
	if len(d) == 0 {
		d = bson.D{{Key: c, Value: bson.D{{Key: "$exists", Value: true}}}}
	}
	return d
}

// unitCond restricts a quantity's unit where the value gives it.
func unitCond(d bson.D, v store.Value, sy, c string) bson.D {
	if v.System != "" && !v.AnySystem {
		d = append(d, bson.E{Key: sy, Value: v.System})
	}
	if v.Code != "" && !v.AnyCode {
		d = append(d, bson.E{Key: c, Value: v.Code})
	}
	return d
}

func refCond(v store.Value, rt, ri, ru string) bson.D {
	switch {
	case v.RefURL != "":
		return bson.D{{Key: ru, Value: v.RefURL}}
	case v.RefType == "":
		return bson.D{{Key: ri, Value: v.RefID}}
	case v.RefID == "":
		return bson.D{{Key: rt, Value: v.RefType}}
	}
	return bson.D{{Key: rt, Value: v.RefType}, {Key: ri, Value: v.RefID}}
}

// rangeCond is Prefix.Matches on the entry's [lo, hi) against the value's [Low, High).
func rangeCond(v store.Value, lo, hi string) bson.D {
	sl, sh := finite(v.Low), finite(v.High)
	cmp := func(f, op string, x float64) bson.D { return bson.D{{Key: f, Value: bson.D{{Key: op, Value: x}}}} }
	contains := bson.D{{Key: lo, Value: bson.D{{Key: "$gte", Value: sl}}}, {Key: hi, Value: bson.D{{Key: "$lte", Value: sh}}}}
	switch v.Prefix {
	case store.PrefixEq:
		return contains
	case store.PrefixNe:
		return or([]bson.D{cmp(lo, "$lt", sl), cmp(hi, "$gt", sh)})
	case store.PrefixGt:
		return cmp(hi, "$gt", sh)
	case store.PrefixLt:
		return cmp(lo, "$lt", sl)
	case store.PrefixGe:
		return or([]bson.D{cmp(hi, "$gt", sh), contains})
	case store.PrefixLe:
		return or([]bson.D{cmp(lo, "$lt", sl), contains})
	case store.PrefixSa:
		return cmp(lo, "$gte", sh)
	case store.PrefixEb:
		return cmp(hi, "$lte", sl)
	case store.PrefixAp:
		w := 0.1 * max(abs(sl), abs(sh))
		w = max(w, sh-sl)
		return bson.D{{Key: lo, Value: bson.D{{Key: "$lt", Value: sh + w}}}, {Key: hi, Value: bson.D{{Key: "$gt", Value: sl - w}}}}
	}
	return nothing
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

// componentCond matches one composite component (fields p+"sy", ...). A Value does not say its
// component's kind, so it is read from what is set, as the SQLite backend does: a range is a
// date, number or quantity; a reference target a reference; Text alone a string (starts-with);
// else a token.
func componentCond(v store.Value, p string) bson.D {
	switch {
	case v.Low != 0 || v.High != 0:
		// Every range condition compares lo or hi with a number, so it only matches a
		// component that has a range.
		return unitCond(rangeCond(v, p+"lo", p+"hi"), v, p+"sy", p+"c")
	case v.RefID != "" || v.RefURL != "":
		return refCond(v, p+"rt", p+"ri", p+"ru")
	case v.Text != "" && v.Code == "" && v.System == "":
		return startsWith(p+"tx", v.Text)
	}
	return tokenCond(v, p+"sy", p+"c")
}

// targets runs a query and returns the (type, ids) of every match.
func (s *Store) targets(ctx context.Context, q store.Query) (map[string][]string, error) {
	f, err := s.compile(ctx, q.Types, q.Where)
	if err != nil {
		return nil, err
	}
	cur, err := s.res.Find(ctx, f, options.Find().SetProjection(bson.D{{Key: "t", Value: 1}, {Key: "i", Value: 1}}))
	if err != nil {
		return nil, err
	}
	var docs []struct {
		T string `bson:"t"`
		I string `bson:"i"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, d := range docs {
		out[d.T] = append(out[d.T], d.I)
	}
	return out, nil
}

// anyOfClause is an OR of groups: $or of each group's clauses under $and. An empty OR
// matches nothing.
func (s *Store) anyOfClause(ctx context.Context, types []string, groups [][]store.Clause) (bson.D, error) {
	if len(groups) == 0 {
		return nothing, nil
	}
	alts := bson.A{}
	for _, g := range groups {
		and := bson.A{}
		for _, cl := range g {
			f, err := s.clause(ctx, types, cl)
			if err != nil {
				return nil, err
			}
			and = append(and, f)
		}
		switch len(and) {
		case 0:
			return bson.D{}, nil // an empty group matches everything, and so does the OR
		case 1:
			alts = append(alts, and[0])
		default:
			alts = append(alts, bson.D{{Key: "$and", Value: and}})
		}
	}
	if len(alts) == 1 {
		return alts[0].(bson.D), nil
	}
	return bson.D{{Key: "$or", Value: alts}}, nil
}

// chainClause: the reference points at a current resource that matches the chained query.
func (s *Store) chainClause(ctx context.Context, cl store.Clause) (bson.D, error) {
	found, err := s.targets(ctx, *cl.Chain)
	if err != nil {
		return nil, err
	}
	var conds []bson.D
	for typ, ids := range found {
		conds = append(conds, bson.D{{Key: "rt", Value: typ}, {Key: "ri", Value: bson.D{{Key: "$in", Value: ids}}}})
	}
	if len(conds) == 0 {
		return nothing, nil
	}
	return elem(cl.Param, or(conds)), nil
}

// hasClause: some current resource of h.Type matching h.Where refers to this one via h.Param.
func (s *Store) hasClause(ctx context.Context, types []string, h *store.Has) (bson.D, error) {
	f, err := s.compile(ctx, []string{h.Type}, h.Where)
	if err != nil {
		return nil, err
	}
	f = bson.D{{Key: "$and", Value: bson.A{f, bson.D{{Key: "x.p", Value: h.Param}}}}}
	cur, err := s.res.Find(ctx, f, options.Find().SetProjection(bson.D{{Key: "x", Value: 1}}))
	if err != nil {
		return nil, err
	}
	var docs []struct {
		X []struct {
			P  string `bson:"p"`
			RT string `bson:"rt"`
			RI string `bson:"ri"`
		} `bson:"x"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, err
	}
	byType := map[string]map[string]bool{}
	for _, d := range docs {
		for _, e := range d.X {
			if e.P != h.Param || e.RI == "" {
				continue
			}
			if byType[e.RT] == nil {
				byType[e.RT] = map[string]bool{}
			}
			byType[e.RT][e.RI] = true
		}
	}
	var conds []bson.D
	for typ, set := range byType {
		ids := bson.A{}
		for id := range set {
			ids = append(ids, id)
		}
		if typ == "" { // a bare id refers to any type
			conds = append(conds, bson.D{{Key: "i", Value: bson.D{{Key: "$in", Value: ids}}}})
			continue
		}
		conds = append(conds, bson.D{{Key: "t", Value: typ}, {Key: "i", Value: bson.D{{Key: "$in", Value: ids}}}})
	}
	if len(conds) == 0 {
		return nothing, nil
	}
	return or(conds), nil
}

// clauseKeys compiles a token or reference clause whose every value is an equality form to
// match keys (see matchKeys); ok is false when some value needs the entry documents.
func clauseKeys(cl store.Clause) (bson.A, bool) {
	keys := bson.A{}
	for _, v := range cl.Values {
		switch {
		case cl.Kind == store.KindToken && (cl.Modifier == store.ModNone || cl.Modifier == store.ModNot):
			switch {
			case v.AnySystem && v.AnyCode:
				keys = append(keys, keyParam(cl.Param))
			case v.AnySystem:
				keys = append(keys, keyCode(cl.Param, v.Code))
			case v.AnyCode:
				keys = append(keys, keySys(cl.Param, v.System))
			default:
				keys = append(keys, keySysCode(cl.Param, v.System, v.Code))
			}
		case cl.Kind == store.KindReference && cl.Modifier == store.ModNone && cl.Chain == nil && (v.RefType == "" || v.RefID != ""):
			switch {
			case v.RefURL != "":
				keys = append(keys, keyRefURL(cl.Param, v.RefURL))
			case v.RefType == "":
				keys = append(keys, keyRefID(cl.Param, v.RefID))
			default:
				keys = append(keys, keyRef(cl.Param, v.RefType, v.RefID))
			}
		default:
			return nil, false
		}
	}
	return keys, len(keys) > 0
}
