package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"

	"github.com/google/uuid"
)

// txEntries is the size of an ingestion Bundle (issue 3: transaction Bundles of 100 entries).
const txEntries = 100

// txBundle is a transaction of one new Patient (a urn:uuid full URL) and txEntries-1 new
// Observations about it, referring to it by that urn:uuid, as an EHR feed sends them.
func (f *fixtures) txBundle(n int) []byte {
	patURN := "urn:uuid:" + uuid.NewString()
	var b bytes.Buffer
	b.WriteString(`{"resourceType":"Bundle","type":"transaction","entry":[`)
	fmt.Fprintf(&b, `{"fullUrl":%q,"resource":%s,"request":{"method":"POST","url":"Patient"}}`, patURN, f.patient(n))
	for k := 1; k < txEntries; k++ {
		obs := bytes.Replace(f.observation("PLACEHOLDER", n*txEntries+k), []byte(`"Patient/PLACEHOLDER"`), []byte(`"`+patURN+`"`), 1)
		fmt.Fprintf(&b, `,{"fullUrl":"urn:uuid:%s","resource":%s,"request":{"method":"POST","url":"Observation"}}`, uuid.NewString(), obs)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// txPhase POSTs transaction Bundles from o.txClients clients; the rate is in resources.
func txPhase(ctx context.Context, o *options, fx *fixtures, t *target) *result {
	const variants = 16
	bodies := make([][][]byte, o.txClients)
	for w := range bodies {
		for k := range variants {
			bodies[w] = append(bodies[w], fx.txBundle(70_000_000+w*variants+k))
		}
	}
	c := newClient(o.txClients)
	defer c.CloseIdleConnections()
	ws := newWorkers(c, o.txClients, t.bearer)
	r := run(ctx, o.txClients, o.warmup, o.duration, func(w, i int) error {
		_, err := ws[w].do(ctx, http.MethodPost, t.base+"/fhir", bodies[w][i%variants], nil, http.StatusOK)
		if err == nil && !bytes.Contains(ws[w].buf.Bytes(), []byte(`"type":"transaction-response"`)) {
			err = fmt.Errorf("POST transaction: not a transaction-response: %.200s", ws[w].buf.Bytes())
		}
		return err
	})
	r.phase, r.unit = fmt.Sprintf("Portico transaction ingestion (Bundles of %d)", txEntries), "res/s"
	r.notes = fmt.Sprintf("%d clients, 1 Patient + %d Observations per Bundle, urn:uuid references; %.0f Bundles/s",
		o.txClients, txEntries-1, r.rate()) + r.describeErrors()
	r.scale = txEntries
	return r
}
