package server

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/portico-health/portico/api"
	"github.com/portico-health/portico/store"
)

// The key that seals the FHIR API's paging cursors (api.Config.CursorKey) lives in the store,
// one record written once, so that every Portico sharing the store (several behind a load
// balancer on MongoDB, or one restarted) opens the cursors of the others' next links.
const (
	typeCursorKey = "PorticoCursorKey"
	cursorKeyID   = "default"
)

// cursorKey reads the key, or makes it on the first start.
func cursorKey(ctx context.Context, st store.Store) ([]byte, error) {
	for range 2 {
		rec, err := st.Read(ctx, typeCursorKey, cursorKeyID)
		if err == nil {
			var k struct {
				Key []byte `json:"key"`
			}
			if err := json.Unmarshal(rec.Body, &k); err != nil || len(k.Key) != api.CursorKeySize {
				return nil, fmt.Errorf("server: the cursor key record %s/%s is damaged", typeCursorKey, cursorKeyID)
			}
			return k.Key, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("server: read the cursor key: %w", err)
		}
		key := make([]byte, api.CursorKeySize)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		body, err := json.Marshal(map[string][]byte{"key": key})
		if err != nil {
			return nil, err
		}
		err = st.Write(ctx, store.Write{Op: store.OpCreate, Type: typeCursorKey, ID: cursorKeyID, Version: 1,
			LastUpdated: time.Now().UTC(), Body: body})
		if err == nil {
			return key, nil
		}
		if !errors.Is(err, store.ErrVersionConflict) {
			return nil, fmt.Errorf("server: store the cursor key: %w", err)
		}
		// Another instance made it first: read theirs.
	}
	return nil, errors.New("server: the cursor key could not be read or made")
}
