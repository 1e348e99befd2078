package smart

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/portico-health/portico/internal/clientaddr"
	"github.com/portico-health/portico/policy"

	"github.com/google/uuid"
)

// authorizeParams are the parameters of an authorization request that travel through the
// pages (RFC 6749 §4.1.1, RFC 7636 §4.3, SMART 2.2 app-launch.html#obtain-authorization-code).
var authorizeParams = []string{"response_type", "client_id", "redirect_uri", "scope", "state", "aud",
	"code_challenge", "code_challenge_method", "nonce", "launch"}

// authRequest is a validated authorization request.
type authRequest struct {
	params    url.Values
	client    Client
	redirect  string
	state     string
	requested policy.Scopes  // what was asked, narrowed to what the client may have
	launch    *launchContext // the EHR launch, when the request has a launch handle
}

// pageError is an authorization request so broken that it must not be redirected (unknown
// client, unregistered redirect_uri: RFC 6749 §4.1.2.1).
type pageError struct{ msg string }

func (e pageError) Error() string { return e.msg }

// parseAuthorize validates an authorization request. A pageError is shown to the user; an
// *Error is sent back to the client's redirect_uri.
func (s *Server) parseAuthorize(ctx context.Context, v url.Values) (authRequest, error) {
	ar := authRequest{params: url.Values{}}
	for _, k := range authorizeParams {
		if vs := v[k]; len(vs) > 1 {
			return ar, pageError{fmt.Sprintf("parameter %s given more than once", k)}
		} else if len(vs) == 1 {
			ar.params.Set(k, vs[0])
		}
	}
	c, err := s.registry.Client(ctx, v.Get("client_id"))
	if errors.Is(err, ErrUnknownClient) || err == nil && c.Disabled {
		return ar, pageError{"unknown app"}
	}
	if err != nil {
		return ar, err
	}
	ar.client = c
	ar.redirect = v.Get("redirect_uri")
	if !slices.Contains(c.RedirectURIs, ar.redirect) {
		return ar, pageError{"the redirect_uri is not registered for this app"}
	}
	if err := checkRedirectURI(ar.redirect); err != nil { // registered before the rule
		return ar, pageError{"the app's redirect_uri is not allowed"}
	}
	ar.state = v.Get("state")
	switch {
	case v.Get("response_type") != "code":
		return ar, withf(&Error{Code: "unsupported_response_type", Status: http.StatusBadRequest}, "response_type must be code")
	case ar.state == "":
		return ar, withf(ErrInvalidRequest, "state is required")
	case !audienceMatches(v.Get("aud"), s.audience):
		return ar, withf(ErrInvalidRequest, "aud must be the FHIR base URL %s", s.audience)
	}
	if h := v.Get("launch"); h != "" {
		if ar.launch, err = s.launchFor(ctx, h, c.ID); err != nil {
			return ar, err
		}
	}
	if err := checkChallenge(v.Get("code_challenge"), v.Get("code_challenge_method")); err != nil {
		return ar, wrap(ErrInvalidRequest, nil, err.Error())
	}
	requested, _, err := policy.ParseScopes(v.Get("scope"))
	if err != nil {
		return ar, wrap(ErrInvalidScope, err, "malformed scope")
	}
	allowed, _, err := policy.ParseScopes(c.Scope)
	if err != nil {
		return ar, err
	}
	var userScopes policy.Scopes
	for _, sc := range allowed {
		if sc.Kind == policy.KindLaunch && ar.launch == nil || sc.Kind == policy.KindResource && sc.Context == policy.ContextSystem {
			continue // no system/ scopes for a user's app; launch needs an EHR launch
		}
		userScopes = append(userScopes, sc)
	}
	ar.requested = policy.Grant(requested, userScopes)
	if len(ar.requested) == 0 {
		return ar, withf(ErrInvalidScope, "none of the requested scopes can be granted to this app")
	}
	return ar, nil
}

