// Package needtool is how a test that needs an installed tool (Chromium, a Java server, a
// Python venv, node modules) says it cannot run: it skips, saying why, except under CI=true,
// where scripts/test installs every tool and a skip would hide a missing install step.
package needtool

import (
	"os"
	"testing"
)

// Unavailable skips t with why, or fails it under CI=true.
func Unavailable(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(why + " (CI=true: an unexpected skip is a failure)")
	}
	t.Skip(why)
}
