// Package buildinfo is the version of this build as the Go toolchain recorded it. `portico
// version`, the CapabilityStatement's software.version and the start-up log line all show
// Version, so an operator and a client see the same value.
package buildinfo

import (
	"runtime"
	"runtime/debug"
	"time"
)

// Set by the linker for a build without version control information (the container image is
// built without .git; Go stamps none in a git worktree):
//
//	go build -ldflags "-X github.com/portico-health/portico/internal/buildinfo.version=v1.4.0 -X github.com/portico-health/portico/internal/buildinfo.revision=$(git rev-parse HEAD)"
//
// What the toolchain recorded wins over them.
var version, revision string

// Info is what is known of the build.
type Info struct {
	// Version is the main module's version: a tag ("v1.2.0") for `go install module@version`,
	// a pseudo-version for `go build` in a repository checkout (the toolchain derives it from
	// the commit, with "+dirty" for uncommitted changes); else the commit's short revision;
	// the version given to the linker (see version above); "dev" only when nothing is known
	// (`go run`, `go test`, a build with -buildvcs=false and no -X).
	Version   string
	Revision  string    // the commit (vcs.revision), "" when unknown
	Time      time.Time // the commit's time (vcs.time), zero when unknown
	Modified  bool      // built from a tree with uncommitted changes (vcs.modified)
	GoVersion string    // the toolchain that built it
	Platform  string    // GOOS/GOARCH
}

// Read returns the build's Info.
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	return fromBuildInfo(bi, version, revision)
}

// Version is Read().Version.
func Version() string { return Read().Version }

// fromBuildInfo reads bi (nil when there is none) and the linker's values.
func fromBuildInfo(bi *debug.BuildInfo, linkedVersion, linkedRevision string) Info {
	in := Info{GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH, Revision: linkedRevision}
	if bi == nil {
		bi = &debug.BuildInfo{}
	}
	if bi.GoVersion != "" {
		in.GoVersion = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			in.Revision = s.Value
		case "vcs.time":
			in.Time, _ = time.Parse(time.RFC3339, s.Value)
		case "vcs.modified":
			in.Modified = s.Value == "true"
		}
	}
	switch {
	case bi.Main.Version != "" && bi.Main.Version != "(devel)":
		in.Version = bi.Main.Version
	case linkedVersion != "":
		in.Version = linkedVersion
	case in.Revision != "":
		in.Version = shortRevision(in.Revision)
		if in.Modified {
			in.Version += "+dirty"
		}
	default:
		in.Version = "dev"
	}
	return in
}

// shortRevision is the first 12 characters of a commit hash, as Go's pseudo-versions show it.
func shortRevision(r string) string {
	if len(r) > 12 {
		return r[:12]
	}
	return r
}
