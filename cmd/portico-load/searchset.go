package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/portico-health/portico/server"
	"github.com/portico-health/portico/store"
	"github.com/portico-health/portico/store/derived"
	"github.com/portico-health/portico/store/sqlite"
)

// The search dataset is issue 3's: N Observations over N/100 Patients (100 each), and N/10
// Communications addressed to them (10 each). It lives in a database of its own, built once
// through Portico's write path below HTTP (as the preload) and kept in --search-dir for the
// next runs, since building 1.1 million resources takes minutes.

// searchCodes: half the Observations have the first (a common lab code), the rest spread over
// the others, so a patient+code search matches ~50 or ~3 of the patient's 100.
var searchCodes = []string{"2160-0", "2345-7", "2951-2", "2823-3", "2075-0", "2028-9", "3094-0", "17861-6",
	"1751-7", "1975-2", "6768-6", "1742-6", "1920-8", "2885-2", "718-7", "4544-3", "789-8", "6690-2", "777-3", "785-6"}

// commPriorities and commStatuses vary the Communications.
var (
	commPriorities = []string{"routine", "urgent", "asap", "stat"}
	commStatuses   = []string{"in-progress", "completed", "completed", "completed"}
)

// The Communication example's values that vary per generated message.
const (
	comStatus    = `"status":"completed"`
	comPriority  = `"priority":"urgent"`
	comSent      = `"sent":"2024-05-03T07:58:31-05:00"`
	comRecipient = `"CareTeam/ct-riverside-family-medicine"`
	comPatient   = `pat-maria-alvarez`
)

// searchShape is the size of a search dataset; its marker file records it.
type searchShape struct {
	Observations   int    `json:"observations"`
	Patients       int    `json:"patients"`
	Communications int    `json:"communications"`
	Schema         string `json:"schema"` // hash of the store's schema and the fixtures
}

func newSearchShape(observations int, fx *fixtures) searchShape {
	h := sha256.New()
	fmt.Fprintf(h, "schema %d, stored index without derived parameters\n", sqlite.SchemaVersion)
	h.Write(fx.obs)
	h.Write(fx.com)
	return searchShape{Observations: observations, Patients: observations / 100, Communications: observations / 10,
		Schema: hex.EncodeToString(h.Sum(nil)[:8])}
}

// searchCode is the code of the i-th Observation.
func searchCode(i int) string {
	if i%2 == 0 {
		return searchCodes[0]
	}
	return searchCodes[1+(i/2)%(len(searchCodes)-1)]
}

func searchPatientID(i int) string { return fmt.Sprintf("sp-%06d", i) }

// searchObservation is the i-th Observation: about patient i%patients, code searchCodes[0] for
// even i, dated five minutes after the previous one.
func (f *fixtures) searchObservation(i, patients int) []byte {
	eff := time.Date(2015, 1, 1, 8, 0, 0, 0, time.UTC).Add(time.Duration(i) * 5 * time.Minute).Format(time.RFC3339)
	b := f.observationAt(searchPatientID(i%patients), i, eff)
	return bytes.Replace(b, []byte(`"code":"`+obsCode+`"`), []byte(`"code":"`+searchCode(i)+`"`), 1)
}

// searchCommunication is the j-th portal message: to patient j%patients, in progress for one
// in four, priorities in turn, sent half an hour after the previous one.
func (f *fixtures) searchCommunication(j, patients int) []byte {
	pat := searchPatientID(j % patients)
	b := bytes.ReplaceAll(f.com, []byte(comPatient), []byte(pat))
	b = bytes.Replace(b, []byte(comRecipient), []byte(strconv.Quote("Patient/"+pat)), 1)
	b = bytes.Replace(b, []byte(comStatus), []byte(`"status":"`+commStatuses[j%4]+`"`), 1)
	b = bytes.Replace(b, []byte(comPriority), []byte(`"priority":"`+commPriorities[(j/4)%4]+`"`), 1)
	sent := time.Date(2021, 1, 1, 8, 0, 0, 0, time.UTC).Add(time.Duration(j) * 30 * time.Minute).Format(time.RFC3339)
	return bytes.Replace(b, []byte(comSent), []byte(`"sent":"`+sent+`"`), 1)
}

