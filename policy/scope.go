package policy

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Kind says what a scope is about.
type Kind uint8

const (
	KindResource        Kind = iota + 1 // patient/Observation.rs, user/*.read, system/*.*
	KindOpenID                          // openid
	KindFHIRUser                        // fhirUser
	KindProfile                         // profile (SMART v1's way to ask for the user)
	KindLaunch                          // launch (EHR launch)
	KindLaunchPatient                   // launch/patient (standalone: pick a patient)
	KindLaunchEncounter                 // launch/encounter
	KindOfflineAccess                   // offline_access (refresh token that outlives the session)
	KindOnlineAccess                    // online_access
)

// Context is the prefix of a resource scope: whose data it reaches (SMART 2.2, scopes-and-launch-context).
type Context uint8

const (
	ContextPatient Context = iota + 1 // patient/: the launch patient's compartment
	ContextUser                       // user/: what the signed-in user may see
	ContextSystem                     // system/: a backend service, no user
)

func (c Context) String() string {
	switch c {
	case ContextPatient:
		return "patient"
	case ContextUser:
		return "user"
	case ContextSystem:
		return "system"
	}
	return "?"
}

// Perm is a set of v2 permissions, c r u d s.
type Perm uint8

const (
	PermCreate Perm = 1 << iota
	PermRead
	PermUpdate
	PermDelete
	PermSearch

	PermAll = PermCreate | PermRead | PermUpdate | PermDelete | PermSearch
)

const permLetters = "cruds"

// String writes the permissions as v2 letters in their canonical order ("rs", "cruds").
func (p Perm) String() string {
	var b strings.Builder
	for i := range len(permLetters) {
		if p&(1<<i) != 0 {
			b.WriteByte(permLetters[i])
		}
	}
	return b.String()
}

// Has reports whether p includes every permission of q.
func (p Perm) Has(q Perm) bool { return p&q == q }

// Param is one granular restriction of a v2 scope (the query after '?'): a token search
// parameter and the value it must match, e.g. category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory.
type Param struct {
	Name      string
	System    string
	Code      string
	HasSystem bool // the value had a '|': System applies ("" then means "no system")
}

// String writes the parameter as it appears in a scope.
func (p Param) String() string {
	if p.HasSystem {
		return p.Name + "=" + escapeValue(p.System) + "|" + escapeValue(p.Code)
	}
	return p.Name + "=" + escapeValue(p.Code)
}

