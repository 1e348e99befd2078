package conformance

import (
	"context"
	"net/http"
	"slices"
)

// serverCaps is what the server's CapabilityStatement claims. The suite uses it to skip what a
// server does not claim, rather than fail it: a server that says it has no PATCH is honest, not
// broken. What a server claims, it is held to.
type serverCaps struct {
	resources    map[string]obj // rest.resource by type
	system       []string       // rest.interaction codes
	formats      []string       // format
	patchFormats []string       // patchFormat
}

// loadCapabilities reads [base]/metadata. When that fails, it returns nil and every feature is
// assumed claimed, so that the checks run and show what works instead of all being skipped;
// the capabilities section reports the failure itself.
func (s *session) loadCapabilities(ctx context.Context) *serverCaps {
	r, err := s.do(ctx, http.MethodGet, "metadata", nil)
	if err != nil || r.status != http.StatusOK {
		return nil
	}
	cs, err := r.resource("CapabilityStatement")
	if err != nil {
		return nil
	}
	caps := &serverCaps{resources: map[string]obj{}, formats: strs(cs, "format"), patchFormats: strs(cs, "patchFormat")}
	for _, rest := range list(cs, "rest") {
		if str(rest, "mode") != "server" {
			continue
		}
		for _, res := range list(rest, "resource") {
			if o, ok := res.(obj); ok {
				caps.resources[str(o, "type")] = o
			}
		}
		for _, in := range list(rest, "interaction") {
			caps.system = append(caps.system, str(in, "code"))
		}
	}
	return caps
}

// requireType returns a skip error unless the server claims every interaction for typ.
func (s *session) requireType(typ string, interactions ...string) error {
	if s.caps == nil {
		return nil
	}
	res, ok := s.caps.resources[typ]
	if !ok {
		return skipf("the CapabilityStatement does not list %s", typ)
	}
	var codes []string
	for _, in := range list(res, "interaction") {
		codes = append(codes, str(in, "code"))
	}
	for _, want := range interactions {
		if !slices.Contains(codes, want) {
			return skipf("the CapabilityStatement does not claim %s for %s", want, typ)
		}
	}
	return nil
}

// requireSystem returns a skip error unless the server claims a system interaction.
func (s *session) requireSystem(interaction string) error {
	if s.caps == nil || slices.Contains(s.caps.system, interaction) {
		return nil
	}
	return skipf("the CapabilityStatement does not claim %s", interaction)
}

// requireFlag returns a skip error unless the server claims a rest.resource flag for typ:
// a boolean (updateCreate, conditionalCreate, ...) that is true, or a code
// (conditionalRead, conditionalDelete) other than not-supported, and one of allowed if given.
func (s *session) requireFlag(typ, flag string, allowed ...string) error {
	if s.caps == nil {
		return nil
	}
	v := s.caps.resources[typ][flag]
	switch v := v.(type) {
	case bool:
		if v {
			return nil
		}
	case string:
		if v != "not-supported" && (len(allowed) == 0 || slices.Contains(allowed, v)) {
			return nil
		}
	}
	if len(allowed) > 0 {
		return skipf("the CapabilityStatement does not claim %s %v for %s", flag, allowed, typ)
	}
	return skipf("the CapabilityStatement does not claim %s for %s", flag, typ)
}

// strs is the array of strings at key.
func strs(o obj, key string) []string {
	var out []string
	for _, v := range list(o, key) {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
