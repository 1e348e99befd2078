package smart

import (
	"context"
	"errors"

	"github.com/portico-health/portico/store"
)

// errNotLive: the client or the user behind a token, code, refresh token or sign-in session
// is unknown or disabled.
var errNotLive = errors.New("client or user unknown or disabled")

// checkLive is the one check that a client, and the user when there is one (userID != ""),
// may still act, for the launch patient when there is one: every path that honours something
// issued earlier (access tokens and their introspection, codes, refresh tokens, sign-in
// sessions) calls it, so disabling either one, or ending the relationship that let the user
// act for the patient (a RelatedPerson deleted or pointed elsewhere, a patient who left the
// practitioner's organizations), stops all of them. errNotLive, or the store's error.
func (s *Server) checkLive(ctx context.Context, clientID, userID, patient string) error {
	ctx = store.Internal(ctx) // every request waits for it: ahead of clients' searches
	c, err := s.registry.Client(ctx, clientID)
	switch {
	case errors.Is(err, ErrUnknownClient):
		return errNotLive
	case err != nil:
		return err
	case c.Disabled:
		return errNotLive
	}
	if userID == "" {
		return nil
	}
	u, err := s.registry.UserByID(ctx, userID)
	switch {
	case errors.Is(err, ErrUnknownUser):
		return errNotLive
	case err != nil:
		return err
	case u.Disabled:
		return errNotLive
	}
	if patient == "" {
		return nil
	}
	ok, err := s.mayActFor(ctx, u, patient)
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrGone):
		return errNotLive // the RelatedPerson that related them is gone
	case err != nil:
		return err
	case !ok:
		return errNotLive
	}
	return nil
}

// tokenUser is the user an access token acts for: its sub when a user gave the grant it came
// from (only user grants carry a grant_id), "" for a client's own token.
func tokenUser(c accessClaims) string {
	if c.GrantID == "" {
		return ""
	}
	return c.Subject
}
