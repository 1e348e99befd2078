package sqlite_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-health/portico/store"
	"github.com/portico-health/portico/store/sqlite"
)

// The crash test runs this test binary again as a child that writes until it is killed.
const (
	crashDirEnv  = "PORTICO_CRASH_DIR"
	crashSyncEnv = "PORTICO_CRASH_SYNC"
	crashAcks    = 300 // acknowledged calls before the kill
	crashWidth   = 3   // resources per call: a torn call would leave fewer
)

// TestCrashSafety SIGKILLs a process in the middle of concurrent multi-resource writes and
// reopens its data: every call it acknowledged must be there, and no call may be there in part.
// SIGKILL is a process crash, which both sync settings survive (only power loss tells them
// apart, and no test here can cut the power).
func TestCrashSafety(t *testing.T) {
	for _, mode := range []string{"full", "strict", "normal"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			acked := runAndKill(t, dir, mode)
			s := openTest(t, sqlite.Config{Dir: dir})
			defer s.Close()

			for _, call := range acked {
				for k := range crashWidth {
					if _, err := s.Read(t.Context(), "Basic", fmt.Sprintf("%s-%d", call, k)); err != nil {
						t.Errorf("acknowledged write %s-%d lost: %v", call, k, err)
					}
				}
			}
			page, err := s.History(t.Context(), store.HistoryQuery{Type: "Basic", Count: 1 << 20})
			if err != nil {
				t.Fatalf("History: %v", err)
			}
			parts := map[string]int{}
			for _, r := range page.Records {
				parts[r.ID[:strings.LastIndexByte(r.ID, '-')]]++
			}
			for call, n := range parts {
				if n != crashWidth {
					t.Errorf("call %s is torn: %d of %d writes survived", call, n, crashWidth)
				}
			}
			t.Logf("%d calls acknowledged before the kill, %d found after it", len(acked), len(parts))
		})
	}
}

// runAndKill starts the child, kills it with SIGKILL after crashAcks acknowledgements and
// returns every call it acknowledged, including those printed just before it died.
func runAndKill(t *testing.T, dir, mode string) []string {
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashSyncEnv+"="+mode)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("StdoutPipe: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}
	var acked []string
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		if call, ok := strings.CutPrefix(lines.Text(), "ack "); ok {
			acked = append(acked, call)
			if len(acked) == crashAcks {
				if err := cmd.Process.Kill(); err != nil {
					t.Fatalf("kill child: %v", err)
				}
			}
		}
	}
	if err := cmd.Wait(); err == nil || len(acked) < crashAcks {
		t.Fatalf("child ended by itself (%v) after %d acknowledgements", err, len(acked))
	}
	return acked
}

// TestCrashChild is the child of TestCrashSafety; run alone it skips. It writes calls of
// crashWidth resources from 8 goroutines and prints "ack <call>" after each success.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("run by TestCrashSafety")
	}
	s, err := sqlite.Open(t.Context(), sqlite.Config{Dir: dir, Sync: os.Getenv(crashSyncEnv)})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	deadline := time.Now().Add(30 * time.Second) // the parent kills it long before
	for g := range 8 {
		wg.Go(func() {
			for i := 0; time.Now().Before(deadline); i++ {
				call := fmt.Sprintf("g%d.%d", g, i)
				var writes []store.Write
				for k := range crashWidth {
					id := fmt.Sprintf("%s-%d", call, k)
					writes = append(writes, store.Write{Op: store.OpCreate, Type: "Basic", ID: id, Version: 1,
						LastUpdated: time.Now(), Body: fmt.Appendf(nil, `{"resourceType":"Basic","id":%q}`, id),
						Index: []store.IndexEntry{{Param: "code", Kind: store.KindToken, System: "urn:crash", Code: call}}})
				}
				if err := s.Write(t.Context(), writes...); err != nil {
					t.Errorf("Write: %v", err)
					return
				}
				mu.Lock()
				fmt.Fprintf(os.Stdout, "ack %s\n", call)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}
