package sqlite

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/portico-health/portico/store"
)

// Special parameters answered from the resources table rather than from index rows.
const (
	idParam          = "_id"
	typeParam        = "_type"
	lastUpdatedParam = "_lastUpdated"
)

// frag is a piece of SQL with the arguments of its placeholders, in order.
type frag struct {
	sql  string
	args []any
}

func (f *frag) add(sql string, args ...any) { f.sql += sql; f.args = append(f.args, args...) }
func (f *frag) addFrag(g frag)              { f.add(g.sql, g.args...) }

// joinFrags joins fragments with sep ("0" for an empty OR, "1" for an empty AND).
func joinFrags(fs []frag, sep, empty string) frag {
	if len(fs) == 0 {
		return frag{sql: empty}
	}
	if len(fs) == 1 {
		return fs[0]
	}
	out := frag{sql: "("}
	for i, f := range fs {
		if i > 0 {
			out.sql += sep
		}
		out.addFrag(f)
	}
	out.sql += ")"
	return out
}

func unsupported(c store.Clause, why string) error {
	return fmt.Errorf("sqlite: search parameter %q (kind %d, modifier %d): %s: %w", c.Param, c.Kind, c.Modifier, why,
		store.ErrUnsupported)
}

// kindTable is the index table of a parameter kind.
func kindTable(k store.ParamKind) string {
	switch k {
	case store.KindToken:
		return "tokens"
	case store.KindString:
		return "strings"
	case store.KindReference:
		return "refs"
	case store.KindDate, store.KindNumber, store.KindQuantity:
		return "ranges"
	case store.KindURI:
		return "uris"
	case store.KindComposite:
		return "composites"
	}
	return ""
}

// compiler numbers the aliases of nested subqueries.
type compiler struct{ n int }

func (c *compiler) alias(p string) string { c.n++; return fmt.Sprintf("%s%d", p, c.n) }

// where is the AND of clauses over the resources row r (columns rid, type, id, last_updated).
func (c *compiler) where(clauses []store.Clause, r string) (frag, error) {
	var fs []frag
	for _, cl := range clauses {
		f, err := c.clause(cl, r)
		if err != nil {
			return frag{}, err
		}
		fs = append(fs, f)
	}
	return joinFrags(fs, " AND ", "1"), nil
}

