package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"time"

	"github.com/portico-health/portico/definitions"
	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/store"
)

// seedDefinitions makes st hold Portico's definitions (package definitions: the triage
// extensions, code systems, value sets, search parameters, the $triage-stats operation and the
// screening Questionnaire) with their fixed ids, so that read and search serve them like any
// resource. One that is missing (or deleted) is written; one that differs from the package
// (an older Portico's, or changed through the API) gets a new version equal to it, its history
// kept; one equal to it is left alone, so a restart writes nothing. base is the FHIR base URL.
func seedDefinitions(ctx context.Context, st store.Store, base string, now time.Time) error {
	var errs []error
	for _, d := range definitions.All() {
		if err := seedResource(ctx, st, base, d.Type, d.ID, d.JSON, now); err != nil {
			errs = append(errs, fmt.Errorf("%s/%s: %w", d.Type, d.ID, err))
		}
	}
	return errors.Join(errs...)
}

// seedResource writes want as typ/id unless the current version has the same content (meta
// aside). Several instances starting together may race: the loser reads the winner's version,
// finds it equal and stops.
func seedResource(ctx context.Context, st store.Store, base, typ, id string, want []byte, now time.Time) error {
	for attempt := 0; ; attempt++ {
		version := int64(1)
		op := store.OpCreate
		rec, err := st.Read(ctx, typ, id)
		switch {
		case err == nil:
			if sameContent(rec.Body, want) {
				return nil
			}
			version, op = rec.Version+1, store.OpUpdate
		case errors.Is(err, store.ErrGone):
			version, op = rec.Version+1, store.OpUpdate
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		res, err := fhir.ParseResource(want)
		if err != nil {
			return err
		}
		stamp := now.UTC().Truncate(time.Millisecond)
		if stamp.Before(rec.LastUpdated) {
			stamp = rec.LastUpdated
		}
		res.SetMeta(strconv.FormatInt(version, 10), stamp)
		index, err := fhir.ExtractIndexBase(res, base)
		if err != nil {
			return err
		}
		err = st.Write(ctx, store.Write{Op: op, Type: typ, ID: id, Version: version,
			LastUpdated: stamp, Body: res.JSON(), Index: index})
		if err == nil || attempt == 2 || !(errors.Is(err, store.ErrVersionConflict) || errors.Is(err, store.ErrExists)) {
			return err
		}
	}
}

// sameContent reports whether two resources are equal but for meta.
func sameContent(a, b []byte) bool {
	var x, y map[string]any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	delete(x, "meta")
	delete(y, "meta")
	return reflect.DeepEqual(x, y)
}
