package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/portico-health/portico/store"
)

func TestHistQuantiles(t *testing.T) {
	var h hist
	for i := 1; i <= 1000; i++ {
		h.record(time.Duration(i) * time.Microsecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Microsecond}, {0.99, 990 * time.Microsecond}} {
		got := h.quantile(c.q)
		if d := float64(got-c.want) / float64(c.want); d < -0.04 || d > 0.04 {
			t.Errorf("quantile(%v) = %v, want %v ±4%%", c.q, got, c.want)
		}
	}
	for _, d := range []time.Duration{0, 1, 63, 64, 65, 1 << 20, time.Hour} {
		if mid := bucketMid(bucketOf(d)); d >= 64 && (mid < d*96/100 || mid > d*104/100) {
			t.Errorf("bucket of %v has middle %v", d, mid)
		}
	}
}

var kindNames = map[store.ParamKind]string{store.KindToken: "token", store.KindString: "string",
	store.KindReference: "reference", store.KindDate: "date", store.KindNumber: "number",
	store.KindQuantity: "quantity", store.KindURI: "uri", store.KindComposite: "composite",
	store.KindSpecial: "special"}

// TestFixtures checks that the generated bodies are valid resources that index, and that an
// update body carries its id.
func TestFixtures(t *testing.T) {
	fx, err := loadFixtures(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		typ  string
		body []byte
	}{{"Patient", fx.patient(7)}, {"Observation", fx.observation("p-1", 7)}} {
		w, err := createWrite(c.typ, "id-1", c.body)
		if err != nil {
			t.Fatalf("%s: %v", c.typ, err)
		}
		kinds := map[string]int{}
		for _, e := range w.Index {
			kinds[kindNames[e.Kind]]++
		}
		t.Logf("%s: %d-byte stored body, %d index entries by kind %v", c.typ, len(w.Body), len(w.Index), kinds)
	}
	body, err := withID(fx.observation("p-1", 1), "obs-1")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil || m["id"] != "obs-1" {
		t.Errorf("withID: %v, id %v", err, m["id"])
	}
}

// TestRunStopsByItself checks that a phase ends after warm-up plus duration.
func TestRunStopsByItself(t *testing.T) {
	start := time.Now()
	r := run(context.Background(), 4, 20*time.Millisecond, 50*time.Millisecond, func(int, int) error {
		time.Sleep(time.Millisecond)
		return nil
	})
	if el := time.Since(start); el > 500*time.Millisecond || r.ops == 0 || r.warmOps == 0 {
		t.Errorf("run took %v with %d ops (%d warm-up)", el, r.ops, r.warmOps)
	}
}

func TestRequireLoopback(t *testing.T) {
	for base, ok := range map[string]bool{"http://127.0.0.1:8080": true, "http://[::1]:80": true,
		"http://10.0.0.1:80": false, "http://example.org": false} {
		if err := requireLoopback(base); (err == nil) != ok {
			t.Errorf("requireLoopback(%s) = %v", base, err)
		}
	}
}
