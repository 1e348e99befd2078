package api_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/portico-health/portico/api"
	"github.com/portico-health/portico/fhir"
)

// recorder is a write hook that records what it saw, tags every Basic it writes, refuses
// writes of Basic with code "refuse", and for a Basic with code "twin" creates a second Basic
// in the same write.
type recorder struct {
	mu   sync.Mutex
	seen []string
}

func (h *recorder) BeforeWrite(ctx context.Context, w *api.WriteContext) error {
	h.mu.Lock()
	prev := "-"
	if w.Previous != nil {
		prev = w.Previous.Type + "/" + w.Previous.ID
	}
	h.seen = append(h.seen, string(w.Interaction)+" "+w.Type+" prev="+prev+" bundle="+map[bool]string{true: "y", false: "n"}[w.InBundle])
	h.mu.Unlock()
	if w.Type != "Basic" {
		return nil
	}
	if w.Resource == nil { // delete
		if w.Previous != nil && strings.Contains(string(w.Previous.Body), `"keep"`) {
			return api.NewError(http.StatusConflict, "business-rule", "this Basic is kept forever")
		}
		return nil
	}
	code := ""
	if c := w.Resource.Root.Get("code"); c != nil {
		if t := c.Get("text"); t != nil {
			code = t.Text
		}
	}
	w.Resource.Root.Set("subject", obj("reference", "Patient/hooked"))
	switch code {
	case "refuse":
		return api.NewError(http.StatusUnprocessableEntity, "business-rule", "refused by the hook")
	case "twin":
		twin, err := fhir.ParseResource([]byte(`{"resourceType":"Basic","code":{"text":"made by hook for ` + w.Reference() + `"}}`))
		if err != nil {
			return err
		}
		if _, err := w.Create(twin); err != nil {
			return err
		}
	}
	return nil
}

func obj(k, v string) fhir.Value {
	o := fhir.Value{Kind: fhir.Object}
	o.Set(k, fhir.Str(v))
	return o
}

func (h *recorder) take() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.seen
	h.seen = nil
	return out
}

func TestWriteHooks(t *testing.T) {
	h := &recorder{}
	s := newServer(t, func(o *options) { o.hooks = []api.WriteHook{h} })
	count := func(text string) int {
		r := s.do("GET", "/Basic?_count=100", "")
		return strings.Count(string(r.Body), text)
	}

	r := s.do("POST", "/Basic", `{"resourceType":"Basic","code":{"text":"twin"}}`)
	wantStatus(t, r, http.StatusCreated)
	id := jsonString(t, r.Body, "id")
	if jsonString(t, r.Body, "subject", "reference") != "Patient/hooked" {
		t.Errorf("the hook's change is not stored: %s", r.Body)
	}
	if n := count("made by hook for Basic/" + id); n != 1 {
		t.Errorf("the extra write happened %d times, want 1", n)
	}
	if got := h.take(); len(got) != 1 || got[0] != "create Basic prev=- bundle=n" {
		t.Errorf("hook saw %q", got)
	}

	r = s.do("POST", "/Basic", `{"resourceType":"Basic","code":{"text":"refuse"}}`)
	wantOutcome(t, r, http.StatusUnprocessableEntity, "business-rule")
	h.take()

	r = s.do("PUT", "/Basic/"+id, `{"resourceType":"Basic","id":"`+id+`","code":{"text":"keep"}}`)
	wantStatus(t, r, http.StatusOK)
	r = s.do("PUT", "/Basic/new-one", `{"resourceType":"Basic","id":"new-one","code":{"text":"x"}}`)
	wantStatus(t, r, http.StatusCreated)
	r = s.do("PATCH", "/Basic/new-one", `[{"op":"replace","path":"/code/text","value":"y"}]`, "Content-Type", "application/json-patch+json")
	wantStatus(t, r, http.StatusOK)
	r = s.do("PUT", "/Basic?_id=new-one", `{"resourceType":"Basic","code":{"text":"z"}}`)
	wantStatus(t, r, http.StatusOK)
	if got, want := strings.Join(h.take(), "|"), "update Basic prev=Basic/"+id+" bundle=n|update Basic prev=- bundle=n|patch Basic prev=Basic/new-one bundle=n|update Basic prev=Basic/new-one bundle=n"; got != want {
		t.Errorf("hook saw\n%s\nwant\n%s", got, want)
	}

	r = s.do("DELETE", "/Basic/"+id, "")
	wantOutcome(t, r, http.StatusConflict, "business-rule")
	r = s.do("DELETE", "/Basic?_id="+id, "")
	wantOutcome(t, r, http.StatusConflict, "business-rule")
	r = s.do("DELETE", "/Basic/new-one", "")
	wantStatus(t, r, http.StatusNoContent)
	if got := h.take(); len(got) != 3 || got[0] != "delete Basic prev=Basic/"+id+" bundle=n" {
		t.Errorf("hook saw %q", got)
	}

	t.Run("transaction", func(t *testing.T) {
		before := count("made by hook")
		r := s.do("POST", "", `{"resourceType":"Bundle","type":"transaction","entry":[
			{"fullUrl":"urn:uuid:1","resource":{"resourceType":"Basic","code":{"text":"twin"}},"request":{"method":"POST","url":"Basic"}},
			{"resource":{"resourceType":"Patient","active":true},"request":{"method":"POST","url":"Patient"}}]}`)
		wantStatus(t, r, http.StatusOK)
		if got := count("made by hook"); got != before+1 {
			t.Errorf("extra writes %d, want %d", got, before+1)
		}
		if got := h.take(); len(got) != 2 || !strings.HasSuffix(got[0], "bundle=y") {
			t.Errorf("hook saw %q", got)
		}
		// a refusal fails the whole transaction, the extra writes of other entries included
		r = s.do("POST", "", `{"resourceType":"Bundle","type":"transaction","entry":[
			{"resource":{"resourceType":"Basic","code":{"text":"twin"}},"request":{"method":"POST","url":"Basic"}},
			{"resource":{"resourceType":"Basic","code":{"text":"refuse"}},"request":{"method":"POST","url":"Basic"}}]}`)
		wantOutcome(t, r, http.StatusUnprocessableEntity, "business-rule")
		if got := count("made by hook"); got != before+1 {
			t.Errorf("after a refused transaction: extra writes %d, want %d", got, before+1)
		}
		h.take()
	})
	t.Run("batch", func(t *testing.T) {
		before := count("made by hook")
		r := s.do("POST", "", `{"resourceType":"Bundle","type":"batch","entry":[
			{"resource":{"resourceType":"Basic","code":{"text":"twin"}},"request":{"method":"POST","url":"Basic"}},
			{"resource":{"resourceType":"Basic","code":{"text":"refuse"}},"request":{"method":"POST","url":"Basic"}},
			{"request":{"method":"DELETE","url":"Basic/`+id+`"}}]}`)
		wantStatus(t, r, http.StatusOK)
		body := string(r.Body)
		if !strings.Contains(body, `"201 Created"`) || !strings.Contains(body, `"422 Unprocessable Entity"`) || !strings.Contains(body, `"409 Conflict"`) {
			t.Errorf("batch response %s", body)
		}
		if got := count("made by hook"); got != before+1 {
			t.Errorf("extra writes %d, want %d", got, before+1)
		}
	})
}