// clause is one clause as a condition on the resources row r: an EXISTS probe of the clause's
// index table by (rid, param), the primary key's prefix.
func (c *compiler) clause(cl store.Clause, r string) (frag, error) {
	switch {
	case cl.AnyOf != nil:
		return c.anyOf(cl.AnyOf, r)
	case cl.Has != nil:
		return c.has(cl.Has, r)
	case cl.Param == idParam:
		if cl.Modifier == store.ModMissing {
			return boolFrag(!cl.Missing), nil
		}
		if cl.Modifier != store.ModNone && cl.Modifier != store.ModNot {
			return frag{}, unsupported(cl, "modifier of _id")
		}
		f := idIn(r+".id", cl.Values)
		if cl.Modifier == store.ModNot {
			f.sql = "NOT " + f.sql
		}
		return f, nil
	case cl.Param == typeParam:
		if cl.Modifier != store.ModNone {
			return frag{}, unsupported(cl, "modifier of _type")
		}
		var types []string
		for _, v := range cl.Values {
			types = append(types, v.Code)
		}
		if len(types) == 0 {
			return frag{sql: "0"}, nil
		}
		// "+type": not a term an index may serve. The searched types are already the
		// query's own condition on the index; served by the index here, inside the OR of a
		// confined caller's groups, SQLite would prefer one index scan per type (every
		// resource of each) to the caller's driving rows.
		f := inList("+"+r+".type", types)
		f.sql = strings.TrimPrefix(f.sql, " AND ")
		return f, nil
	case cl.Param == lastUpdatedParam:
		if cl.Modifier == store.ModMissing {
			return boolFrag(!cl.Missing), nil
		}
		if cl.Modifier != store.ModNone {
			return frag{}, unsupported(cl, "modifier of _lastUpdated")
		}
		// The instant's millisecond is its range [ms, ms+1).
		lo := "(" + r + ".last_updated / 1000000)"
		hi := "(" + r + ".last_updated / 1000000 + 1)"
		var fs []frag
		for _, v := range cl.Values {
			fs = append(fs, rangeCond(v, lo, hi))
		}
		return joinFrags(fs, " OR ", "0"), nil
	}
	table := kindTable(cl.Kind)
	if table == "" {
		return frag{}, unsupported(cl, "kind not searchable")
	}
	x := c.alias("x")
	probe := frag{sql: "EXISTS (SELECT 1 FROM " + table + " " + x + " WHERE " + x + ".rid = " + r + ".rid AND " + x + ".param = ?",
		args: []any{cl.Param}}
	if cl.Modifier == store.ModMissing {
		probe.sql += ")"
		if cl.Missing {
			probe.sql = "NOT " + probe.sql
		}
		return probe, nil
	}
	if cl.Modifier == store.ModOfType {
		// Convention with the extractor: an identifier with a type is also indexed as a token
		// of param+":of-type" with the type coding's System/Code and the value as Text.
		probe.args[0] = cl.Param + ":of-type"
	}
	if cl.Chain != nil {
		if cl.Kind != store.KindReference {
			return frag{}, unsupported(cl, "chain on a non-reference")
		}
		t := c.alias("t")
		probe.sql += " AND EXISTS (SELECT 1 FROM resources " + t + " WHERE " + t + ".type = " + x + ".ref_type AND " +
			t + ".id = " + x + ".ref_id AND " + t + ".deleted = 0"
		if len(cl.Chain.Types) > 0 {
			probe.addFrag(inList(t+".type", cl.Chain.Types))
		}
		w, err := c.where(cl.Chain.Where, t)
		if err != nil {
			return frag{}, err
		}
		probe.add(" AND ")
		probe.addFrag(w)
		probe.add("))")
		return probe, nil
	}
	vals, err := valuesCond(cl, x)
	if err != nil {
		return frag{}, err
	}
	probe.add(" AND ")
	probe.addFrag(vals)
	probe.add(")")
	if cl.Modifier == store.ModNot {
		probe.sql = "NOT " + probe.sql
	}
	return probe, nil
}

// anyOf is the OR of groups, each the AND of its clauses (their EXISTS probes) on r.
func (c *compiler) anyOf(groups [][]store.Clause, r string) (frag, error) {
	var fs []frag
	for _, g := range groups {
		f, err := c.where(g, r)
		if err != nil {
			return frag{}, err
		}
		fs = append(fs, f)
	}
	return joinFrags(fs, " OR ", "0"), nil
}

// has is _has: some current resource of h.Type refers to r through h.Param and matches
// h.Where. It probes refs_by_target (type, ref_id, param).
func (c *compiler) has(h *store.Has, r string) (frag, error) {
	x, t := c.alias("h"), c.alias("hr")
	f := frag{sql: "EXISTS (SELECT 1 FROM refs " + x + " JOIN resources " + t + " ON " + t + ".rid = " + x + ".rid WHERE " +
		x + ".type = ? AND " + x + ".param = ? AND " + x + ".ref_id = " + r + ".id AND " + x + ".ref_type = " + r + ".type AND ",
		args: []any{h.Type, h.Param}}
	w, err := c.where(h.Where, t)
	if err != nil {
		return frag{}, err
	}
	f.addFrag(w)
	f.add(")")
	return f, nil
}

// longList is the length past which a list of ids (an _id clause, references to one type) is
// bound as one JSON array rather than one argument each: a confined user's patients, repeated
// in every parameter of every type of a search, would pass SQLite's limit of arguments.
const longList = 8