// authorize answers GET and POST /auth/authorize: the sign-in, patient picker and consent
// pages, then a redirect to the app with a code.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var v url.Values
	switch r.Method {
	case http.MethodGet:
		v = r.URL.Query()
	case http.MethodPost:
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			renderPage(w, http.StatusBadRequest, errorPage, pageData{Title: "Cannot sign in", Error: "The form could not be read."})
			return
		}
		v = r.PostForm
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	ar, err := s.parseAuthorize(ctx, v)
	var pe pageError
	var oe *Error
	switch {
	case errors.As(err, &pe):
		renderPage(w, http.StatusBadRequest, errorPage, pageData{Title: "Cannot sign in", Error: pe.msg})
		return
	case errors.As(err, &oe):
		s.logError(r, "authorization refused", err)
		s.redirectError(w, r, ar, oe)
		return
	case err != nil:
		s.log.Error("authorize", "error", err.Error())
		renderPage(w, http.StatusInternalServerError, errorPage, pageData{Title: "Cannot sign in", Error: "Something went wrong."})
		return
	}
	page := pageData{Action: s.issuer + pathAuthorize, ClientName: ar.client.Name, Params: ar.params}
	step := v.Get("step")
	if step == "" {
		page.Title = "Sign in"
		renderPage(w, http.StatusOK, loginPage, page)
		return
	}
	if r.Method != http.MethodPost {
		renderPage(w, http.StatusBadRequest, errorPage, pageData{Title: "Cannot sign in", Error: "Use the form."})
		return
	}
	// Our own forms come from our own pages. (The authorization request itself, step "", may
	// be POSTed from the app's site: SMART's authorize-post.)
	if err := s.sameOrigin(r); err != nil {
		s.log.Warn("sign-in form sent from another site refused", "client_id", ar.client.ID, "error", err.Error())
		renderPage(w, http.StatusForbidden, errorPage, pageData{Title: "Cannot sign in", Error: "This form was sent from another site."})
		return
	}
	if step == "login" {
		// Counted before the password is hashed (throttle.go): a refused attempt costs no
		// hashing and tells nothing. Any username is counted, known or not.
		username, addr := v.Get("username"), clientaddr.From(r)
		page.Title, page.Username = "Sign in", username
		done, wait := s.login.begin(username, addr)
		if wait > 0 {
			s.log.Warn("sign-in throttled", "client_id", ar.client.ID, "addr", addr)
			page.Error = "Too many failed sign-in attempts. Wait " + waitText(wait) + " and try again."
			w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
			renderPage(w, http.StatusTooManyRequests, loginPage, page)
			return
		}
		u, err := s.registry.CheckPassword(ctx, username, v.Get("password"))
		switch {
		case err == nil:
			done(attemptSucceeded)
		case errors.Is(err, ErrBadPassword):
			done(attemptFailed)
			// Who tried and from where, never the password (unknown usernames too: the same
			// error, and the throttle counts them alike).
			s.log.Warn("sign-in failed", "username", truncate(username), "client_id", ar.client.ID, "addr", addr)
			page.Error = "Wrong username or password."
			renderPage(w, http.StatusUnauthorized, loginPage, page)
			return
		case errors.Is(err, ErrBusy):
			done(attemptVoid)
			s.log.Warn("sign-in refused: every password-hashing slot is busy", "addr", addr)
			page.Error = "Many people are signing in right now. Try again in a moment."
			w.Header().Set("Retry-After", "1")
			renderPage(w, http.StatusServiceUnavailable, loginPage, page)
			return
		default:
			done(attemptVoid)
			s.log.Error("sign-in", "error", err.Error())
			page.Error = "Something went wrong; try again."
			renderPage(w, http.StatusInternalServerError, loginPage, page)
			return
		}
		sess, err := s.signSession(ctx, u, ar)
		if err != nil {
			s.fail(w, err)
			return
		}
		page.Session = sess
		s.afterLogin(w, r, ar, u, page, "")
		return
	}
	sess, err := s.verifySession(ctx, v.Get("session"), ar)
	if err == nil && step == "consent" {
		err = s.useSession(ctx, sess) // the decision ends the sign-in: it cannot be replayed
	}
	if err != nil {
		s.log.Info("sign-in session refused", "client_id", ar.client.ID, "error", err.Error())
		page.Title, page.Error = "Sign in", "Your sign-in expired; sign in again."
		renderPage(w, http.StatusUnauthorized, loginPage, page)
		return
	}
	u := sess.user
	page.Session = v.Get("session")
	switch step {
	case "patient-search":
		s.afterLogin(w, r, ar, u, page, v.Get("q"))
	case "patient":
		s.consent(w, r, ar, u, page, v.Get("patient"))
	case "consent":
		s.decide(w, r, ar, u, v)
	default:
		renderPage(w, http.StatusBadRequest, errorPage, pageData{Title: "Cannot sign in", Error: "Unknown step."})
	}
}

