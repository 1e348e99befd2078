package api

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"fmt"

	"github.com/portico-health/portico/store"
)

// CursorKeySize is the length of Config.CursorKey (AES-256).
const CursorKeySize = 32

// cursorSeal encrypts and authenticates the paging cursors the API hands out (_cursor in
// next links). A store's cursor holds its sort keys and its own row counter, which would
// tell a client how much others have written; sealed, a cursor says nothing, cannot be
// forged or altered (a changed one is a 400), and binds to the search or history it came
// from (a search's cursor does not page another type's history).
type cursorSeal struct {
	aead cipher.AEAD
}

// newCursorSeal makes a seal with key (CursorKeySize bytes), or with a random key when key is
// empty: cursors then hold only within this process.
func newCursorSeal(key []byte) (*cursorSeal, error) {
	if len(key) == 0 {
		key = make([]byte, CursorKeySize)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
	}
	if len(key) != CursorKeySize {
		return nil, fmt.Errorf("api: Config.CursorKey has %d bytes, want %d", len(key), CursorKeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &cursorSeal{aead: aead}, nil
}

// seal is the cursor to hand out for the store's cursor raw of the paging scope ("" stays "").
func (s *cursorSeal) seal(scope, raw string) string {
	if raw == "" {
		return ""
	}
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(raw)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, []byte(raw), []byte(scope)))
}

// open is the store's cursor inside sealed, a cursor of scope; store.ErrInvalidCursor (400)
// when it is not one this server sealed for that scope.
func (s *cursorSeal) open(scope, sealed string) (string, error) {
	if sealed == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil || len(b) < s.aead.NonceSize()+s.aead.Overhead() {
		return "", store.ErrInvalidCursor
	}
	n := s.aead.NonceSize()
	raw, err := s.aead.Open(nil, b[:n], b[n:], []byte(scope))
	if err != nil {
		return "", store.ErrInvalidCursor
	}
	return string(raw), nil
}