// refList reports whether cl is a plain reference clause with more than longList values, all
// of one type by id, and returns the type and the ids as a JSON array.
func refList(cl store.Clause) (typ, ids string, ok bool) {
	if cl.Kind != store.KindReference || cl.Modifier != store.ModNone || cl.Chain != nil || len(cl.Values) <= longList {
		return "", "", false
	}
	list := make([]string, 0, len(cl.Values))
	for _, v := range cl.Values {
		if v.RefType == "" || v.RefID == "" || v.RefURL != "" || (typ != "" && v.RefType != typ) {
			return "", "", false
		}
		typ = v.RefType
		list = append(list, v.RefID)
	}
	return typ, jsonArray(list), true
}

// jsonArray is strings as a JSON array, for json_each.
func jsonArray(list []string) string {
	b, _ := json.Marshal(list)
	return string(b)
}

// valuesCond is the OR of a clause's values on one index row x of its kind.
func valuesCond(cl store.Clause, x string) (frag, error) {
	if typ, ids, ok := refList(cl); ok {
		return frag{"(" + x + ".ref_type = ? AND " + x + ".ref_id IN (SELECT value FROM json_each(?)))", []any{typ, ids}}, nil
	}
	var fs []frag
	for _, v := range cl.Values {
		f, err := valueCond(cl, v, x)
		if err != nil {
			return frag{}, err
		}
		fs = append(fs, f)
	}
	return joinFrags(fs, " OR ", "0"), nil
}

// valueCond compares one index row x of the clause's kind with one value.
func valueCond(cl store.Clause, v store.Value, x string) (frag, error) {
	switch cl.Kind {
	case store.KindToken:
		switch cl.Modifier {
		case store.ModNone, store.ModNot:
			return tokenCond(v, x+".system", x+".code"), nil
		case store.ModText:
			return prefixCond(x+".text", v.Text), nil
		case store.ModOfType:
			f := tokenCond(v, x+".system", x+".code")
			f.add(" AND "+x+".text = ?", v.Text)
			return frag{sql: "(" + f.sql + ")", args: f.args}, nil
		}
	case store.KindString:
		switch cl.Modifier {
		case store.ModNone:
			return prefixCond(x+".text", v.Text), nil
		case store.ModExact:
			return frag{x + ".code = ?", []any{v.Text}}, nil
		case store.ModContains:
			return frag{"instr(" + x + ".text, ?) > 0", []any{v.Text}}, nil
		}
	case store.KindReference:
		switch cl.Modifier {
		case store.ModNone, store.ModNot:
			return refCond(v, x+".ref_type", x+".ref_id", x+".ref_url"), nil
		case store.ModIdentifier:
			f := tokenCond(v, x+".system", x+".code")
			f.sql = "(" + x + ".code != '' AND " + f.sql + ")"
			return f, nil
		}
	case store.KindDate, store.KindNumber, store.KindQuantity:
		if cl.Modifier != store.ModNone {
			break
		}
		f := rangeCond(v, x+".lo", x+".hi")
		if cl.Kind == store.KindQuantity {
			f = unitCond(f, v, x+".system", x+".code")
		}
		return f, nil
	case store.KindURI:
		switch cl.Modifier {
		case store.ModNone, store.ModNot:
			return frag{x + ".uri = ?", []any{v.Text}}, nil
		case store.ModBelow:
			return prefixCond(x+".uri", v.Text), nil
		case store.ModAbove:
			return aboveCond(x+".uri", v.Text), nil
		}
	case store.KindComposite:
		if cl.Modifier != store.ModNone {
			break
		}
		if len(v.Components) == 0 || len(v.Components) > 2 {
			return frag{}, unsupported(cl, fmt.Sprintf("composite value of %d components", len(v.Components)))
		}
		var fs []frag
		for k, comp := range v.Components {
			p := x + "." + string(rune('a'+k)) + "_"
			fs = append(fs, componentCond(comp, p))
		}
		return joinFrags(fs, " AND ", "1"), nil
	}
	return frag{}, unsupported(cl, "modifier")
}

