package mongo_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/portico-health/portico/conformance"
	"github.com/portico-health/portico/server"
	"github.com/portico-health/portico/server/servertest"
	"github.com/portico-health/portico/store/mongo"
)

// withDatabase returns uri with its database (the path) set to name.
func withDatabase(uri, name string) string {
	scheme, rest, _ := strings.Cut(uri, "://")
	hosts, tail, hasPath := strings.Cut(rest, "/")
	query := ""
	if hasPath {
		if _, q, ok := strings.Cut(tail, "?"); ok {
			query = "?" + q
		}
	} else if h, q, ok := strings.Cut(hosts, "?"); ok {
		hosts, query = h, "?"+q
	}
	return scheme + "://" + hosts + "/" + name + query
}

// TestHTTPConformance runs the black-box HTTP suite against Portico on MongoDB, as
// conformance/suite_test.go does on SQLite. On a deployment without transactions (the Java
// server) Portico answers transaction Bundles with 501 not-supported; those checks, and only
// when they report exactly that, are skipped.
func TestHTTPConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server and sends a 20 MB request")
	}
	requireMongo(t)
	name := "portico_conformance_" + time.Now().Format("150405.000000")
	name = strings.ReplaceAll(name, ".", "_")
	uri := withDatabase(testURI, name)
	probe, err := mongo.Open(t.Context(), mongo.Config{URI: uri})
	if err != nil {
		t.Fatal(err)
	}
	txn := probe.Transactions()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = probe.DropDatabase(ctx)
		_ = probe.Close()
	})

	cfg := server.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.Store = uri
	cfg.Auth = server.AuthNone // as conformance/suite_test.go: the suite sends no tokens
	ts, base := servertest.Start(t, cfg)

	rep := conformance.Run(t.Context(), conformance.Options{BaseURL: base, Client: ts.Client()})
	var text strings.Builder
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + text.String())
	var skipped []string
	for _, r := range rep.Results {
		// Without transactions the CapabilityStatement does not claim them, and the suite skips
		// their checks (a transaction of several writes answers 501: e2e TestMongoWorkflows).
		notClaimed := !txn && r.Status == conformance.Skip && strings.Contains(r.Detail, "does not claim transaction")
		switch {
		case notClaimed:
			skipped = append(skipped, r.Section+"/"+r.Name)
		case r.Status == conformance.Fail:
			t.Errorf("%s/%s failed: %s", r.Section, r.Name, r.Detail)
		case r.Status == conformance.Skip:
			t.Errorf("%s/%s skipped: %s", r.Section, r.Name, r.Detail)
		}
	}
	if len(skipped) > 0 {
		t.Logf("not run for lack of multi-document transactions on this deployment (not advertised): %s",
			strings.Join(skipped, "; "))
	}
}
