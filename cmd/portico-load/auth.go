package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"time"
)

// With --auth smart (Portico's default), the load runs as a registered SMART client would: the
// tool registers a confidential app with `portico admin app create` and, before each phase,
// gets an access token from /auth/token with client_credentials (tokens live five minutes),
// which every request then carries.

// loadScopes are the scopes the load needs, and all the app is registered for.
const loadScopes = "system/Observation.cruds system/Patient.cruds system/Communication.rs"

// appCredentials are a registered confidential app's id and secret.
type appCredentials struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

// registerApp registers the load tool's app in the store of dataDir with `portico admin`.
func registerApp(ctx context.Context, bin string, o *options, dataDir string) (appCredentials, error) {
	args := []string{"admin", "app", "create", "--data-dir", dataDir, "--name", "portico-load",
		"--type", "confidential", "--redirect-uri", "http://127.0.0.1/unused", "--scope", loadScopes}
	if o.store != "" {
		args = append(args, "--store", o.store)
	}
	out, err := exec.CommandContext(ctx, bin, args...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, ee.Stderr)
		}
		return appCredentials{}, fmt.Errorf("portico admin app create: %w", err)
	}
	var app appCredentials
	if err := json.Unmarshal(out, &app); err != nil || app.ClientID == "" || app.ClientSecret == "" {
		return appCredentials{}, fmt.Errorf("portico admin app create: unexpected output %.200q (%v)", out, err)
	}
	return app, nil
}

// token gets an access token with client_credentials and returns the Authorization value.
func (app appCredentials) token(ctx context.Context, base string) (string, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {loadScopes}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/auth/token", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(app.ClientID), url.QueryEscape(app.ClientSecret))
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		return "", fmt.Errorf("token endpoint: status %d, error %q (%v)", resp.StatusCode, tok.Error, err)
	}
	return "Bearer " + tok.AccessToken, nil
}