func (s *Server) fail(w http.ResponseWriter, err error) {
	s.log.Error("authorize", "error", err.Error())
	renderPage(w, http.StatusInternalServerError, errorPage, pageData{Title: "Cannot sign in", Error: "Something went wrong."})
}

// needsPatient reports whether the request asks for a patient to be picked.
func (ar authRequest) needsPatient() bool {
	return ar.requested.Has(policy.KindLaunchPatient)
}

// afterLogin shows the patient picker, or goes straight to consent when the user can only
// act for one patient or no patient is asked for.
func (s *Server) afterLogin(w http.ResponseWriter, r *http.Request, ar authRequest, u User, page pageData, q string) {
	ctx := r.Context()
	own, err := s.ownPatient(ctx, u)
	if err != nil {
		s.fail(w, err)
		return
	}
	if ar.launch != nil {
		s.consent(w, r, ar, u, page, ar.launch.Patient)
		return
	}
	if own != "" || !ar.needsPatient() {
		s.consent(w, r, ar, u, page, own)
		return
	}
	patients, err := s.findPatients(ctx, u, q)
	if err != nil {
		s.fail(w, err)
		return
	}
	page.Title, page.Patients, page.Query = "Choose a patient", patients, q
	renderPage(w, http.StatusOK, patientPage, page)
}

// categorySubScopes are the granular choices offered under a whole Observation or Condition
// scope (US Core categories ONC (g)(10) asks for).
var categorySubScopes = map[string][][2]string{
	"Observation": {
		{"http://terminology.hl7.org/CodeSystem/observation-category|laboratory", "Laboratory results"},
		{"http://terminology.hl7.org/CodeSystem/observation-category|vital-signs", "Vital signs"},
		{"http://terminology.hl7.org/CodeSystem/observation-category|social-history", "Social history"},
		{"http://terminology.hl7.org/CodeSystem/observation-category|survey", "Surveys"},
		{"http://hl7.org/fhir/us/core/CodeSystem/us-core-category|sdoh", "Social determinants of health"},
	},
	"Condition": {
		{"http://terminology.hl7.org/CodeSystem/condition-category|problem-list-item", "Problem list"},
		{"http://terminology.hl7.org/CodeSystem/condition-category|encounter-diagnosis", "Encounter diagnoses"},
		{"http://hl7.org/fhir/us/core/CodeSystem/us-core-category|health-concern", "Health concerns"},
	},
}

func scopeLabel(sc policy.Scope) string {
	switch sc.Kind {
	case policy.KindOfflineAccess:
		return "Stay connected after you sign out"
	case policy.KindOnlineAccess:
		return "Stay connected while you are signed in"
	case policy.KindResource:
	default:
		return sc.String()
	}
	what := sc.Type
	if what == "*" {
		what = "all data"
	}
	var verbs []string
	if sc.Perms.Has(policy.PermRead) || sc.Perms.Has(policy.PermSearch) {
		verbs = append(verbs, "read")
	}
	if sc.Perms&(policy.PermCreate|policy.PermUpdate|policy.PermDelete) != 0 {
		verbs = append(verbs, "change")
	}
	whose := map[policy.Context]string{policy.ContextPatient: "of the patient", policy.ContextUser: "you can see", policy.ContextSystem: ""}[sc.Context]
	return strings.TrimSpace(strings.Join(verbs, " and ") + " " + what + " " + whose)
}

// consent shows the consent page for patient pid ("" when no patient context).
func (s *Server) consent(w http.ResponseWriter, r *http.Request, ar authRequest, u User, page pageData, pid string) {
	ctx := r.Context()
	if pid != "" {
		ok, err := s.mayActFor(ctx, u, pid)
		if err != nil {
			s.fail(w, err)
			return
		}
		if !ok && ar.launch != nil {
			s.redirectError(w, r, ar, withf(&Error{Code: "access_denied", Status: http.StatusForbidden}, "the user may not act for the launch patient"))
			return
		}
		if !ok {
			s.afterLogin(w, r, ar, u, page, "")
			return
		}
		if rec, err := s.st.Read(ctx, "Patient", pid); err == nil {
			page.PatientName = patientName(rec.Body)
		} else {
			page.PatientName = "Patient/" + pid
		}
	} else if ar.needsPatient() {
		s.afterLogin(w, r, ar, u, page, "")
		return
	}
	page.Title, page.Patient = "Share your data?", pid
	for _, sc := range ar.requested {
		switch sc.Kind {
		case policy.KindResource, policy.KindOfflineAccess, policy.KindOnlineAccess:
			ch := scopeChoice{Scope: sc.String(), Label: scopeLabel(sc)}
			if sc.Kind == policy.KindResource && len(sc.Params) == 0 && sc.Perms.Has(policy.PermRead) {
				for _, sub := range categorySubScopes[sc.Type] {
					ch.Subs = append(ch.Subs, scopeChoice{Scope: sc.String() + "?category=" + sub[0], Label: sub[1]})
				}
			}
			page.Choices = append(page.Choices, ch)
		default:
			page.Always = append(page.Always, sc.String())
		}
	}
	renderPage(w, http.StatusOK, consentPage, page)
}

