// Command portico-load measures Portico over HTTP beside the ceilings of the layers it is built
// on, in one bounded run on this machine, and prints one table:
//
//   - ceilings: encoding/json decode+encode of the stored Observation and Patient into the
//     fhir/r4 structs (one goroutine); raw SQLite inserts and point reads on the store's schema
//     (store/sqlite's Ceiling); a bare Echo answering the stored body from memory; and the
//     combined ceiling, a bare Echo answering the raw SQLite point read of Portico's own
//     database file;
//   - Portico (`portico serve` built from the repository, run as a child process with its
//     real configuration): read by id, create and update over HTTP, and its resident memory.
//
// All traffic goes to 127.0.0.1; every phase lasts --duration after a short warm-up and stops
// by itself.
//
//	go run ./cmd/portico-load                       # full run, --preload 100000
//	go run ./cmd/portico-load --preload 5000 --duration 1s --only read,create
//	go run ./cmd/portico-load --server inproc --only read --cpuprofile /tmp/portico
//	go tool pprof -tagfocus=side=server -top -cum /tmp/portico-read.pprof
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// options are the flags of a run.
type options struct {
	duration, warmup         time.Duration
	preloadTimeout           time.Duration
	conns, writers, preload  int
	dataDir, store, only     string
	repo, server, cpuprofile string
	auth                     string
	searchObservations       int    // Observations of the search dataset
	searchDir                string // where the search dataset is kept ("" = in the work directory)
	txClients                int    // clients of the transaction phase
	phases                   map[string]bool
}

// The phases --only can name, in the order they run.
var phaseNames = []string{"json", "sqlite", "echo", "echo-sqlite", "read", "create", "update", "transaction", "search"}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "ceiling-server" {
		os.Exit(ceilingServerMain(os.Args[2:]))
	}
	os.Exit(mainLoad(os.Args[1:]))
}

func mainLoad(args []string) int {
	o, err := parseFlags(args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(os.Stderr, "portico-load:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	rep, err := runAll(ctx, o)
	if rep != nil {
		rep.print(os.Stdout, o, time.Since(start))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "portico-load:", err)
		return 1
	}
	return 0
}

func parseFlags(args []string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("portico-load", flag.ContinueOnError)
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "measured length of each phase (after a warm-up of min(1s, duration/5))")
	fs.IntVar(&o.conns, "conns", 32, "connections of the read phases (Portico read and the Echo ceilings)")
	fs.IntVar(&o.writers, "writers", 16, "clients of the create and update phases")
	fs.IntVar(&o.preload, "preload", 100_000, "resources stored before the HTTP phases (and in the SQLite ceiling's database)")
	fs.DurationVar(&o.preloadTimeout, "preload-timeout", 10*time.Minute, "stop the preload after this long and go on with what was stored")
	fs.IntVar(&o.searchObservations, "search-observations", 1_000_000, "Observations of the search phase's dataset (over a hundredth as many Patients, with a tenth as many Communications)")
	fs.StringVar(&o.searchDir, "search-dir", "", "where the search dataset is built and kept for later runs (reused when it matches); default: in the work directory, removed with it")
	fs.IntVar(&o.txClients, "tx-clients", 4, "clients of the transaction phase")
	fs.StringVar(&o.dataDir, "data-dir", "", "work directory (kept); default a temporary directory removed at the end")
	fs.StringVar(&o.store, "store", "", "passed to server.Config.Store (portico serve --store); the SQLite ceilings need the embedded store")
	fs.StringVar(&o.only, "only", "", "comma-separated phases to run: "+strings.Join(phaseNames, ","))
	fs.StringVar(&o.repo, "repo", "", "repository root (fixtures, and the source `portico` is built from); default: found from the working directory")
	fs.StringVar(&o.auth, "auth", "smart", "passed to portico serve --auth: smart (the default: requests carry a client_credentials token of an app the tool registers) or none")
	fs.StringVar(&o.server, "server", "binary", "binary: servers run as child processes (`portico serve`); inproc: in this process")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write CPU profiles of the Portico phases to PREFIX-read.pprof, PREFIX-create.pprof, PREFIX-update.pprof (needs --server inproc; server goroutines carry the label side=server, client ones side=client)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	var errs []error
	if o.duration <= 0 || o.duration > 10*time.Minute {
		errs = append(errs, errors.New("--duration must be in (0, 10m]"))
	}
	if o.conns < 1 || o.conns > 1024 || o.writers < 1 || o.writers > 1024 {
		errs = append(errs, errors.New("--conns and --writers must be in [1, 1024]"))
	}
	if o.searchObservations < 1000 || o.searchObservations > 10_000_000 {
		errs = append(errs, errors.New("--search-observations must be in [1000, 10000000]"))
	}
	if o.txClients < 1 || o.txClients > 256 {
		errs = append(errs, errors.New("--tx-clients must be in [1, 256]"))
	}
	if o.preload < 100 || o.preload > 10_000_000 {
		errs = append(errs, errors.New("--preload must be in [100, 10000000]"))
	}
	if o.preloadTimeout <= 0 {
		errs = append(errs, errors.New("--preload-timeout must be positive"))
	}
	if o.server != "binary" && o.server != "inproc" {
		errs = append(errs, fmt.Errorf("--server %q: want binary or inproc", o.server))
	}
	if o.auth != "smart" && o.auth != "none" {
		errs = append(errs, fmt.Errorf("--auth %q: want smart or none", o.auth))
	}
	if o.cpuprofile != "" && o.server != "inproc" {
		errs = append(errs, errors.New("--cpuprofile needs --server inproc"))
	}
	o.phases = map[string]bool{}
	for p := range strings.SplitSeq(o.only, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		if !slices.Contains(phaseNames, p) {
			errs = append(errs, fmt.Errorf("--only: unknown phase %q (%s)", p, strings.Join(phaseNames, ",")))
		}
		o.phases[p] = true
	}
	if len(o.phases) == 0 {
		for _, p := range phaseNames {
			o.phases[p] = true
		}
	}
	o.warmup = min(time.Second, o.duration/5)
	if o.repo == "" {
		var err error
		if o.repo, err = findRepo(); err != nil {
			errs = append(errs, err)
		}
	}
	return o, errors.Join(errs...)
}

// findRepo walks up from the working directory to the root of Portico's module.
func findRepo() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(data), "module github.com/portico-health/portico\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the portico repository: give --repo")
		}
		dir = parent
	}
}

// logf reports progress on stderr; the table goes to stdout.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// gomaxprocs is reported with the machine.
func gomaxprocs() int { return runtime.GOMAXPROCS(0) }
