package sqlite

import (
	"fmt"
	"strings"

	"github.com/portico-health/portico/store"
)

// idParam is the one parameter answered from the resources table rather than from index rows.
const idParam = "_id"

// compileMatch translates q's clauses (an AND of ORs) into a match. It chooses the driving
// clause: _id first (it names its resources), else the first token clause.
func compileMatch(q store.Query) (match, error) {
	drive := -1
	for i, c := range q.Where {
		if c.Param == idParam {
			drive = i
			break
		}
		if c.Kind != store.KindToken {
			return match{}, fmt.Errorf("sqlite: search parameter %q of kind %d: %w", c.Param, c.Kind, store.ErrUnsupported)
		}
		if drive < 0 {
			drive = i
		}
	}

	var m match
	switch {
	case drive < 0 || q.Where[drive].Param == idParam:
		m = match{idCol: "r.id", from: "resources r", where: []string{"r.type = ?", "r.deleted = 0"}, args: []any{q.Types[0]}}
		if drive >= 0 {
			m.where = append(m.where, idIn("r.id", q.Where[drive].Values, &m.args))
		}
	default:
		// Each OR term repeats type and param so that SQLite can answer each from an index
		// (tokens_by_code or tokens_by_system) and merge them.
		m = match{idCol: "t.id", from: "tokens t", distinct: true}
		var terms []string
		for _, v := range q.Where[drive].Values {
			cond, args, err := valueCond("t", v)
			if err != nil {
				return match{}, err
			}
			terms = append(terms, "(t.type = ? AND t.param = ? AND "+cond+")")
			m.args = append(append(m.args, q.Types[0], q.Where[drive].Param), args...)
		}
		m.where = []string{orTerms(terms)}
	}

	for i, c := range q.Where {
		if i == drive {
			continue
		}
		if c.Param == idParam {
			m.where = append(m.where, idIn(m.idCol, c.Values, &m.args))
			continue
		}
		if c.Kind != store.KindToken {
			return match{}, fmt.Errorf("sqlite: search parameter %q of kind %d: %w", c.Param, c.Kind, store.ErrUnsupported)
		}
		// An index probe per candidate: (type, param, code, id) or (type, id, param, ...).
		var terms []string
		m.args = append(m.args, q.Types[0], c.Param)
		for _, v := range c.Values {
			cond, args, err := valueCond("x", v)
			if err != nil {
				return match{}, err
			}
			terms = append(terms, cond)
			m.args = append(m.args, args...)
		}
		// "+": an expression, not a column, so SQLite does not carry the cursor's "id > ?"
		// over to x and range-scan it instead of probing by equality.
		m.where = append(m.where, "EXISTS (SELECT 1 FROM tokens x WHERE x.type = ? AND x.id = +"+m.idCol+
			" AND x.param = ? AND "+orTerms(terms)+")")
	}
	return m, nil
}

// valueCond compares a token index row (alias) with one value, in the four forms of FHIR R4
// §3.1.1.4.7: code, system|code, |code and system|.
func valueCond(alias string, v store.Value) (string, []any, error) {
	switch {
	case v.AnySystem && v.AnyCode:
		return "", nil, fmt.Errorf("sqlite: token value with neither system nor code: %w", store.ErrUnsupported)
	case v.AnySystem:
		return alias + ".code = ?", []any{v.Code}, nil
	case v.AnyCode:
		return alias + ".system = ?", []any{v.System}, nil
	default: // System "" is "|code": the value must have no system
		// The unary + keeps SQLite from driving by system (every identifier of a hospital)
		// rather than by code: a code is nearly always the more selective of the two.
		return "(+" + alias + ".system = ? AND " + alias + ".code = ?)", []any{v.System, v.Code}, nil
	}
}

// idIn is "col IN (...)" for an _id clause: its values' codes are resource ids.
func idIn(col string, values []store.Value, args *[]any) string {
	if len(values) == 0 {
		return "0" // an OR of nothing matches nothing
	}
	for _, v := range values {
		*args = append(*args, v.Code)
	}
	return col + " IN (?" + strings.Repeat(", ?", len(values)-1) + ")"
}

func orTerms(terms []string) string {
	switch len(terms) {
	case 0:
		return "0"
	case 1:
		return terms[0]
	}
	return "(" + strings.Join(terms, " OR ") + ")"
}
