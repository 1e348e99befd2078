package smart

import (
	"errors"
	"mime"
	"net/http"
	"net/url"
	"time"

	"github.com/portico-health/portico/internal/redact"
	"github.com/portico-health/portico/internal/reqlog"
	"github.com/portico-health/portico/policy"
)

// maxFormBytes bounds a token-endpoint request body.
const maxFormBytes = 64 << 10

// backendTokenTTL is the longest life of a client_credentials token (SMART Backend Services
// recommends no more than five minutes).
const backendTokenTTL = 5 * time.Minute

// tokenResponse is RFC 6749 §5.1 with SMART's launch context.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	Patient      string `json:"patient,omitempty"`
	Encounter    string `json:"encounter,omitempty"`

	NeedPatientBanner *bool         `json:"need_patient_banner,omitempty"`
	SMARTStyleURL     string        `json:"smart_style_url,omitempty"`
	FHIRContext       []fhirContext `json:"fhirContext,omitempty"` // SMART 2.2: references, object form
}

// fhirContext is one entry of the token response's fhirContext (SMART 2.2 app-launch.html#fhircontext).
type fhirContext struct {
	Reference string `json:"reference"`
}

// token answers POST /auth/token (RFC 6749 §3.2).
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	form, err := readForm(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	var resp tokenResponse
	gt := form.Get("grant_type")
	switch gt {
	case "client_credentials":
		resp, err = s.clientCredentials(r, form)
	case "":
		err = withf(ErrInvalidRequest, "grant_type is required")
	case "authorization_code":
		resp, err = s.authorizationCode(r, form)
	case "refresh_token":
		resp, err = s.refreshToken(r, form)
	default:
		err = withf(ErrUnsupportedGrantType, "grant_type %q is not supported", truncate(gt))
	}
	if err != nil {
		s.observeToken(gt, err)
		s.logError(r, "token request refused", err)
		writeError(w, err)
		return
	}
	s.observeToken(gt, nil)
	writeJSON(w, http.StatusOK, resp)
}

// observeToken tells Config.ObserveToken the outcome of a token request: its grant type and
// the OAuth error code answered ("" when a token was issued).
func (s *Server) observeToken(grantType string, err error) {
	if s.cfg.ObserveToken == nil {
		return
	}
	code := ""
	if err != nil {
		code = ErrServerError.Code
		var e *Error
		if errors.As(err, &e) {
			code = e.Code
		}
	}
	s.cfg.ObserveToken(grantType, code)
}

// readForm parses an application/x-www-form-urlencoded POST body; parameters in the URL
// query are refused (RFC 6749 §3.2: credentials must not travel in the URL).
func readForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	if r.Method != http.MethodPost {
		return nil, withf(ErrInvalidRequest, "use POST")
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/x-www-form-urlencoded" {
		return nil, withf(ErrInvalidRequest, "Content-Type must be application/x-www-form-urlencoded")
	}
	if r.URL.RawQuery != "" {
		return nil, withf(ErrInvalidRequest, "parameters belong in the body, not the URL")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return nil, wrap(ErrInvalidRequest, err, "the body is not a valid form")
	}
	for k, v := range r.PostForm {
		if len(v) > 1 {
			return nil, withf(ErrInvalidRequest, "parameter %q given more than once", truncate(k))
		}
	}
	return r.PostForm, nil
}

// clientCredentials is the client_credentials grant (RFC 6749 §4.4) for Backend Services
// (private_key_jwt) and confidential clients (client_secret_basic): only system/ scopes.
func (s *Server) clientCredentials(r *http.Request, form url.Values) (tokenResponse, error) {
	c, method, err := s.authenticateClient(r, form)
	if err != nil {
		return tokenResponse{}, err
	}
	if method == AuthNone || c.Type == ClientPublic || c.Type == ClientResourceServer {
		return tokenResponse{}, withf(ErrUnauthorizedClient, "a %s client cannot use client_credentials", c.Type)
	}
	requested, _, err := policy.ParseScopes(form.Get("scope"))
	if err != nil {
		return tokenResponse{}, wrap(ErrInvalidScope, err, "malformed scope")
	}
	allowed, _, err := policy.ParseScopes(c.Scope)
	if err != nil {
		return tokenResponse{}, err
	}
	var system policy.Scopes
	for _, sc := range allowed {
		if sc.Kind == policy.KindResource && sc.Context == policy.ContextSystem {
			system = append(system, sc)
		}
	}
	if form.Get("scope") == "" {
		requested = system
	}
	granted := policy.Grant(requested, system)
	if len(granted) == 0 {
		return tokenResponse{}, withf(ErrInvalidScope, "none of the requested scopes can be granted to this client")
	}
	ttl := min(s.cfg.AccessTokenTTL, backendTokenTTL)
	token, p, err := s.issueAccessToken(r.Context(), policy.Principal{Scopes: granted, ClientID: c.ID, Subject: c.ID}, ttl)
	if err != nil {
		return tokenResponse{}, err
	}
	s.log.Info("token issued", "grant", "client_credentials", "client_id", c.ID, "auth", method, "jti", p.TokenID)
	reqlog.SetPrincipal(r.Context(), p)
	return tokenResponse{AccessToken: token, TokenType: "Bearer", ExpiresIn: int64(ttl / time.Second), Scope: granted.String()}, nil
}

// logError logs a refused request with its cause; client errors at info, others at error,
// with identifiers redacted (a store failure may quote them), also in the request's log line.
func (s *Server) logError(r *http.Request, msg string, err error) {
	var e *Error
	if errors.Is(err, ErrBusy) {
		s.log.Warn(msg, "path", r.URL.Path, "error", err.Error())
		return
	}
	if errors.As(err, &e) && e.Status < 500 {
		s.log.Info(msg, "path", r.URL.Path, "error", err.Error())
		return
	}
	redacted := redact.Message(err.Error())
	reqlog.SetError(r.Context(), redacted)
	s.log.Error(msg, "path", r.URL.Path, "error", redacted)
}