// escapeValue percent-encodes what would change the meaning of a scope's query: the
// separators, '%', spaces and control characters. URLs stay readable.
func escapeValue(s string) string {
	var b strings.Builder
	for i := range len(s) {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("%&=|?#", c) >= 0 {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// Scope is one parsed scope. For KindResource, Context, Type ("*" for any), Perms and Params
// are set; V1 records that it was written in the v1 syntax (.read, .write, .*).
type Scope struct {
	Kind    Kind
	Context Context
	Type    string
	Perms   Perm
	Params  []Param // AND: a resource must match every one
	V1      bool
}

// ErrScope is wrapped by every scope syntax error.
var ErrScope = errors.New("policy: malformed scope")

// maxScopeLen bounds one scope; longer ones are refused before any parsing.
const maxScopeLen = 512

// ParseScope parses one scope. Scopes that are not SMART's (an unknown word such as "email")
// return ErrScope too; ParseScopes sorts those out.
func ParseScope(s string) (Scope, error) {
	if s == "" || len(s) > maxScopeLen {
		return Scope{}, fmt.Errorf("%w: %q", ErrScope, truncate(s))
	}
	switch s {
	case "openid":
		return Scope{Kind: KindOpenID}, nil
	case "fhirUser":
		return Scope{Kind: KindFHIRUser}, nil
	case "profile":
		return Scope{Kind: KindProfile}, nil
	case "launch":
		return Scope{Kind: KindLaunch}, nil
	case "launch/patient":
		return Scope{Kind: KindLaunchPatient}, nil
	case "launch/encounter":
		return Scope{Kind: KindLaunchEncounter}, nil
	case "offline_access":
		return Scope{Kind: KindOfflineAccess}, nil
	case "online_access":
		return Scope{Kind: KindOnlineAccess}, nil
	}
	prefix, rest, ok := strings.Cut(s, "/")
	if !ok {
		return Scope{}, fmt.Errorf("%w: %q is not a SMART scope", ErrScope, truncate(s))
	}
	sc := Scope{Kind: KindResource}
	switch prefix {
	case "patient":
		sc.Context = ContextPatient
	case "user":
		sc.Context = ContextUser
	case "system":
		sc.Context = ContextSystem
	default:
		return Scope{}, fmt.Errorf("%w: %q: context must be patient/, user/ or system/", ErrScope, truncate(s))
	}
	rest, query, hasQuery := strings.Cut(rest, "?")
	typ, perms, ok := strings.Cut(rest, ".")
	if !ok {
		return Scope{}, fmt.Errorf("%w: %q: missing .permissions", ErrScope, truncate(s))
	}
	if !validType(typ) {
		return Scope{}, fmt.Errorf("%w: %q: resource type %q", ErrScope, truncate(s), typ)
	}
	sc.Type = typ
	switch perms {
	case "read":
		sc.Perms, sc.V1 = PermRead|PermSearch, true
	case "write":
		sc.Perms, sc.V1 = PermCreate|PermUpdate|PermDelete, true
	case "*":
		sc.Perms, sc.V1 = PermAll, true
	default:
		p, err := parsePerms(perms)
		if err != nil {
			return Scope{}, fmt.Errorf("%w: %q: %v", ErrScope, truncate(s), err)
		}
		sc.Perms = p
	}
	if hasQuery {
		if sc.V1 {
			return Scope{}, fmt.Errorf("%w: %q: v1 scopes take no query", ErrScope, truncate(s))
		}
		params, err := parseParams(query)
		if err != nil {
			return Scope{}, fmt.Errorf("%w: %q: %v", ErrScope, truncate(s), err)
		}
		sc.Params = params
	}
	return sc, nil
}

// parsePerms reads v2 letters: a non-empty subsequence of "cruds", each at most once, in order.
func parsePerms(s string) (Perm, error) {
	if s == "" {
		return 0, errors.New("no permissions")
	}
	var p Perm
	next := 0
	for i := range len(s) {
		j := strings.IndexByte(permLetters[next:], s[i])
		if j < 0 {
			return 0, fmt.Errorf("permissions %q: letters must be c, r, u, d, s in that order, each once", s)
		}
		next += j + 1
		p |= 1 << (next - 1)
	}
	return p, nil
}

// parseParams reads the granular part of a v2 scope: name=value pairs joined by '&', each a
// token (system|code, |code, or code).
func parseParams(q string) ([]Param, error) {
	if q == "" {
		return nil, errors.New("empty query")
	}
	var out []Param
	for part := range strings.SplitSeq(q, "&") {
		name, value, ok := strings.Cut(part, "=")
		if !ok || name == "" || value == "" {
			return nil, fmt.Errorf("query part %q: want name=value", part)
		}
		v, err := url.PathUnescape(value)
		if err != nil {
			return nil, fmt.Errorf("query part %q: %v", part, err)
		}
		if !validParamName(name) {
			return nil, fmt.Errorf("query parameter name %q", name)
		}
		p := Param{Name: name, Code: v}
		if sys, code, ok := strings.Cut(v, "|"); ok {
			p.System, p.Code, p.HasSystem = sys, code, true
		}
		if p.Code == "" {
			return nil, fmt.Errorf("query part %q: empty code", part)
		}
		out = append(out, p)
	}
	return out, nil
}

func validType(t string) bool {
	if t == "*" {
		return true
	}
	if t == "" || t[0] < 'A' || t[0] > 'Z' {
		return false
	}
	for i := range len(t) {
		c := t[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func validParamName(n string) bool {
	for i := range len(n) {
		c := n[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return n != ""
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// String writes the scope in its canonical form: v1 scopes as .read/.write/.*, v2 scopes with
// their letters in order and their query.
func (s Scope) String() string {
	switch s.Kind {
	case KindOpenID:
		return "openid"
	case KindFHIRUser:
		return "fhirUser"
	case KindProfile:
		return "profile"
	case KindLaunch:
		return "launch"
	case KindLaunchPatient:
		return "launch/patient"
	case KindLaunchEncounter:
		return "launch/encounter"
	case KindOfflineAccess:
		return "offline_access"
	case KindOnlineAccess:
		return "online_access"
	case KindResource:
	default:
		return ""
	}
	var b strings.Builder
	b.WriteString(s.Context.String())
	b.WriteByte('/')
	b.WriteString(s.Type)
	b.WriteByte('.')
	switch {
	case s.V1 && s.Perms == PermRead|PermSearch:
		b.WriteString("read")
	case s.V1 && s.Perms == PermCreate|PermUpdate|PermDelete:
		b.WriteString("write")
	case s.V1 && s.Perms == PermAll:
		b.WriteString("*")
	default:
		b.WriteString(s.Perms.String())
	}
	for i, p := range s.Params {
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// Scopes is a parsed scope string.
type Scopes []Scope

// ParseScopes splits a space-separated scope string (RFC 6749 §3.3). Scopes Portico does not
// know are returned apart, as written, so that a server can ignore them as OAuth allows; a
// malformed SMART scope (patient/Observation.sr) is an error.
func ParseScopes(s string) (known Scopes, unknown []string, err error) {
	for f := range strings.FieldsSeq(s) {
		sc, perr := ParseScope(f)
		if perr == nil {
			known = append(known, sc)
			continue
		}
		if looksSMART(f) {
			return nil, nil, perr
		}
		unknown = append(unknown, f)
	}
	return known, unknown, nil
}

// looksSMART reports whether a word is meant as a SMART resource scope.
func looksSMART(s string) bool {
	return strings.HasPrefix(s, "patient/") || strings.HasPrefix(s, "user/") || strings.HasPrefix(s, "system/")
}

// String joins the scopes with spaces.
func (ss Scopes) String() string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = s.String()
	}
	return strings.Join(parts, " ")
}

// Has reports whether ss includes a scope of kind k.
func (ss Scopes) Has(k Kind) bool {
	for _, s := range ss {
		if s.Kind == k {
			return true
		}
	}
	return false
}