// searchDataset returns the directory of a complete search dataset of this shape: dir itself
// when it holds one already, else one built there now (dir must then hold no database).
func searchDataset(ctx context.Context, o *options, fx *fixtures, dir string, rep *report) (searchShape, error) {
	shape := newSearchShape(o.searchObservations, fx)
	marker := filepath.Join(dir, "search-dataset.json")
	if data, err := os.ReadFile(marker); err == nil {
		var have searchShape
		if json.Unmarshal(data, &have) == nil && have == shape {
			logf("search dataset: reusing %s (%d Observations, %d Patients, %d Communications)", dir,
				shape.Observations, shape.Patients, shape.Communications)
			return shape, nil
		}
		return shape, fmt.Errorf("%s holds another search dataset (%s); give another --search-dir", dir, data)
	}
	if _, err := os.Stat(filepath.Join(dir, sqlite.DatabaseFile)); err == nil {
		return shape, fmt.Errorf("%s holds a database without a complete search dataset: remove it or give another --search-dir", dir)
	}
	cfg := server.Defaults()
	cfg.DataDir = dir
	opened, err := server.OpenStore(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return shape, err
	}
	st := derived.Wrap(opened)
	total := shape.Patients + shape.Observations + shape.Communications
	logf("search dataset: building %d resources in %s (kept for the next runs)", total, dir)
	t0, a := time.Now(), sampleCPU()

	// Batch b holds Patients, then Observations, then Communications, in that order overall.
	const batch = preloadBatch
	batches := (total + batch - 1) / batch
	jobs := make(chan int)
	errs := make([]error, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for w := range errs {
		wg.Go(func() {
			for b := range jobs {
				if errs[w] != nil {
					continue
				}
				writes := make([]store.Write, 0, batch)
				for k := b * batch; k < min((b+1)*batch, total) && errs[w] == nil; k++ {
					var wr store.Write
					switch {
					case k < shape.Patients:
						wr, errs[w] = createWrite("Patient", searchPatientID(k), fx.patient(k))
					case k < shape.Patients+shape.Observations:
						i := k - shape.Patients
						wr, errs[w] = createWrite("Observation", fmt.Sprintf("so-%07d", i), fx.searchObservation(i, shape.Patients))
					default:
						j := k - shape.Patients - shape.Observations
						wr, errs[w] = createWrite("Communication", fmt.Sprintf("sc-%07d", j), fx.searchCommunication(j, shape.Patients))
					}
					writes = append(writes, wr)
				}
				if errs[w] == nil {
					errs[w] = st.Write(ctx, writes...)
				}
			}
		})
	}
	for b := 0; b < batches && ctx.Err() == nil; b++ {
		if b%200 == 0 && b > 0 {
			logf("search dataset: %d of %d resources", b*batch, total)
		}
		jobs <- b
	}
	close(jobs)
	wg.Wait()
	if err := errors.Join(errors.Join(errs...), ctx.Err(), st.Close()); err != nil {
		return shape, fmt.Errorf("search dataset: %w", err)
	}
	el := time.Since(t0)
	rep.add(&result{phase: "search dataset build (store.Write, 500 per call)", unit: "res/s", fixedRate: float64(total) / el.Seconds(),
		notes: fmt.Sprintf("%d Patients + %d Observations + %d Communications in %v; database %.0f MB", shape.Patients,
			shape.Observations, shape.Communications, el.Round(time.Second), float64(fileSize(filepath.Join(dir, sqlite.DatabaseFile)))/1e6) +
			otherLoad(a, sampleCPU())})
	data, _ := json.Marshal(shape)
	return shape, os.WriteFile(marker, data, 0o600)
}
