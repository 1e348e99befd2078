package conformance

import (
	"context"
	"fmt"
	"net/http"
)

// historyBundle requires a 200 Bundle of type history whose entries each carry request and
// response (Bundle invariants bdl-3 and bdl-4), and returns the entries.
func (s *session) historyBundle(ctx context.Context, path string) ([]any, error) {
	r, err := s.do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	if err := r.want(http.StatusOK); err != nil {
		return nil, err
	}
	b, err := r.resource("Bundle")
	if err != nil {
		return nil, err
	}
	if t := str(b, "type"); t != "history" {
		return nil, fmt.Errorf("%s: Bundle.type %q, want history", r, t)
	}
	entries := list(b, "entry")
	for i, e := range entries {
		if str(e, "request", "method") == "" || str(e, "request", "url") == "" {
			return nil, fmt.Errorf("%s: entry[%d] lacks request.method or request.url (bdl-3)", r, i)
		}
		if str(e, "response", "status") == "" {
			return nil, fmt.Errorf("%s: entry[%d] lacks response.status (bdl-4)", r, i)
		}
	}
	return entries, nil
}

// checkHistoryInstance: after create, update and delete, the instance history lists the three
// versions newest first (R4 http.html#history), the delete as a DELETE entry without resource.
func checkHistoryInstance(ctx context.Context, s *session) error {
	if err := s.requireType("Patient", "history-instance", "update", "delete"); err != nil {
		return err
	}
	c, err := s.newPatient(ctx)
	if err != nil {
		return err
	}
	body := withID(fixture("patient.json", "value", c.value), "Patient", c.id)
	if r, err := s.do(ctx, http.MethodPut, "Patient/"+c.id, body); err != nil {
		return err
	} else if err := r.want(http.StatusOK); err != nil {
		return err
	}
	if r, err := s.do(ctx, http.MethodDelete, "Patient/"+c.id, nil); err != nil {
		return err
	} else if err := r.want(deleted...); err != nil {
		return err
	}
	entries, err := s.historyBundle(ctx, "Patient/"+c.id+"/_history")
	if err != nil {
		return err
	}
	if len(entries) != 3 {
		return fmt.Errorf("instance history has %d entries, want 3 (create, update, delete)", len(entries))
	}
	if m := str(entries[0], "request", "method"); m != "DELETE" || at(entries[0], "resource") != nil {
		return fmt.Errorf("newest history entry: method %q, resource %v; want DELETE without resource", m, at(entries[0], "resource") != nil)
	}
	for i, want := range []struct{ method, version string }{{"PUT", "2"}, {"POST", "1"}} {
		e := entries[i+1]
		if m, v := str(e, "request", "method"), str(e, "resource", "meta", "versionId"); m != want.method || v != want.version {
			return fmt.Errorf("history entry %d: method %q, version %q; want %s of version %s", i+1, m, v, want.method, want.version)
		}
		if id := str(e, "resource", "id"); id != c.id {
			return fmt.Errorf("history entry %d: resource id %q, want %q", i+1, id, c.id)
		}
	}
	return nil
}

// checkHistoryType: a new resource appears in its type's history. History is newest first, so
// the version just written is on the first page even on a busy server.
func checkHistoryType(ctx context.Context, s *session) error {
	if err := s.requireType("Patient", "history-type"); err != nil {
		return err
	}
	return s.wantInHistory(ctx, "Patient/_history")
}

// checkHistorySystem: a new resource appears in the system history.
func checkHistorySystem(ctx context.Context, s *session) error {
	if err := s.requireSystem("history-system"); err != nil {
		return err
	}
	return s.wantInHistory(ctx, "_history")
}

func (s *session) wantInHistory(ctx context.Context, path string) error {
	c, err := s.newPatient(ctx)
	if err != nil {
		return err
	}
	entries, err := s.historyBundle(ctx, path)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if str(e, "resource", "resourceType") == "Patient" && str(e, "resource", "id") == c.id {
			return nil
		}
	}
	return fmt.Errorf("GET %s: the new Patient/%s is not on the first page (%d entries)", path, c.id, len(entries))
}