// tokenCond is a token value in the four forms of FHIR R4 §3.1.1.4.7: code, system|code,
// |code and system|.
func tokenCond(v store.Value, sys, code string) frag {
	switch {
	case v.AnySystem && v.AnyCode:
		return frag{sql: "1"}
	case v.AnySystem:
		return frag{code + " = ?", []any{v.Code}}
	case v.AnyCode:
		return frag{sys + " = ?", []any{v.System}}
	}
	// The unary + keeps SQLite from driving by system (every identifier of a hospital) rather
	// than by code: a code is nearly always the more selective of the two.
	return frag{"(+" + sys + " = ? AND " + code + " = ?)", []any{v.System, v.Code}}
}

// refCond is a reference value: Type/id, a bare id (any type), or an absolute URL.
func refCond(v store.Value, typ, id, url string) frag {
	switch {
	case v.RefURL != "":
		return frag{"(" + url + " != '' AND " + url + " = ?)", []any{v.RefURL}}
	case v.RefType != "" && v.RefID == "":
		return frag{typ + " = ?", []any{v.RefType}}
	case v.RefType != "":
		return frag{"(" + id + " = ? AND " + typ + " = ?)", []any{v.RefID, v.RefType}}
	}
	return frag{id + " = ?", []any{v.RefID}}
}

