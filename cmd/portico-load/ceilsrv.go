package main

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/portico-health/portico/store/sqlite"
)

// The ceiling servers are bare Echo instances, no middleware, one route: "memory" answers the
// same stored Observation body from memory (ceiling iii), "sqlite" answers the body that the
// raw SQLite point read finds in Portico's database file (ceiling iv, the combined ceiling).

// ceilingEcho builds the bare Echo of one ceiling server.
func ceilingEcho(mode string, body []byte, rr *sqlite.RawReader) *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	switch mode {
	case "memory":
		e.GET("/fhir/:type/:id", func(c echo.Context) error {
			return c.Blob(http.StatusOK, "application/fhir+json", body)
		})
	case "sqlite":
		e.GET("/fhir/:type/:id", func(c echo.Context) error {
			b, err := rr.Body(c.Request().Context(), c.Param("type"), c.Param("id"))
			if errors.Is(err, sql.ErrNoRows) {
				return c.NoContent(http.StatusNotFound)
			}
			if err != nil {
				return err
			}
			return c.Blob(http.StatusOK, "application/fhir+json", b)
		})
	}
	return e
}

// serveCeiling serves a ceiling server on ln until ctx ends. The sqlite mode reads the
// database of the store in dataDir with store/sqlite's RawReader: the SQL Store.Read runs, on
// a read pool configured as the store's (GOMAXPROCS connections), without the store's logic.
func serveCeiling(ctx context.Context, ln net.Listener, mode string, body []byte, dataDir string) error {
	var rr *sqlite.RawReader
	if mode == "sqlite" {
		var err error
		if rr, err = sqlite.OpenRawReader(ctx, dataDir, 0); err != nil {
			return err
		}
		defer rr.Close()
	}
	srv := &http.Server{Handler: ceilingEcho(mode, body, rr), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// ceilingServerMain is the hidden subcommand `portico-load ceiling-server`: the load tool runs
// itself as a child process so that the ceiling servers, like `portico serve`, have a process
// (and a Go runtime) of their own. It prints its base URL on stdout and serves until its
// standard input closes, so it never outlives the load tool.
func ceilingServerMain(args []string) int {
	fs := flag.NewFlagSet("ceiling-server", flag.ContinueOnError)
	mode := fs.String("mode", "memory", "memory or sqlite")
	bodyFile := fs.String("body", "", "file with the body the memory server answers")
	dir := fs.String("dir", "", "data directory of the store the sqlite server reads")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var body []byte
	if *mode == "memory" {
		var err error
		if body, err = os.ReadFile(*bodyFile); err != nil {
			fmt.Fprintln(os.Stderr, "ceiling-server:", err)
			return 1
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "ceiling-server:", err)
		return 1
	}
	fmt.Printf("http://%s\n", ln.Addr())
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin) // returns when the parent closes the pipe or exits
		cancel()
	}()
	if err := serveCeiling(ctx, ln, *mode, body, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "ceiling-server:", err)
		return 1
	}
	return 0
}

// startCeiling starts a ceiling server, as a child process or in this process.
func startCeiling(ctx context.Context, o *options, mode string, body []byte, bodyFile, dataDir string) (*target, error) {
	if o.server == "inproc" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		sctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go pprof.Do(sctx, pprof.Labels("side", "server"), func(sctx context.Context) {
			done <- serveCeiling(sctx, ln, mode, body, dataDir)
		})
		return &target{base: "http://" + ln.Addr().String(), pid: os.Getpid(),
			stop: func() error { cancel(); return <-done }}, nil
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, self, "ceiling-server", "-mode", mode, "-body", bodyFile, "-dir", dataDir)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("ceiling server did not start: %w", err)
	}
	return &target{base: strings.TrimSpace(line), pid: cmd.Process.Pid, stop: func() error {
		_ = stdin.Close()
		return cmd.Wait()
	}}, nil
}
