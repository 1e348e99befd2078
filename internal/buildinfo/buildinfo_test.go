package buildinfo

import (
	"runtime/debug"
	"testing"
	"time"
)

func TestFromBuildInfo(t *testing.T) {
	vcs := []debug.BuildSetting{
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "64b4cbc0123456789abcdef0123456789abcdef0"},
		{Key: "vcs.time", Value: "2026-12-07T10:11:12Z"},
		{Key: "vcs.modified", Value: "true"},
	}
	for _, tc := range []struct {
		name string
		bi   *debug.BuildInfo
		want string
	}{
		{"no build info", nil, "dev"},
		{"go run", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "dev"},
		{"go install of a tag", &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}, Settings: vcs}, "v1.4.0"},
		{"go build in a checkout", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261207101112-64b4cbc01234+dirty"}, Settings: vcs}, "v0.0.0-20261207101112-64b4cbc01234+dirty"},
		{"revision only", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs}, "64b4cbc01234+dirty"},
	} {
		in := fromBuildInfo(tc.bi, "", "")
		if in.Version != tc.want {
			t.Errorf("%s: version %q, want %q", tc.name, in.Version, tc.want)
		}
		if in.GoVersion == "" || in.Platform == "" {
			t.Errorf("%s: Go version %q, platform %q", tc.name, in.GoVersion, in.Platform)
		}
	}
	in := fromBuildInfo(&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: vcs}, "", "")
	if !in.Modified || in.Revision != vcs[1].Value || !in.Time.Equal(time.Date(2026, 12, 7, 10, 11, 12, 0, time.UTC)) || in.GoVersion != "go1.26.8" {
		t.Errorf("settings not read: %+v", in)
	}

	// A build without version control information, given its version by the linker.
	devel := &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}
	if in := fromBuildInfo(devel, "v1.4.0", "64b4cbc0123456789abcdef0123456789abcdef0"); in.Version != "v1.4.0" || in.Revision == "" {
		t.Errorf("linker values: %+v", in)
	}
	if in := fromBuildInfo(devel, "", "64b4cbc0123456789abcdef0123456789abcdef0"); in.Version != "64b4cbc01234" {
		t.Errorf("linker revision only: %+v", in)
	}
	if in := fromBuildInfo(&debug.BuildInfo{Main: debug.Module{Version: "v1.5.0"}}, "v1.4.0", ""); in.Version != "v1.5.0" {
		t.Errorf("the toolchain's version loses to the linker's: %+v", in)
	}
}