// rangeCond is Prefix.Matches of the search range [v.Low, v.High) and the target [lo, hi).
// Each form also carries a bound implied by the condition on lo or hi alone, so that SQLite
// can range-scan ranges_by_lo or ranges_by_hi.
func rangeCond(v store.Value, lo, hi string) frag {
	sl, sh := v.Low, v.High
	contains := "(" + lo + " >= ? AND " + hi + " <= ?)"
	switch v.Prefix {
	case store.PrefixEq:
		return frag{contains, []any{sl, sh}}
	case store.PrefixNe:
		return frag{"NOT " + contains, []any{sl, sh}}
	case store.PrefixGt:
		return frag{hi + " > ?", []any{sh}}
	case store.PrefixLt:
		return frag{lo + " < ?", []any{sl}}
	case store.PrefixGe: // hi > sh, or contained (then hi >= lo >= sl)
		return frag{"(" + hi + " >= ? AND (" + hi + " > ? OR " + contains + "))", []any{sl, sh, sl, sh}}
	case store.PrefixLe: // lo < sl, or contained (then lo <= hi <= sh)
		return frag{"(" + lo + " <= ? AND (" + lo + " < ? OR " + contains + "))", []any{sh, sl, sl, sh}}
	case store.PrefixSa:
		return frag{lo + " >= ?", []any{sh}}
	case store.PrefixEb:
		return frag{hi + " <= ?", []any{sl}}
	case store.PrefixAp:
		w := 0.1 * max(abs(sl), abs(sh))
		w = max(w, sh-sl)
		return frag{"(" + lo + " < ? AND " + hi + " > ?)", []any{sh + w, sl - w}}
	}
	return frag{sql: "0"}
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

// unitCond adds a quantity's unit to its range condition; a value without a unit (or with
// AnySystem/AnyCode) matches any unit.
func unitCond(f frag, v store.Value, sys, code string) frag {
	if v.System != "" && !v.AnySystem {
		f = frag{"(" + f.sql + " AND " + sys + " = ?)", append(f.args, v.System)}
	}
	if v.Code != "" && !v.AnyCode {
		f = frag{"(" + f.sql + " AND " + code + " = ?)", append(f.args, v.Code)}
	}
	return f
}

// componentCond matches one composite component (columns p+"system", ...). A Value does not
// say its component's kind, so it is read from what is set: a range is a date, number or
// quantity; a reference target a reference; Text alone a string (starts-with); else a token.
func componentCond(v store.Value, p string) frag {
	switch {
	case v.Low != 0 || v.High != 0:
		f := rangeCond(v, p+"lo", p+"hi")
		f = unitCond(f, v, p+"system", p+"code")
		return frag{"(" + p + "lo IS NOT NULL AND " + f.sql + ")", f.args}
	case v.RefID != "" || v.RefURL != "":
		return refCond(v, p+"system", p+"code", p+"text")
	case v.Text != "" && v.Code == "" && v.System == "":
		return prefixCond(p+"text", v.Text)
	}
	return tokenCond(v, p+"system", p+"code")
}

// prefixCond is "col starts with s" as a range, which an index on col serves. No character is
// above U+10FFFF, so every string with the prefix s sorts below s+"\U0010FFFF".
func prefixCond(col, s string) frag {
	if s == "" {
		return frag{sql: "1"}
	}
	return frag{"(" + col + " >= ? AND " + col + " < ?)", []any{s, s + "\U0010FFFF"}}
}

// aboveCond is uri:above, "s starts with col": col is one of the prefixes of s.
func aboveCond(col, s string) frag {
	var prefixes []any
	for i := 1; i <= len(s); i++ {
		prefixes = append(prefixes, s[:i])
	}
	if len(prefixes) == 0 {
		return frag{sql: "0"}
	}
	return frag{col + " IN (?" + strings.Repeat(", ?", len(prefixes)-1) + ")", prefixes}
}

// idIn is "col IN (...)" for an _id clause: its values' codes are resource ids.
func idIn(col string, values []store.Value) frag {
	if len(values) == 0 {
		return frag{sql: "0"} // an OR of nothing matches nothing
	}
	if len(values) > longList {
		ids := make([]string, len(values))
		for i, v := range values {
			ids[i] = v.Code
		}
		return frag{col + " IN (SELECT value FROM json_each(?))", []any{jsonArray(ids)}}
	}
	f := frag{sql: col + " IN (?" + strings.Repeat(", ?", len(values)-1) + ")"}
	for _, v := range values {
		f.args = append(f.args, v.Code)
	}
	return f
}

// inList is " AND col IN (...)" over strings.
func inList(col string, vals []string) frag {
	f := frag{sql: " AND " + col + " IN (?" + strings.Repeat(", ?", len(vals)-1) + ")"}
	for _, v := range vals {
		f.args = append(f.args, v)
	}
	return f
}

func boolFrag(b bool) frag {
	if b {
		return frag{sql: "1"}
	}
	return frag{sql: "0"}
}

// driveSQL is the SQL selecting the rids of the clause's matches from its table's (type, param,
// value) index, or ok false when the clause cannot drive a search (a modifier that no index
// serves, ne, a chain or _has whose inner criteria cannot drive). types are the searched types
// (never empty here). c names the aliases of the subqueries a chain or _has drive needs.
func driveSQL(c *compiler, cl store.Clause, types []string) (f frag, ok bool) {
	switch {
	case cl.AnyOf != nil:
		return anyOfDrive(c, cl.AnyOf, types)
	case cl.Chain != nil:
		return chainDrive(c, cl, types)
	case cl.Has != nil:
		return hasDrive(c, cl.Has, types)
	case cl.Param == typeParam:
		return typeDrive(cl, types)
	case cl.Param == lastUpdatedParam || len(cl.Values) == 0:
		return frag{}, false
	}
	if cl.Param == idParam {
		if cl.Modifier != store.ModNone {
			return frag{}, false
		}
		f = frag{sql: "SELECT d.rid FROM resources d WHERE d.deleted = 0"}
		f.addFrag(inList("d.type", types))
		f.add(" AND ")
		f.addFrag(idIn("d.id", cl.Values))
		return f, true
	}
	switch cl.Modifier {
	case store.ModNone, store.ModBelow, store.ModAbove, store.ModIdentifier:
	default:
		return frag{}, false
	}
	switch cl.Kind {
	case store.KindToken, store.KindString, store.KindReference, store.KindDate, store.KindNumber,
		store.KindQuantity, store.KindURI, store.KindComposite:
	default:
		return frag{}, false
	}
	for _, v := range cl.Values {
		switch {
		case cl.Kind == store.KindToken && v.AnyCode, // no index by system alone (schema.go)
			cl.Kind == store.KindString && v.Text == "",
			(cl.Kind == store.KindDate || cl.Kind == store.KindNumber || cl.Kind == store.KindQuantity) && v.Prefix == store.PrefixNe,
			cl.Kind == store.KindComposite && (len(v.Components) == 0 || v.Components[0].Code == "" || v.Components[0].AnyCode):
			return frag{}, false
		}
	}
	vals, err := valuesCond(cl, "d")
	if err != nil {
		return frag{}, false
	}
	if cl.Kind == store.KindComposite {
		// composites_by_code (type, param, a_code): the first component's code drives.
		var codes []string
		for _, v := range cl.Values {
			codes = append(codes, v.Components[0].Code)
		}
		f = frag{sql: "SELECT d.rid FROM composites d WHERE d.param = ?", args: []any{cl.Param}}
		f.addFrag(inList("d.type", types))
		f.addFrag(inList("d.a_code", codes))
		f.add(" AND ")
		f.addFrag(vals)
		return f, true
	}
	f = frag{sql: "SELECT d.rid FROM " + kindTable(cl.Kind) + " d WHERE d.param = ?", args: []any{cl.Param}}
	f.addFrag(inList("d.type", types))
	f.add(" AND ")
	f.addFrag(vals)
	return f, true
}

// typeDrive drives a _type clause by resources_by_updated: every current resource of the
// clause's types among the searched ones. It is the drive of last resort of an OR's group
// (anyOfDrive), where a confined caller's search names a type the caller sees whole (a
// directory type beside its compartment's): without it the whole OR could not drive, and the
// search would walk every resource of every type, the caller's or not.
func typeDrive(cl store.Clause, types []string) (frag, bool) {
	if cl.Modifier != store.ModNone {
		return frag{}, false
	}
	var in []string
	for _, v := range cl.Values {
		if slices.Contains(types, v.Code) {
			in = append(in, v.Code)
		}
	}
	if len(in) == 0 {
		return frag{sql: "SELECT d.rid FROM resources d WHERE 0"}, true
	}
	f := frag{sql: "SELECT d.rid FROM resources d WHERE d.deleted = 0"}
	f.addFrag(inList("d.type", in))
	return f, true
}

// innerDrive is the drive of a subquery's criteria over its types: the first clause that can
// drive, other than _type (a type drives only when nothing narrower does).
func innerDrive(c *compiler, where []store.Clause, types []string) (frag, bool) {
	if len(types) == 0 {
		return frag{}, false
	}
	var byType *frag
	for _, cl := range where {
		f, ok := driveSQL(c, cl, types)
		if !ok {
			continue
		}
		if cl.Param != typeParam {
			return f, true
		}
		if byType == nil {
			byType = &f
		}
	}
	if byType != nil {
		return *byType, true
	}
	return frag{}, false
}

// chainDrive drives a chain (subject:Patient.organization=...) from its target's criteria:
// the targets that match them (driven in turn, then checked against all of the chain's
// criteria), and from each the references of the searched types that point at it
// (refs_by_target). Exact: the chain's whole criteria are applied.
func chainDrive(c *compiler, cl store.Clause, types []string) (frag, bool) {
	if cl.Kind != store.KindReference || cl.Modifier != store.ModNone {
		return frag{}, false
	}
	inner, ok := innerDrive(c, cl.Chain.Where, cl.Chain.Types)
	if !ok {
		return frag{}, false
	}
	t, x := c.alias("ct"), c.alias("cx")
	where, err := c.where(cl.Chain.Where, t)
	if err != nil {
		return frag{}, false
	}
	// CROSS JOIN keeps SQLite's join order: the targets first (few), then their referrers.
	f := frag{sql: "SELECT " + x + ".rid FROM resources " + t + " CROSS JOIN refs " + x + " ON " + x + ".ref_id = " + t + ".id AND " +
		x + ".ref_type = " + t + ".type AND " + x + ".param = ?", args: []any{cl.Param}}
	f.addFrag(inList(x+".type", types))
	f.add(" WHERE " + t + ".rid IN (")
	f.addFrag(inner)
	f.add(") AND " + t + ".deleted = 0")
	f.addFrag(inList("+"+t+".type", cl.Chain.Types)) // "+": the rids drive, not an index of the type
	f.add(" AND ")
	f.addFrag(where)
	return f, true
}

// hasDrive drives _has (_has:PractitionerRole:organization:practitioner=...) from the
// referring resources' criteria: those that match (driven, then checked against all of
// them), and the resources of the searched types they point at by the parameter. Exact.
func hasDrive(c *compiler, h *store.Has, types []string) (frag, bool) {
	inner, ok := innerDrive(c, h.Where, []string{h.Type})
	if !ok {
		return frag{}, false
	}
	x, hr, t := c.alias("hx"), c.alias("hr"), c.alias("ht")
	where, err := c.where(h.Where, hr)
	if err != nil {
		return frag{}, false
	}
	// CROSS JOIN keeps SQLite's join order: the referrers first (few), then their targets.
	f := frag{sql: "SELECT " + t + ".rid FROM refs " + x + " CROSS JOIN resources " + hr + " ON " + hr + ".rid = " + x + ".rid CROSS JOIN resources " + t +
		" ON " + t + ".type = " + x + ".ref_type AND " + t + ".id = " + x + ".ref_id AND " + t + ".deleted = 0"}
	f.addFrag(inList(t+".type", types))
	f.add(" WHERE " + x + ".rid IN (")
	f.addFrag(inner)
	f.add(") AND +"+x+".type = ? AND "+x+".param = ? AND ", h.Type, h.Param) // "+": the rids drive
	f.addFrag(where)
	return f, true
}

// groupTypes narrows the searched types to those a group's _type clauses allow: a confined
// caller's search over every type is an OR of one group per type, and each group's drive need
// only name its own (one argument instead of a hundred, in each of a hundred branches).
func groupTypes(g []store.Clause, types []string) []string {
	out := types
	for _, cl := range g {
		if cl.Param != typeParam || cl.Modifier != store.ModNone || cl.AnyOf != nil {
			continue
		}
		var in []string
		for _, v := range cl.Values {
			if slices.Contains(out, v.Code) {
				in = append(in, v.Code)
			}
		}
		out = in
	}
	return out
}

// anyOfDrive drives an OR of groups by the UNION of one driving clause of each group (the
// first that can, a _type clause only when no other can): every group must have one, else a
// group's matches could be anywhere and the clause cannot drive. The union holds every match,
// and more when a group has other clauses (see driveExact).
func anyOfDrive(c *compiler, groups [][]store.Clause, types []string) (frag, bool) {
	if len(groups) == 0 {
		return frag{}, false
	}
	var out frag
	for i, g := range groups {
		f, ok := innerDrive(c, g, groupTypes(g, types))
		if !ok {
			return frag{}, false
		}
		if i > 0 {
			out.add(" UNION ")
		}
		out.addFrag(f)
	}
	return out, true
}

// driveExact reports whether the driving SQL of cl selects its matches exactly, so that the
// clause needs no probe once it drives: true of every clause but an OR whose groups have
// other clauses besides the one that drives them.
func driveExact(cl store.Clause) bool {
	if cl.AnyOf == nil {
		return true
	}
	for _, g := range cl.AnyOf {
		if len(g) != 1 || !driveExact(g[0]) {
			return false
		}
	}
	return true
}

// readsRow reports whether a clause's condition reads the resources row's own columns (id,
// type, last_updated) rather than only its rid.
func readsRow(c store.Clause) bool {
	if c.Has != nil || isColumn(c.Param) {
		return true
	}
	for _, g := range c.AnyOf {
		for _, inner := range g {
			if readsRow(inner) {
				return true
			}
		}
	}
	return false
}
