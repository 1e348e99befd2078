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
	"github.com/portico-health/portico/store/derived"
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
// by fhir.ExtractIndex (every search parameter of the type), exactly as the api prepares a
// create, then written with store.Write into the store that cfg names (server.OpenStore),
// preloadBatch creates per call. A backend without multi-write transactions gets them one per
// call. It stops starting batches after timeout; the dataset holds what was stored.
func preload(ctx context.Context, cfg server.Config, fx *fixtures, n int, timeout time.Duration) (*dataset, error) {
	opened, err := server.OpenStore(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	st := derived.Wrap(opened) // as the server stores: no combo-* entries
	all := &dataset{}
	for i := range n {
		if i%10 == 0 {
			all.patients = append(all.patients, uuid.NewString())
		} else {
			all.observations = append(all.observations, uuid.NewString())
		}
	}
	deadline := time.Now().Add(timeout)
	batches := (n + preloadBatch - 1) / preloadBatch
	stored := make([]bool, batches)
	jobs := make(chan int) // batch numbers
	errs := make([]error, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for w := range errs {
		wg.Go(func() {
			for b := range jobs {
				if errs[w] == nil {
					errs[w] = writeBatch(ctx, st, fx, all, b*preloadBatch, min((b+1)*preloadBatch, n))
					stored[b] = errs[w] == nil
				}
			}
		})
	}
	for b := 0; b < batches && time.Now().Before(deadline) && ctx.Err() == nil; b++ {
		jobs <- b
	}
	close(jobs)
	wg.Wait()
	if err := errors.Join(errors.Join(errs...), st.Close()); err != nil {
		return nil, err
	}
	// Keep the resources of the stored batches: a batch holds whole groups of ten (a Patient
	// and its Observations), since preloadBatch is a multiple of ten.
	ds := &dataset{}
	for b, ok := range stored {
		for i := b * preloadBatch; ok && i < min((b+1)*preloadBatch, n); i++ {
			if i%10 == 0 {
				ds.patients = append(ds.patients, all.patients[i/10])
			} else {
				ds.observations = append(ds.observations, all.observations[i-i/10-1])
			}
		}
	}
	if len(ds.observations) == 0 {
		return nil, errors.New("preload: nothing stored before the timeout")
	}
	return ds, nil
}

// size is how many resources the dataset holds.
func (ds *dataset) size() int { return len(ds.patients) + len(ds.observations) }

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
	index, err := fhir.ExtractIndex(res)
	if err != nil {
		return store.Write{}, fmt.Errorf("preload: index of the generated %s: %w", typ, err)
	}
	return store.Write{Op: store.OpCreate, Type: typ, ID: id, Version: 1, LastUpdated: now,
		Body: res.JSON(), Index: index}, nil
}
