package smart

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
)

// PKCE (RFC 7636). Portico accepts only S256: plain would let whoever sees the authorization
// request redeem the code.

// validPKCEValue reports whether s is 43-128 characters of [A-Za-z0-9-._~] (RFC 7636 §4.1).
func validPKCEValue(s string) bool {
	if len(s) < 43 || len(s) > 128 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// S256Challenge is BASE64URL(SHA256(verifier)), the code_challenge for a verifier.
func S256Challenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return b64url.EncodeToString(sum[:])
}

// checkChallenge validates an authorization request's code_challenge and method.
func checkChallenge(challenge, method string) error {
	switch {
	case challenge == "":
		return errors.New("code_challenge is required (PKCE)")
	case method != "S256":
		return errors.New("code_challenge_method must be S256")
	case len(challenge) != 43 || !validPKCEValue(challenge):
		return errors.New("code_challenge must be the 43-character base64url SHA-256 of the verifier")
	}
	return nil
}

// checkVerifier compares a token request's code_verifier with the stored challenge. A
// verifier equal to the challenge is refused before hashing (someone replaying the challenge
// they saw in the authorization request).
func checkVerifier(verifier, challenge string) error {
	switch {
	case verifier == "":
		return errors.New("code_verifier is required")
	case !validPKCEValue(verifier):
		return errors.New("code_verifier must be 43-128 characters of [A-Za-z0-9-._~]")
	case verifier == challenge:
		return errors.New("code_verifier must not be the challenge")
	case subtle.ConstantTimeCompare([]byte(S256Challenge(verifier)), []byte(challenge)) != 1:
		return errors.New("code_verifier does not match the code_challenge")
	}
	return nil
}
