package policy

import "slices"

// Covers reports whether holding scope g is enough for everything scope r asks: the same kind
// (and for resource scopes the same context), g's type is r's or "*", g's permissions include
// r's, and each of g's granular parameters is also one of r's (fewer parameters reach more).
func Covers(g, r Scope) bool {
	if g.Kind != r.Kind {
		return false
	}
	if g.Kind != KindResource {
		return true
	}
	if g.Context != r.Context || (g.Type != "*" && g.Type != r.Type) || !g.Perms.Has(r.Perms) {
		return false
	}
	for _, p := range g.Params {
		if !slices.Contains(r.Params, p) {
			return false
		}
	}
	return true
}

// intersect returns the largest scope both a and b cover, if any.
func intersect(a, b Scope) (Scope, bool) {
	if a.Kind != KindResource || b.Kind != KindResource || a.Context != b.Context {
		return Scope{}, false
	}
	s := Scope{Kind: KindResource, Context: a.Context}
	switch {
	case a.Type == "*":
		s.Type = b.Type
	case b.Type == "*" || b.Type == a.Type:
		s.Type = a.Type
	default:
		return Scope{}, false
	}
	s.Perms = a.Perms & b.Perms
	if s.Perms == 0 {
		return Scope{}, false
	}
	s.Params = slices.Clone(a.Params)
	for _, p := range b.Params {
		if !slices.Contains(s.Params, p) {
			s.Params = append(s.Params, p)
		}
	}
	s.V1 = a.V1 && b.V1 && s.Params == nil && (s.Perms == PermRead|PermSearch || s.Perms == PermCreate|PermUpdate|PermDelete || s.Perms == PermAll)
	return s, true
}

// Grant returns what can be granted of requested under allowed (a client's registered scopes,
// or what a user consented to): each requested scope that some allowed scope covers, as asked;
// otherwise its intersections with the allowed scopes (patient/*.rs under patient/Observation.rs
// gives patient/Observation.rs). Duplicates are dropped; the order follows requested.
func Grant(requested, allowed Scopes) Scopes {
	var out Scopes
	add := func(s Scope) {
		for _, o := range out {
			if Covers(o, s) {
				return
			}
		}
		out = append(out, s)
	}
	for _, r := range requested {
		covered := false
		for _, a := range allowed {
			if Covers(a, r) {
				covered = true
				break
			}
		}
		if covered {
			add(r)
			continue
		}
		for _, a := range allowed {
			if s, ok := intersect(r, a); ok {
				add(s)
			}
		}
	}
	return out
}
