package smart

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/portico-health/portico/store"
)

// The internal record types smart keeps in the store. They are not FHIR resource types, so the
// FHIR API never serves them as long as it only serves the R4 types it knows (see
// docs/smart.md for what system-level search and history must do).
const (
	TypeClient  = "PorticoClient"
	TypeUser    = "PorticoUser"
	TypeJTI     = "PorticoAssertionJTI"
	TypeRevoked = "PorticoRevokedToken"
)

// InternalTypes lists the record types of this package.
var InternalTypes = []string{TypeClient, TypeUser, TypeSigningKey, TypeSigningKeys, TypeJTI, TypeRevoked, TypeAuthCode, TypeRefreshToken, TypeRevokedGrant, TypeLaunch, TypeUsedSession}

// maxConflictRetries bounds read-modify-write retries after a concurrent update.
const maxConflictRetries = 5

// update reads typ/id, lets change modify its body, and writes the next version, retrying on
// a concurrent write. change returns the new body.
func update(ctx context.Context, st store.Store, typ, id string, index func([]byte) []store.IndexEntry, change func(body []byte) ([]byte, error)) error {
	for range maxConflictRetries {
		rec, err := st.Read(ctx, typ, id)
		if err != nil {
			return err
		}
		body, err := change(rec.Body)
		if err != nil {
			return err
		}
		w := store.Write{Op: store.OpUpdate, Type: typ, ID: id, Version: rec.Version + 1,
			LastUpdated: time.Now().UTC(), Body: body}
		if index != nil {
			w.Index = index(body)
		}
		err = st.Write(ctx, w)
		if errors.Is(err, store.ErrVersionConflict) {
			continue
		}
		return err
	}
	return fmt.Errorf("smart: %s/%s: too many concurrent updates: %w", typ, id, store.ErrVersionConflict)
}

// create writes version 1 of typ/id; store.ErrVersionConflict means it exists.
func create(ctx context.Context, st store.Store, typ, id string, body []byte, index []store.IndexEntry) error {
	return st.Write(ctx, store.Write{Op: store.OpCreate, Type: typ, ID: id, Version: 1,
		LastUpdated: time.Now().UTC(), Body: body, Index: index})
}

// list returns the current records of one type, all pages.
func list(ctx context.Context, st store.Store, typ string, where ...store.Clause) ([]store.Record, error) {
	q := store.Query{Types: []string{typ}, Where: where, Count: 200}
	var out []store.Record
	for {
		page, err := st.Search(ctx, q)
		if err != nil {
			return nil, err
		}
		out = append(out, page.Records...)
		if page.Next == "" {
			return out, nil
		}
		q.Cursor = page.Next
	}
}

func tokenClause(param, code string) store.Clause {
	return store.Clause{Param: param, Kind: store.KindToken, Values: []store.Value{{Code: code, AnySystem: true}}}
}
