package fhir

import "strings"

// reference checks Reference.reference (and Reference.type) against the resource types the
// element allows (its targetProfiles). References to other servers are checked only when they
// have the RESTful form [base/]Type/id: that form is what says which type they point to.
func (v *validator) reference(val *Value, tp *ElementType, rc resourceContext) {
	if t := val.Get("type"); t != nil && t.Kind == String && IsResourceType(t.Text) && !targetAllowed(t.Text, tp.Targets) {
		v.report("value", "type", "a reference to %s is not allowed here (allowed: %s)", t.Text, strings.Join(tp.Targets, ", "))
	}
	ref := val.Get("reference")
	if ref == nil || ref.Kind != String || ref.Text == "" {
		return // wrong JSON types were reported by the generic walk
	}
	s := ref.Text
	if id, local := strings.CutPrefix(s, "#"); local {
		v.localReference(id, tp, rc)
		return
	}
	typ, problem := referenceType(s)
	switch {
	case problem != "":
		v.report("value", "reference", "%s is not a valid reference: %s", quote(s), problem)
	case typ != "" && !targetAllowed(typ, tp.Targets):
		v.report("value", "reference", "a reference to %s is not allowed here (allowed: %s)", typ, strings.Join(tp.Targets, ", "))
	}
}

// localReference resolves "#id" against the contained resources of the resource being
// validated (invariant ref-1); "#" alone is a contained resource pointing back at its container.
func (v *validator) localReference(id string, tp *ElementType, rc resourceContext) {
	if id == "" {
		if !rc.contained {
			v.report("invariant", "reference", "\"#\" refers to the containing resource, so it is only allowed inside a contained resource")
		}
		return
	}
	if rc.root != nil {
		if list := rc.root.Get("contained"); list != nil && list.Kind == Array {
			for i := range list.Arr {
				c := &list.Arr[i]
				if cid := c.Get("id"); cid != nil && cid.Kind == String && cid.Text == id {
					if rt := c.Get("resourceType"); rt != nil && rt.Kind == String && IsResourceType(rt.Text) && !targetAllowed(rt.Text, tp.Targets) {
						v.report("value", "reference", "#%s is a %s, which is not allowed here (allowed: %s)", id, rt.Text, strings.Join(tp.Targets, ", "))
					}
					return
				}
			}
		}
	}
	v.report("invariant", "reference", "there is no contained resource with id %s (ref-1)", quote(id))
}

// referenceType finds the resource type a literal reference names. It returns "" with no
// problem for absolute references that are not RESTful FHIR URLs (urn:uuid:, urn:oid:, other
// servers' URLs), and a problem for relative references that are not Type/id,
// Type/id/_history/vid, or a conditional reference Type?search (allowed in transactions).
func referenceType(s string) (typ, problem string) {
	if scheme, rest, ok := strings.Cut(s, ":"); ok && !strings.ContainsAny(scheme, "/?") {
		if scheme != "http" && scheme != "https" {
			return "", ""
		}
		base, typ, id, vid := splitRESTful(rest)
		if base != "" && IsResourceType(typ) && validID(id) && (vid == "" || validID(vid)) {
			return typ, ""
		}
		return "", ""
	}
	if t, _, ok := strings.Cut(s, "?"); ok && !strings.Contains(t, "/") {
		if !IsResourceType(t) {
			return "", quote(t) + " is not a resource type"
		}
		return t, ""
	}
	base, typ, id, vid := splitRESTful(s)
	switch {
	case base != "" || typ == "":
		return "", "expected Type/id"
	case !IsResourceType(typ):
		return "", quote(typ) + " is not a resource type"
	case !validID(id):
		return "", quote(id) + " is not a valid id"
	case strings.Contains(s, "/_history/") && !validID(vid):
		return "", quote(vid) + " is not a valid version id"
	}
	return typ, ""
}

// splitRESTful splits [base/]Type/id[/_history/vid]; typ is "" when there is no slash.
func splitRESTful(s string) (base, typ, id, vid string) {
	if i := strings.LastIndex(s, "/_history/"); i >= 0 {
		s, vid = s[:i], s[i+len("/_history/"):]
	}
	i := strings.LastIndexByte(s, '/')
	if i < 0 {
		return "", "", "", vid
	}
	s, id = s[:i], s[i+1:]
	if j := strings.LastIndexByte(s, '/'); j >= 0 {
		return s[:j], s[j+1:], id, vid
	}
	return "", s, id, vid
}

func validID(id string) bool { return id != "" && idProblem(id) == "" }

// targetAllowed reports whether a reference to typ satisfies the targets ("Resource" and
// "DomainResource" allow any type derived from them; no targets allows anything).
func targetAllowed(typ string, targets []string) bool {
	if len(targets) == 0 {
		return true
	}
	for _, t := range targets {
		if t == typ || t == "Resource" || t == "DomainResource" && LookupType(typ).Base == "DomainResource" {
			return true
		}
	}
	return false
}

// codedBinding checks a Coding or CodeableConcept bound to a required value set: a Coding must
// be one of its codes; a CodeableConcept must have at least one coding that is.
func (v *validator) codedBinding(val *Value, el *Element, def *TypeDef) {
	vs := el.Binding
	if vs == nil || !vs.Enumerable {
		return
	}
	inSet := func(coding *Value) bool {
		sys, code := coding.Get("system"), coding.Get("code")
		return sys != nil && code != nil && sys.Kind == String && code.Kind == String && vs.Contains(sys.Text, code.Text)
	}
	if def.Name == "Coding" {
		if !inSet(val) {
			v.report("code-invalid", "", "the coding is not one of %s (a required binding)", vs.URL)
		}
		return
	}
	if codings := val.Get("coding"); codings != nil && codings.Kind == Array {
		for i := range codings.Arr {
			if inSet(&codings.Arr[i]) {
				return
			}
		}
	}
	v.report("code-invalid", "", "no coding is from %s (a required binding)", vs.URL)
}
