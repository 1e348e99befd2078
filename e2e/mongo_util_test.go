package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/portico-health/portico/internal/mongojava"
	"github.com/portico-health/portico/internal/needtool"
)

// The MongoDB end-to-end tests run Portico binaries on mongo-java-server, the in-memory MongoDB
// wire-protocol server that .ci/run builds (tools/mongo-java-server), started and stopped here:
// the tests need a deployment they can start late, which PORTICO_TEST_MONGODB_URI cannot give.

const mongoJar = "../" + mongojava.Jar

// requireMongoJar skips the test when the Java server cannot run here, and fails it under
// CI=true, where .ci/run builds the jar and such a skip is unexpected.
func requireMongoJar(t *testing.T) {
	t.Helper()
	why := mongojava.Unavailable(mongoJar)
	if why == "" {
		return
	}
	needtool.Unavailable(t, "no MongoDB for the e2e tests: "+why)
}

// startJavaMongo starts mongo-java-server on port (0: any free port) and returns its address.
// It stops when the test ends.
func startJavaMongo(t *testing.T, port int) string {
	t.Helper()
	srv, err := mongojava.Start(mongoJar, port)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return srv.Addr
}

// startPorticoMongo runs `portico serve --auth=none --store uri` on addr. It waits until the
// server listens (/healthz 200) and, if ready is set, until /readyz is 200 too.
func startPorticoMongo(t *testing.T, addr, uri string, ready bool) *proc {
	t.Helper()
	path := "/healthz"
	if ready {
		path = "/readyz"
	}
	return startServe(t, addr, path, "--store", uri, "--data-dir", t.TempDir(), "--log-level", "info", "--auth", "none")
}

// httpStatusOf is the status of a GET of an absolute URL, 0 when it could not be sent.
func httpStatusOf(ctx context.Context, url string) int {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return 0
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}
