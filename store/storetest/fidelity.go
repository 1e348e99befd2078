package storetest

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/portico-health/portico/store"
)

var fidelityTests = []test{
	{"BodyBytes", testBodyBytes},
	{"LastUpdated", testLastUpdated},
}

// testBodyBytes checks that every read path returns the stored JSON byte for byte: the
// architecture's "stored JSON is the truth" (decimals keep their precision, primitive
// extensions and unusual formatting survive).
func testBodyBytes(t *testing.T, s *handle) {
	bodies := map[string]string{
		"pretty":       "{\n  \"resourceType\" : \"Patient\",\n\t\"id\": \"pretty\"\n}\n",
		"decimals":     `{"resourceType":"Observation","valueQuantity":{"value":1.50},"x":[1e3,0.1000000000000000055511,-0.0]}`,
		"extension":    `{"resourceType":"Patient","birthDate":"1970","_birthDate":{"extension":[{"url":"u","valueString":"s"}]}}`,
		"unicode":      "{\"name\":\"Zoë 李 \\u00e9 \U0001F600 e\u0301\",\"nul\":\"\\u0000\"}",
		"key order":    `{"z":1,"a":2,"resourceType":"Basic","id":"key order"}`,
		"one mebibyte": `{"resourceType":"Binary","data":"` + strings.Repeat("QUJD", 1<<18) + `"}`,
	}
	i := 0
	for name, b := range bodies {
		i++
		id := fmt.Sprintf("b%d", i)
		w := create("Basic", id, at(i), tok("code", "urn:fidelity", id))
		w.Body = []byte(b)
		mustWrite(t, s, w)
		w.Body[0] = 'X' // the store must have kept its own copy
		w.Body = []byte(b)

		for _, r := range readPaths(t, s, w) {
			if !bytes.Equal(r.rec.Body, w.Body) {
				t.Errorf("%s via %s: body differs (len %d, want %d)", name, r.path, len(r.rec.Body), len(w.Body))
			}
		}
	}
}

// testLastUpdated checks that instants come back in UTC to the millisecond whatever zone and
// precision they were written with, including before 1970 and far in the future.
func testLastUpdated(t *testing.T, s *handle) {
	instants := []time.Time{
		time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.FixedZone("UTC+05:30", 5*3600+1800)),
		time.Date(2024, 5, 6, 7, 8, 9, 999999999, time.FixedZone("UTC-08:00", -8*3600)),
		time.Date(1969, 12, 31, 23, 59, 59, 999000000, time.UTC),
		time.Date(2199, 1, 1, 0, 0, 0, 1000000, time.UTC),
		time.Now(),
	}
	for i, lu := range instants {
		w := create("Basic", fmt.Sprintf("t%d", i), lu, tok("code", "urn:time", fmt.Sprint(i)))
		mustWrite(t, s, w)
		for _, r := range readPaths(t, s, w) {
			if !sameInstant(r.rec.LastUpdated, lu) {
				t.Errorf("instant %d via %s: got %v (%v), want %v in UTC", i, r.path,
					r.rec.LastUpdated, r.rec.LastUpdated.Location(), lu.UTC())
			}
		}
	}
}

type readPath struct {
	path string
	rec  store.Record
}

// readPaths reads the version w created through Read, VRead, instance history and a search on
// its first index entry.
func readPaths(t *testing.T, s store.Store, w store.Write) []readPath {
	t.Helper()
	ctx := t.Context()
	var out []readPath
	if r, err := s.Read(ctx, w.Type, w.ID); err != nil {
		t.Errorf("Read: %v", err)
	} else {
		out = append(out, readPath{"Read", r})
	}
	if r, err := s.VRead(ctx, w.Type, w.ID, w.Version); err != nil {
		t.Errorf("VRead: %v", err)
	} else {
		out = append(out, readPath{"VRead", r})
	}
	if p, err := s.History(ctx, store.HistoryQuery{Type: w.Type, ID: w.ID, Count: 1}); err != nil || len(p.Records) != 1 {
		t.Errorf("History: %d records, %v", len(p.Records), err)
	} else {
		out = append(out, readPath{"History", p.Records[0]})
	}
	e := w.Index[0]
	q := store.Query{Types: []string{w.Type}, Count: 10, Where: []store.Clause{tokens(e.Param, sysCode(e.System, e.Code))}}
	if p, err := s.Search(ctx, q); err != nil || len(p.Records) != 1 {
		t.Errorf("Search: %d records, %v", len(p.Records), err)
	} else {
		out = append(out, readPath{"Search", p.Records[0]})
	}
	return out
}
