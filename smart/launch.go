package smart

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/policy"

	"github.com/portico-health/portico/store"
)

// TypeLaunch records EHR launch contexts, by the SHA-256 of their handle.
const TypeLaunch = "PorticoLaunch"

// launchTTL is how long a launch handle can start an authorization.
const launchTTL = 5 * time.Minute

// launchContext is what an EHR launch hands the app (SMART 2.2 app-launch.html#launch-app-ehr-launch).
type launchContext struct {
	Patient   string    `json:"patient"`
	Encounter string    `json:"encounter,omitempty"`
	ClientID  string    `json:"client_id,omitempty"` // the only app that may use it, when set
	IssuedBy  string    `json:"issued_by"`           // the EHR integration's client
	Expires   time.Time `json:"expires"`
}

// launch answers POST /auth/launch: an EHR integration, with a Portico access token whose
// scopes allow reading Patient (e.g. system/Patient.rs), gets a launch handle carrying a patient
// and optionally an encounter, to pass to an app as its launch parameter. Form parameters:
// patient (required), encounter, client_id (restrict the handle to one app). The handle works
// for five minutes; its records are kept as hashes like codes.
func (s *Server) launch(w http.ResponseWriter, r *http.Request) {
	p, err := s.Authenticate(r)
	if err != nil {
		if errors.Is(err, ErrNoToken) {
			err = &Error{Code: ErrInvalidToken.Code, Description: "a bearer token is required", Status: http.StatusUnauthorized, Cause: err}
		}
		w.Header().Set("WWW-Authenticate", Challenge(err, s.issuer))
		writeError(w, err)
		return
	}
	// A launch is the EHR's: a patient's or carer's app has none to make (and each one
	// writes a record).
	if kind, _, _ := strings.Cut(p.FHIRUser, "/"); kind == "Patient" || kind == "RelatedPerson" || kind == "Person" || p.Patient != "" {
		writeError(w, withf(ErrInsufficientScope, "an EHR launch is made by the EHR's integration or a clinician's app, not by a token acting for a patient"))
		return
	}
	// Each launch writes a record: one token's launches take from its client's and user's
	// budget of --auth-rate-limit (400 a second from one patient's token, blind attack,
	// round 8).
	if err := s.limitClient(p.ClientID + "\x00" + p.Subject); err != nil {
		writeError(w, err)
		return
	}
	form, err := readForm(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	ctx := r.Context()
	lc := launchContext{Patient: form.Get("patient"), Encounter: form.Get("encounter"), ClientID: form.Get("client_id"),
		IssuedBy: p.ClientID, Expires: s.cfg.Now().Add(launchTTL)}
	if lc.Patient == "" {
		writeError(w, withf(ErrInvalidRequest, "patient is required"))
		return
	}
	// The EHR's token must reach the patient: read it as that token would.
	if _, err := s.viewAs(p).Read(ctx, "Patient", lc.Patient); err != nil {
		var de *policy.DeniedError
		switch {
		case errors.As(err, &de):
			writeError(w, withf(ErrInsufficientScope, "%s", de.Reason))
		case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrGone):
			writeError(w, withf(ErrInvalidRequest, "Patient/%s does not exist", lc.Patient))
		default:
			s.logError(r, "launch", err)
			writeError(w, err)
		}
		return
	}
	if lc.Encounter != "" {
		if err := s.encounterOf(ctx, p, lc.Patient, lc.Encounter); err != nil {
			if !errors.Is(err, ErrInvalidRequest) {
				s.logError(r, "launch", err)
			}
			writeError(w, err)
			return
		}
	}
	if lc.ClientID != "" {
		if _, err := s.registry.Client(ctx, lc.ClientID); err != nil {
			writeError(w, wrap(ErrInvalidRequest, err, "unknown client_id"))
			return
		}
	}
	handle, err := randomToken()
	if err == nil {
		var body []byte
		if body, err = json.Marshal(lc); err == nil {
			err = create(ctx, s.st, TypeLaunch, tokenID(handle), body, nil)
		}
	}
	if err != nil {
		s.logError(r, "launch", err)
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"launch": handle, "expires_in": int64(launchTTL / time.Second)})
}

// encounterOf checks that the Encounter exists as the EHR's token sees it (one it may not read
// is as missing as one that does not exist) and that its subject is the launch's patient.
func (s *Server) encounterOf(ctx context.Context, p policy.Principal, patient, id string) error {
	rec, err := s.viewAs(p).Read(ctx, "Encounter", id)
	var de *policy.DeniedError
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrGone), errors.As(err, &de):
		return withf(ErrInvalidRequest, "Encounter/%s does not exist", id)
	case err != nil:
		return err
	}
	var enc struct {
		Subject struct {
			Reference string `json:"reference"`
		} `json:"subject"`
	}
	if err := json.Unmarshal(rec.Body, &enc); err != nil {
		return err
	}
	if typ, sid, ok := fhir.LiteralReference(enc.Subject.Reference, s.audience); !ok || typ != "Patient" || sid != patient {
		return withf(ErrInvalidRequest, "Encounter/%s is not an encounter of Patient/%s", id, patient)
	}
	return nil
}

// launchFor returns the context of a launch handle for client clientID.
func (s *Server) launchFor(ctx context.Context, handle, clientID string) (*launchContext, error) {
	if len(handle) > 512 {
		return nil, withf(ErrInvalidRequest, "unknown or expired launch")
	}
	rec, err := s.st.Read(ctx, TypeLaunch, tokenID(handle))
	if errors.Is(err, store.ErrNotFound) {
		return nil, withf(ErrInvalidRequest, "unknown or expired launch")
	}
	if err != nil {
		return nil, err
	}
	var lc launchContext
	if err := json.Unmarshal(rec.Body, &lc); err != nil {
		return nil, err
	}
	if !s.cfg.Now().Before(lc.Expires) || lc.ClientID != "" && lc.ClientID != clientID {
		return nil, withf(ErrInvalidRequest, "unknown or expired launch")
	}
	return &lc, nil
}
