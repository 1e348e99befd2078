package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/server"
	"github.com/portico-health/portico/store"
)

// dataset is what the preload stored: the ids of its Patients and Observations.
type dataset struct {
	patients, observations []string
}

// preloadBatch is how many creates one store.Write carries: one transaction each.
const preloadBatch = 500

// preload stores n resources, one Patient for every nine Observations referencing it, through
// Portico's own write path below HTTP: each body is parsed and validated by
// fhir.ParseResource, given a random UUID, meta.versionId 1 and meta.lastUpdated, and indexed
// by fhir.IndexEntries, exactly as the api prepares a create, then written with store.Write
// into the store that cfg names (server.OpenStore), preloadBatch creates per call. A backend
// without multi-write transactions gets them one per call.
func preload(ctx context.Context, cfg server.Config, fx *fixtures, n int) (*dataset, error) {
	st, err := server.OpenStore(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	ds := &dataset{}
	var pat string
	for i := range n {
		if i%10 == 0 {
			pat = uuid.NewString()
			ds.patients = append(ds.patients, pat)
		} else {
			ds.observations = append(ds.observations, uuid.NewString())
		}
	}
	jobs := make(chan int) // batch start indexes
	errs := make([]error, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for w := range errs {
		wg.Go(func() {
			for from := range jobs {
				if errs[w] != nil {
					continue
				}
				errs[w] = writeBatch(ctx, st, fx, ds, from, min(from+preloadBatch, n))
			}
		})
	}
	for from := 0; from < n; from += preloadBatch {
		jobs <- from
	}
	close(jobs)
	wg.Wait()
	return ds, errors.Join(errors.Join(errs...), st.Close())
}

// writeBatch prepares and writes resources [from, to) of the dataset.
func writeBatch(ctx context.Context, st store.Store, fx *fixtures, ds *dataset, from, to int) error {
	writes := make([]store.Write, 0, to-from)
	for i := from; i < to; i++ {
		pat := ds.patients[i/10]
		typ, id, body := "Patient", pat, fx.patient(i/10)
		if i%10 != 0 {
			typ, id, body = "Observation", ds.observations[i-i/10-1], fx.observation(pat, i)
		}
		w, err := createWrite(typ, id, body)
		if err != nil {
			return err
		}
		writes = append(writes, w)
	}
	err := st.Write(ctx, writes...)
	if errors.Is(err, store.ErrNoTransactions) {
		for _, w := range writes {
			if err := st.Write(ctx, w); err != nil {
				return fmt.Errorf("preload %s/%s: %w", w.Type, w.ID, err)
			}
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("preload: %w", err)
	}
	return nil
}

// createWrite prepares version 1 of a resource as the api's create does.
func createWrite(typ, id string, body []byte) (store.Write, error) {
	res, err := fhir.ParseResource(body)
	if err != nil {
		return store.Write{}, fmt.Errorf("preload: generated %s is invalid: %w", typ, err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	res.SetID(id)
	res.SetMeta(strconv.Itoa(1), now)
	return store.Write{Op: store.OpCreate, Type: typ, ID: id, Version: 1, LastUpdated: now,
		Body: res.JSON(), Index: fhir.IndexEntries(res)}, nil
}
