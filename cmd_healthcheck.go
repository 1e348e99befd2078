package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

const healthcheckUsage = `usage: portico healthcheck [--addr :8080] [--live] [--timeout 3s]

Exits 0 when the server on --addr answers 200 at /readyz (it serves and its store can write),
1 otherwise. The container image's HEALTHCHECK.`

// runHealthcheck is `portico healthcheck`: GET the running server's /readyz (or /healthz with
// --live) and exit 0 when it answers 200, 1 otherwise. It is the container's HEALTHCHECK: the
// image is built from scratch and has no curl.
func runHealthcheck(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	addr := fs.String("addr", ":8080", "the address the server listens on (env PORTICO_ADDR, as for serve)")
	live := fs.Bool("live", false, "check /healthz (the process answers) instead of /readyz (the store answers too)")
	tlsCert := fs.String("tls-cert", "", "set when the server serves HTTPS (env PORTICO_TLS_CERT, as for serve): the check then speaks HTTPS")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	if code, done := parseCommand(fs, args, healthcheckUsage, stdout, stderr); done {
		return code
	}
	host := *addr
	if strings.HasPrefix(host, ":") {
		host = "127.0.0.1" + host
	}
	path := "/readyz"
	if *live {
		path = "/healthz"
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	scheme, client := "http", http.DefaultClient
	if *tlsCert != "" {
		// The certificate names the public host, not 127.0.0.1: this local probe checks that
		// the server answers, not who it is.
		scheme = "https"
		client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+host+path, nil)
	if err != nil {
		fmt.Fprintln(stderr, "portico healthcheck:", err)
		return 1
	}
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintln(stderr, "portico healthcheck:", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "portico healthcheck: %s answered %d\n", path, resp.StatusCode)
		return 1
	}
	return 0
}
