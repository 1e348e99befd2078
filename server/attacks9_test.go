package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestRoundNineAttacks: the findings of the ninth blind attack, over HTTP (docs/smart.md,
// "Blind attacks").
func TestRoundNineAttacks(t *testing.T) {
	en := newAuthEnv(t)
	sys := en.systemToken("system/*.cruds")
	en.must(sys, http.MethodPut, "/Patient/A", `{"resourceType":"Patient","id":"A"}`, http.StatusCreated)
	a := en.patientToken("A", "launch/patient patient/*.cruds")

	t.Run("a patient cannot rewrite the triage of a message it sent", func(t *testing.T) {
		status, _, b := en.do(a, http.MethodPost, "/Communication", `{"resourceType":"Communication","status":"in-progress",`+
			`"subject":{"reference":"Patient/A"},"sender":{"reference":"Patient/A"},"payload":[{"contentString":"can I get a refill of my inhaler"}]}`)
		if status != http.StatusCreated {
			t.Fatalf("POST: %d %s", status, b)
		}
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		id := m["id"].(string)
		patch := `[{"op":"replace","path":"/priority","value":"stat"},{"op":"replace","path":"/received","value":"2001-01-01T00:00:00Z"}]`
		status, _, b = en.do(a, http.MethodPatch, "/Communication/"+id, patch, "Content-Type", "application/json-patch+json")
		if status != http.StatusConflict || !strings.Contains(string(b), "business-rule") {
			t.Errorf("the patient's PATCH of priority and received: %d %s, want 409 business-rule", status, b)
		}
		changed := strings.Replace(string(mustJSON(t, m)), `"priority":"routine"`, `"priority":"stat"`, 1)
		if status, _, b := en.do(a, http.MethodPut, "/Communication/"+id, changed); status != http.StatusConflict {
			t.Errorf("the patient's PUT raising the priority: %d %s, want 409", status, b)
		}
		m["status"] = "entered-in-error"
		if status, _, b := en.do(a, http.MethodPut, "/Communication/"+id, string(mustJSON(t, m))); status != http.StatusOK {
			t.Errorf("the patient withdrawing its message: %d %s, want 200", status, b)
		}
		// The practice changes its messages as it likes.
		if status, _, b := en.do(sys, http.MethodPatch, "/Communication/"+id, `[{"op":"replace","path":"/priority","value":"urgent"}]`,
			"Content-Type", "application/json-patch+json"); status != http.StatusOK {
			t.Errorf("the practice's PATCH: %d %s", status, b)
		}
	})

	t.Run("$triage-stats periods outside FHIR's years", func(t *testing.T) {
		for _, p := range []string{"9999-12", "9999-12-31", "0001-01-01T00:00:00Z/0001-01-02", "0001-01"} {
			en.must(sys, http.MethodGet, "/Communication/$triage-stats?period="+p, "", http.StatusBadRequest)
		}
	})

	t.Run("an access token has one spelling", func(t *testing.T) {
		// The signature's last base64url character carries unused low bits: changing them
		// gave another string for the same token.
		last := a[len(a)-1]
		i := strings.IndexByte(b64urlAlphabet, last)
		other := a[:len(a)-1] + string(b64urlAlphabet[i^1])
		en.must(a, http.MethodGet, "/Patient/A", "", http.StatusOK)
		en.must(other, http.MethodGet, "/Patient/A", "", http.StatusUnauthorized)
	})
}

const b64urlAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
