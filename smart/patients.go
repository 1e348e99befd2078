package smart

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/guard"
	"github.com/portico-health/portico/policy"
	"github.com/portico-health/portico/store"
)

// ownPatient is the one patient a user acts for: themselves, or for a RelatedPerson the
// patient it relates to. "" for practitioners, who pick.
func (s *Server) ownPatient(ctx context.Context, u User) (string, error) {
	typ, id, _ := strings.Cut(u.FHIRUser, "/")
	switch typ {
	case "Patient":
		return id, nil
	case "RelatedPerson":
		rec, err := s.st.Read(ctx, "RelatedPerson", id)
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrGone) {
			return "", nil // the relationship ended: acts for no patient
		}
		if err != nil {
			return "", fmt.Errorf("smart: %s: %w", u.FHIRUser, err)
		}
		var rp struct {
			Patient struct{ Reference string } `json:"patient"`
		}
		if err := json.Unmarshal(rec.Body, &rp); err != nil {
			return "", err
		}
		ptyp, pid, ok := fhir.LiteralReference(rp.Patient.Reference, s.cfg.BaseURL)
		if !ok || ptyp != "Patient" {
			return "", nil // relates to no patient: acts for none
		}
		return pid, nil
	}
	return "", nil
}

// pickerView is the FHIR data as user u may see Patients with user/ scopes: the policy's
// reach for the user's kind (a practitioner's organizations' patients, a Person's linked
// patients), so that the picker offers exactly the patients the token will reach.
func (s *Server) pickerView(u User) *guard.View {
	return s.viewAs(policy.Principal{FHIRUser: u.FHIRUser, Scopes: pickerScopes})
}

var pickerScopes, _, _ = policy.ParseScopes("user/Patient.rs")

// mayActFor reports whether u may choose patient id.
func (s *Server) mayActFor(ctx context.Context, u User, id string) (bool, error) {
	own, err := s.ownPatient(ctx, u)
	if err != nil || own != "" {
		return own == id, err
	}
	_, err = s.pickerView(u).Read(ctx, "Patient", id)
	var denied *policy.DeniedError
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrGone) || errors.As(err, &denied) {
		return false, nil
	}
	return err == nil, err
}

// findPatients lists up to 50 of the patients u may pick, by name when q is given.
func (s *Server) findPatients(ctx context.Context, u User, q string) ([]patientChoice, error) {
	query := store.Query{Types: []string{"Patient"}, Count: 50}
	if q = strings.TrimSpace(q); q != "" {
		query.Where = []store.Clause{{Param: "name", Kind: store.KindString, Values: []store.Value{{Text: fhir.NormalizeString(q)}}}}
	}
	page, err := s.pickerView(u).Search(ctx, query)
	var denied *policy.DeniedError
	if errors.As(err, &denied) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([]patientChoice, 0, len(page.Records))
	for _, rec := range page.Records {
		out = append(out, patientChoice{ID: rec.ID, Name: patientName(rec.Body)})
	}
	return out, nil
}

// patientName is a display name from a Patient's JSON: its first name's text, or given and
// family names.
func patientName(body []byte) string {
	var p struct {
		Name []struct {
			Text   string   `json:"text"`
			Family string   `json:"family"`
			Given  []string `json:"given"`
		} `json:"name"`
	}
	if json.Unmarshal(body, &p) != nil || len(p.Name) == 0 {
		return "(no name)"
	}
	n := p.Name[0]
	if n.Text != "" {
		return n.Text
	}
	return strings.TrimSpace(strings.Join(append(n.Given, n.Family), " "))
}
