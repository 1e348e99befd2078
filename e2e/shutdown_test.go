package e2e

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestSIGTERMGraceful sends SIGTERM while a create is in flight (its body half sent): the
// server must stop accepting connections, still answer that request (201), exit with status
// 0, and have committed the write.
func TestSIGTERMGraceful(t *testing.T) {
	addr, dir := freeAddr(t), t.TempDir()
	p := startPortico(t, addr, dir)
	body, err := json.Marshal(example(t, "patient-full.json"))
	if err != nil {
		t.Fatal(err)
	}
	hash, err := contentHash(body)
	if err != nil {
		t.Fatal(err)
	}

	pr, pw := io.Pipe()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, p.base+"/Patient", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/fhir+json")
	type answer struct {
		r   response
		err error
	}
	answered := make(chan answer, 1)
	go func() {
		resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
		if err != nil {
			answered <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		answered <- answer{response{resp.StatusCode, resp.Header, data}, err}
	}()
	half := len(body) / 2
	if _, err := pw.Write(body[:half]); err != nil { // returns once the transport has sent it
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the server has read the header: the request is in flight

	p.terminate()
	if !eventually(5*time.Second, func() bool {
		conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			conn.Close()
		}
		return err != nil
	}) {
		t.Error("the server still accepts connections 5 s after SIGTERM")
	}
	select {
	case a := <-answered:
		t.Fatalf("the in-flight request was answered before its body was complete: %+v", a)
	default:
	}
	if _, err := pw.Write(body[half:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()

	a := <-answered
	if a.err != nil || a.r.status != http.StatusCreated {
		t.Fatalf("in-flight create after SIGTERM: status %d, error %v: %.300s", a.r.status, a.err, a.r.body)
	}
	id, v, err := written(a.r)
	if err != nil {
		t.Fatal(err)
	}
	code, err := p.wait(t.Context(), 20*time.Second)
	if err != nil || code != 0 {
		t.Fatalf("portico serve after SIGTERM: exit code %d, %v", code, err)
	}

	p2 := startPortico(t, addr, dir)
	if err := checkVRead(t.Context(), newClient(p2.base), ack{key{"Patient", id}, v, hash}); err != nil {
		t.Errorf("the write answered during shutdown: %v", err)
	}
}

// eventually polls cond every 20 ms for up to d.
func eventually(d time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return false
}
