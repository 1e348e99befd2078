package conformance

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// created is a resource a check made, as the server answered the create.
type created struct {
	typ, id string
	value   string // its Identifier.value, unique to the run
	resp    *response
}

// create POSTs body, asking for the stored resource back, and requires 201 with a Location
// naming the new id. The resource is deleted after the check. Checks that need a resource to
// work on are skipped when the server does not claim create: black-box, there is no other way
// to get one.
func (s *session) create(ctx context.Context, typ string, body []byte, headers ...string) (*created, error) {
	if err := s.requireType(typ, "create"); err != nil {
		return nil, err
	}
	headers = append([]string{"Prefer", "return=representation"}, headers...)
	r, err := s.do(ctx, http.MethodPost, typ, body, headers...)
	if err != nil {
		return nil, err
	}
	if err := r.want(http.StatusCreated); err != nil {
		return nil, err
	}
	id, _ := parseLocation(r.header.Get("Location"), typ)
	if id == "" {
		return nil, fmt.Errorf("%s: Location %q does not name a %s", r, r.header.Get("Location"), typ)
	}
	s.track(typ, id)
	return &created{typ: typ, id: id, resp: r}, nil
}

// newPatient creates a Patient from patient.json with a fresh identifier, for checks that need
// one to work on; a failure says the check could not get that far.
func (s *session) newPatient(ctx context.Context) (*created, error) {
	value := s.nextValue()
	c, err := s.create(ctx, "Patient", fixture("patient.json", "value", value))
	if err != nil {
		return nil, fmt.Errorf("creating a Patient to work on: %w", err)
	}
	c.value = value
	return c, nil
}

// read GETs typ/id (or a version path) and requires 200 with a resource of that type.
func (s *session) read(ctx context.Context, path, typ string, headers ...string) (*response, obj, error) {
	r, err := s.do(ctx, http.MethodGet, path, nil, headers...)
	if err != nil {
		return nil, nil, err
	}
	if err := r.want(http.StatusOK); err != nil {
		return r, nil, err
	}
	res, err := r.resource(typ)
	return r, res, err
}

// readVersion reads typ/id and returns meta.versionId, for checks that a write did or did not
// happen.
func (s *session) readVersion(ctx context.Context, typ, id string) (string, obj, error) {
	_, res, err := s.read(ctx, typ+"/"+id, typ)
	if err != nil {
		return "", nil, err
	}
	return str(res, "meta", "versionId"), res, nil
}

// wantVersion fails unless typ/id is at version v.
func (s *session) wantVersion(ctx context.Context, typ, id, v string) error {
	got, _, err := s.readVersion(ctx, typ, id)
	if err != nil {
		return err
	}
	if got != v {
		return fmt.Errorf("%s/%s is at version %q, want %q", typ, id, got, v)
	}
	return nil
}

// parseLocation splits a Location header of the form [base]/[type]/[id] or
// [base]/[type]/[id]/_history/[vid] (R4 http.html#create) into id and version.
func parseLocation(loc, typ string) (id, version string) {
	u, err := url.Parse(loc)
	if err != nil {
		return "", ""
	}
	segs := strings.Split(strings.Trim(u.Path, "/"), "/")
	for i := len(segs) - 2; i >= 0; i-- {
		if segs[i] != typ {
			continue
		}
		rest := segs[i+1:]
		switch {
		case len(rest) == 1:
			return rest[0], ""
		case len(rest) == 3 && rest[1] == "_history":
			return rest[0], rest[2]
		}
	}
	return "", ""
}

// identifierQuery is the search that selects resources carrying our identifier value.
func identifierQuery(value string) string {
	return url.Values{"identifier": {identifierSystem + "|" + value}}.Encode()
}

// withID inserts "id" right after resourceType, editing the text so that the rest of the
// fixture stays byte for byte as written.
func withID(data []byte, typ, id string) []byte {
	head := `"resourceType": "` + typ + `",`
	s := string(data)
	if !strings.Contains(s, head) {
		panic("conformance: fixture does not start with " + head)
	}
	return []byte(strings.Replace(s, head, head+` "id": "`+id+`",`, 1))
}

// isInstant reports whether s is a FHIR instant: a full date-time with seconds and a zone.
func isInstant(s string) bool {
	_, err := time.Parse(time.RFC3339Nano, s)
	return err == nil
}
