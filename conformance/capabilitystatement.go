package conformance

import (
	"slices"
	"time"

	"github.com/portico-health/portico/fhir"
)

// CapabilityStatement builds the R4 CapabilityStatement (kind "instance") describing d. Members
// follow the order of the R4 element definitions, so the document reads like the spec's
// examples and is byte-for-byte stable for a given Description.
func CapabilityStatement(d Description) fhir.Value {
	d = d.withDefaults(time.Now())
	in := d.Interactions

	cs := object(
		member("resourceType", fhir.Str("CapabilityStatement")),
		member("name", fhir.Str(d.SoftwareName)),
		member("status", fhir.Str("active")),
		member("date", fhir.Str(d.Date.UTC().Format(time.RFC3339))),
		member("publisher", fhir.Str(d.SoftwareName)),
		member("kind", fhir.Str("instance")),
		member("software", object(
			member("name", fhir.Str(d.SoftwareName)),
			member("version", fhir.Str(d.SoftwareVersion)),
		)),
		member("implementation", object(
			member("description", fhir.Str(d.SoftwareName+" FHIR R4 server")),
			member("url", fhir.Str(d.BaseURL)),
		)),
		member("fhirVersion", fhir.Str("4.0.1")),
		member("format", stringList(d.Formats)),
	)
	if len(d.PatchFormats) > 0 {
		cs.Set("patchFormat", stringList(d.PatchFormats))
	}

	rest := object(member("mode", fhir.Str("server")))
	if d.Security != nil {
		rest.Set("security", securityElement(*d.Security))
	}
	types := slices.Sorted(slices.Values(d.ResourceTypes))
	if len(types) > 0 {
		resources := fhir.Value{Kind: fhir.Array}
		for _, t := range types {
			resources.Arr = append(resources.Arr, resourceEntry(t, in, d))
		}
		rest.Set("resource", resources)
	}
	if len(in.System) > 0 {
		rest.Set("interaction", interactionList(in.System))
	}
	cs.Set("rest", fhir.Value{Kind: fhir.Array, Arr: []fhir.Value{rest}})
	return cs
}

// securityElement is rest.security for a SMART-protected server: the oauth-uris extension
// (only the sub-extensions its definition allows: the official validator rejects others) and
// the SMART-on-FHIR service coding.
func securityElement(s Security) fhir.Value {
	var exts []fhir.Value
	for _, u := range []struct{ name, url string }{{"authorize", s.AuthorizeURL}, {"token", s.TokenURL}} {
		if u.url != "" {
			exts = append(exts, object(member("url", fhir.Str(u.name)), member("valueUri", fhir.Str(u.url))))
		}
	}
	return object(
		member("extension", fhir.Value{Kind: fhir.Array, Arr: []fhir.Value{object(
			member("url", fhir.Str("http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris")),
			member("extension", fhir.Value{Kind: fhir.Array, Arr: exts}),
		)}}),
		member("service", fhir.Value{Kind: fhir.Array, Arr: []fhir.Value{object(
			member("coding", fhir.Value{Kind: fhir.Array, Arr: []fhir.Value{object(
				member("system", fhir.Str("http://terminology.hl7.org/CodeSystem/restful-security-service")),
				member("code", fhir.Str("SMART-on-FHIR")),
				member("display", fhir.Str("SMART-on-FHIR")),
			)}}),
			member("text", fhir.Str("OAuth2 using SMART-on-FHIR profile (see http://docs.smarthealthit.org)")),
		)}}),
	)
}

// resourceEntry is one rest.resource.
func resourceEntry(typ string, in *Interactions, d Description) fhir.Value {
	r := object(
		member("type", fhir.Str(typ)),
		member("profile", fhir.Str("http://hl7.org/fhir/StructureDefinition/"+typ)),
	)
	if len(in.Type) > 0 {
		r.Set("interaction", interactionList(in.Type))
	}
	setCode(&r, "versioning", in.Versioning)
	r.Set("readHistory", boolean(in.ReadHistory))
	r.Set("updateCreate", boolean(in.UpdateCreate))
	r.Set("conditionalCreate", boolean(in.ConditionalCreate))
	setCode(&r, "conditionalRead", in.ConditionalRead)
	r.Set("conditionalUpdate", boolean(in.ConditionalUpdate))
	setCode(&r, "conditionalDelete", in.ConditionalDelete)
	if d.SearchParams != nil {
		setSearchParams(&r, d.SearchParams(typ))
	}
	if d.Operations != nil {
		var ops []fhir.Value
		for _, op := range d.Operations(typ) {
			ops = append(ops, object(member("name", fhir.Str(op.Name)), member("definition", fhir.Str(op.Definition))))
		}
		if len(ops) > 0 {
			r.Set("operation", fhir.Value{Kind: fhir.Array, Arr: ops})
		}
	}
	return r
}

// setSearchParams sets rest.resource.searchParam.
func setSearchParams(r *fhir.Value, params []SearchParam) {
	var list []fhir.Value
	for _, p := range params {
		sp := object(member("name", fhir.Str(p.Name)))
		if p.Definition != "" {
			sp.Set("definition", fhir.Str(p.Definition))
		}
		sp.Set("type", fhir.Str(p.Type))
		list = append(list, sp)
	}
	if len(list) > 0 {
		r.Set("searchParam", fhir.Value{Kind: fhir.Array, Arr: list})
	}
}

func interactionList(codes []string) fhir.Value {
	v := fhir.Value{Kind: fhir.Array}
	for _, c := range codes {
		v.Arr = append(v.Arr, object(member("code", fhir.Str(c))))
	}
	return v
}

// setCode sets a code member unless it is empty: FHIR forbids empty strings.
func setCode(v *fhir.Value, key, code string) {
	if code != "" {
		v.Set(key, fhir.Str(code))
	}
}

func object(members ...fhir.Member) fhir.Value { return fhir.Value{Kind: fhir.Object, Obj: members} }

func member(key string, v fhir.Value) fhir.Member { return fhir.Member{Key: key, Value: v} }

func stringList(list []string) fhir.Value {
	v := fhir.Value{Kind: fhir.Array}
	for _, s := range list {
		v.Arr = append(v.Arr, fhir.Str(s))
	}
	return v
}

func boolean(b bool) fhir.Value {
	if b {
		return fhir.Value{Kind: fhir.Bool, Text: "true"}
	}
	return fhir.Value{Kind: fhir.Bool, Text: "false"}
}