// decide handles the consent form: a code for what was ticked, or access_denied.
func (s *Server) decide(w http.ResponseWriter, r *http.Request, ar authRequest, u User, v url.Values) {
	ctx := r.Context()
	if v.Get("decision") != "allow" {
		s.redirectError(w, r, ar, withf(&Error{Code: "access_denied", Status: http.StatusForbidden}, "the user denied access"))
		return
	}
	pid, encounter := v.Get("patient"), ""
	if ar.launch != nil {
		pid, encounter = ar.launch.Patient, ar.launch.Encounter
	}
	if pid != "" {
		if ok, err := s.mayActFor(ctx, u, pid); err != nil {
			s.fail(w, err)
			return
		} else if !ok {
			s.redirectError(w, r, ar, withf(&Error{Code: "access_denied", Status: http.StatusForbidden}, "the user may not act for that patient"))
			return
		}
	} else if ar.needsPatient() {
		s.redirectError(w, r, ar, withf(ErrInvalidRequest, "no patient chosen"))
		return
	}
	var chosen policy.Scopes
	for _, sc := range ar.requested {
		switch sc.Kind {
		case policy.KindResource, policy.KindOfflineAccess, policy.KindOnlineAccess:
		default:
			chosen = append(chosen, sc) // identity and launch scopes are not optional
		}
	}
	ticked, _, err := policy.ParseScopes(strings.Join(v["grant"], " "))
	if err != nil {
		s.redirectError(w, r, ar, wrap(ErrInvalidScope, err, "malformed scope"))
		return
	}
	chosen = policy.Grant(append(chosen, ticked...), ar.requested) // nothing beyond what was asked
	if len(chosen) == 0 {
		s.redirectError(w, r, ar, withf(ErrInvalidScope, "nothing was granted"))
		return
	}
	g := grant{
		GrantID: uuid.NewString(), ClientID: ar.client.ID, UserID: u.ID, FHIRUser: u.FHIRUser,
		Scope: chosen.String(), Patient: pid, Encounter: encounter, Standalone: pid != "" && ar.launch == nil, Nonce: ar.params.Get("nonce"),
		RedirectURI: ar.redirect, Challenge: ar.params.Get("code_challenge"), Expires: s.cfg.Now().Add(authCodeTTL),
	}
	code, err := s.putGrant(ctx, TypeAuthCode, g)
	if err != nil {
		s.fail(w, err)
		return
	}
	s.log.Info("authorization code issued", "client_id", ar.client.ID, "grant_id", g.GrantID)
	s.redirect(w, r, ar, url.Values{"code": {code}})
}

// redirectError sends an error to the app's redirect_uri (RFC 6749 §4.1.2.1).
func (s *Server) redirectError(w http.ResponseWriter, r *http.Request, ar authRequest, e *Error) {
	q := url.Values{"error": {e.Code}}
	if e.Description != "" {
		q.Set("error_description", e.Description)
	}
	s.redirect(w, r, ar, q)
}

// redirect sends the browser to the app with q, the state and the issuer (RFC 9207).
func (s *Server) redirect(w http.ResponseWriter, r *http.Request, ar authRequest, q url.Values) {
	u, err := url.Parse(ar.redirect)
	if err != nil {
		s.fail(w, err)
		return
	}
	all := u.Query()
	for k, vs := range q {
		all[k] = vs
	}
	if ar.state != "" {
		all.Set("state", ar.state)
	}
	all.Set("iss", s.issuer)
	u.RawQuery = all.Encode()
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}
