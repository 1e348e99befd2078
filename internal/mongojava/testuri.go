package mongojava

import (
	"os"
	"testing"

	"github.com/portico-health/portico/internal/needtool"
)

// TestURI is the MongoDB a test runs against: PORTICO_TEST_MONGODB_URI when set, else a
// mongo-java-server started from jar (the path of Jar from the test's directory) and stopped
// when the test ends. Without either the test is skipped, and fails under CI=true, where
// .ci/run builds the jar and such a skip is unexpected.
func TestURI(t testing.TB, jar string) string {
	t.Helper()
	if uri := os.Getenv("PORTICO_TEST_MONGODB_URI"); uri != "" {
		return uri
	}
	if why := Unavailable(jar); why != "" {
		needtool.Unavailable(t, "no MongoDB: "+why)
	}
	srv, err := Start(jar, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return "mongodb://" + srv.Addr + "/"
}
