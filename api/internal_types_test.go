package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portico-health/portico/store"
)

// TestInternalRecordsNeverListed: the store also keeps records that are not FHIR resources
// (SMART apps, users and grants, with secret hashes). System history and a system search
// without _type must never return them.
func TestInternalRecordsNeverListed(t *testing.T) {
	s := newServer(t)
	s.create(`{"resourceType":"Patient","name":[{"family":"Visible"}]}`)
	secret := `{"resourceType":"PorticoUser","id":"u1","passwordHash":"argon2id$secret"}`
	err := s.Store.Write(t.Context(), store.Write{
		Op: store.OpCreate, Type: "PorticoUser", ID: "u1", Version: 1,
		LastUpdated: time.Now().UTC(), Body: []byte(secret),
		Index: []store.IndexEntry{{Param: "username", Kind: store.KindToken, Code: "alice"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/_history", "/_history?_count=1", "/?_lastUpdated=gt2000-01-01", "/?_id=u1"} {
		r := s.do(http.MethodGet, path, "")
		wantStatus(t, r, http.StatusOK)
		if strings.Contains(string(r.Body), "PorticoUser") || strings.Contains(string(r.Body), "argon2id") {
			t.Errorf("GET %s lists an internal record: %s", path, r.Body)
		}
	}
	if r := s.do(http.MethodGet, "/_history", ""); !strings.Contains(string(r.Body), "Visible") {
		t.Errorf("system history lost the FHIR resource: %s", r.Body)
	}
	wantStatus(t, s.do(http.MethodGet, "/PorticoUser/u1", ""), http.StatusNotFound)
}
