package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// newClient is the lean load client: keep-alive HTTP/1.1 with one idle connection kept per
// worker, no proxy, no compression. With one goroutine per connection, each worker reuses its
// own connection for every request.
func newClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			Proxy:               nil, // loopback only: never through a proxy
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			MaxConnsPerHost:     conns,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
}

// requireLoopback refuses any base URL whose host is not a loopback address: the load tool
// sends traffic to this machine only.
func requireLoopback(base string) error {
	u, err := url.Parse(base)
	if err != nil {
		return err
	}
	ip := net.ParseIP(u.Hostname())
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%s: the load tool only targets loopback addresses (127.0.0.1, ::1)", base)
	}
	return nil
}

// worker is one client connection's state: its buffer for response bodies, and the
// Authorization header value it sends ("" for none).
type worker struct {
	c      *http.Client
	buf    bytes.Buffer
	bearer string
}

func newWorkers(c *http.Client, n int, bearer string) []*worker {
	ws := make([]*worker, n)
	for i := range ws {
		ws[i] = &worker{c: c, bearer: bearer}
	}
	return ws
}

// do sends one request and reads the whole response into w.buf; a status other than want is
// an error. The response's header is returned for ETag and Location.
func (w *worker) do(ctx context.Context, method, u string, body []byte, hdr map[string]string, want int) (http.Header, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	if w.bearer != "" {
		req.Header.Set("Authorization", w.bearer)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := w.c.Do(req)
	if err != nil {
		return nil, err
	}
	w.buf.Reset()
	_, err = w.buf.ReadFrom(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the response: %w", method, u, err)
	}
	if resp.StatusCode != want {
		return nil, fmt.Errorf("%s %s: status %d, want %d: %.200s", method, u, resp.StatusCode, want, w.buf.Bytes())
	}
	return resp.Header, nil
}
