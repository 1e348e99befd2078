package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"
)

// runHealthcheck is `portico healthcheck`: GET the running server's /readyz (or /healthz with
// --live) and exit 0 when it answers 200, 1 otherwise. It is the container's HEALTHCHECK: the
// image is built from scratch and has no curl.
func runHealthcheck(args []string) int {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	addr := fs.String("addr", ":8080", "the address the server listens on (env PORTICO_ADDR, as for serve)")
	live := fs.Bool("live", false, "check /healthz (the process answers) instead of /readyz (the store answers too)")
	tlsCert := fs.String("tls-cert", "", "set when the server serves HTTPS (env PORTICO_TLS_CERT, as for serve): the check then speaks HTTPS")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	if err := parseWithEnv(fs, args); err != nil {
		fmt.Fprintln(os.Stderr, "portico healthcheck:", err)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "portico healthcheck: unexpected argument %q\n", fs.Arg(0))
		return 2
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
		fmt.Fprintln(os.Stderr, "portico healthcheck:", err)
		return 1
	}
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, "portico healthcheck:", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(os.Stderr, "portico healthcheck: %s answered %d\n", path, resp.StatusCode)
		return 1
	}
	return 0
}
