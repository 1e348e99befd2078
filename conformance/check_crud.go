package conformance

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// crudChecks cover the instance interactions of R4 http.html: create, read, vread, update
// (and update as create), delete and its tombstone.
var crudChecks = []check{
	{"create", checkCreate},
	{"create-ignores-id", checkCreateIgnoresID},
	{"read", checkRead},
	{"vread", checkVRead},
	{"update", checkUpdate},
	{"update-as-create", checkUpdateAsCreate},
	{"delete", checkDelete},
	{"delete-again", checkDeleteAgain},
	{"vread-after-delete", checkVReadAfterDelete},
	{"history-instance", checkHistoryInstance},
	{"history-type", checkHistoryType},
	{"history-system", checkHistorySystem},
}

// checkCreate: 201 with Location [base]/Patient/[id]/_history/1, ETag W/"1", and (asked with
// Prefer: return=representation) the stored resource with its id and meta.
func checkCreate(ctx context.Context, s *session) error {
	value := s.nextValue()
	c, err := s.create(ctx, "Patient", fixture("patient.json", "value", value))
	if err != nil {
		return err
	}
	r := c.resp
	if _, v := parseLocation(r.header.Get("Location"), "Patient"); v != "1" {
		return fmt.Errorf("%s: Location %q, want [base]/Patient/%s/_history/1", r, r.header.Get("Location"), c.id)
	}
	if err := r.etag("1"); err != nil {
		return err
	}
	res, err := r.resource("Patient")
	if err != nil {
		return fmt.Errorf("asked for Prefer: return=representation: %w", err)
	}
	if err := checkStored(res, c.id, "1"); err != nil {
		return fmt.Errorf("%s: %w", r, err)
	}
	if got := str(res, "identifier", 0, "value"); got != value {
		return fmt.Errorf("%s: identifier value %q, want %q as sent", r, got, value)
	}
	return nil
}

// checkStored fails unless a returned resource has the id and version and a lastUpdated instant.
func checkStored(res obj, id, version string) error {
	if got := str(res, "id"); got != id {
		return fmt.Errorf("id %q, want %q", got, id)
	}
	if got := str(res, "meta", "versionId"); got != version {
		return fmt.Errorf("meta.versionId %q, want %q", got, version)
	}
	if lu := str(res, "meta", "lastUpdated"); !isInstant(lu) {
		return fmt.Errorf("meta.lastUpdated %q is not an instant", lu)
	}
	return nil
}

// checkCreateIgnoresID: the id and meta.versionId in a created resource are the server's to
// assign ("If an id is provided, the server SHALL ignore it", R4 http.html#create).
func checkCreateIgnoresID(ctx context.Context, s *session) error {
	clientID := s.nextValue()
	body := edit(fixture("patient.json", "value", s.nextValue()), func(r obj) {
		r["id"] = clientID
		r["meta"] = obj{"versionId": "7"}
	})
	c, err := s.create(ctx, "Patient", body)
	if err != nil {
		return err
	}
	if c.id == clientID {
		return fmt.Errorf("%s: the server kept the client's id %q", c.resp, clientID)
	}
	return s.wantVersion(ctx, "Patient", c.id, "1")
}

// checkRead: 200 with the resource, ETag W/"1" and Last-Modified (R4 http.html#read).
func checkRead(ctx context.Context, s *session) error {
	if err := s.requireType("Patient", "read"); err != nil {
		return err
	}
	c, err := s.newPatient(ctx)
	if err != nil {
		return err
	}
	r, res, err := s.read(ctx, "Patient/"+c.id, "Patient")
	if err != nil {
		return err
	}
	if err := r.etag("1"); err != nil {
		return err
	}
	if err := checkStored(res, c.id, "1"); err != nil {
		return fmt.Errorf("%s: %w", r, err)
	}
	if err := lastModified(r, res); err != nil {
		return err
	}
	if got := str(res, "name", 0, "family"); got != "Okafor" {
		return fmt.Errorf("%s: name.family %q, want %q as created", r, got, "Okafor")
	}
	return nil
}

// lastModified fails unless the Last-Modified header is meta.lastUpdated, to the second: R4
// http.html maps one to the other, and conditional reads depend on it.
func lastModified(r *response, res obj) error {
	lm, err := http.ParseTime(r.header.Get("Last-Modified"))
	if err != nil {
		return fmt.Errorf("%s: Last-Modified %q is not an HTTP date", r, r.header.Get("Last-Modified"))
	}
	lu, err := time.Parse(time.RFC3339Nano, str(res, "meta", "lastUpdated"))
	if err != nil {
		return fmt.Errorf("%s: meta.lastUpdated %q is not an instant", r, str(res, "meta", "lastUpdated"))
	}
	if !lm.Equal(lu.Truncate(time.Second)) {
		return fmt.Errorf("%s: Last-Modified %q is not meta.lastUpdated %q", r, r.header.Get("Last-Modified"), str(res, "meta", "lastUpdated"))
	}
	return nil
}

// checkVRead: GET [type]/[id]/_history/1 returns that version with ETag W/"1".
func checkVRead(ctx context.Context, s *session) error {
	if err := s.requireType("Patient", "vread"); err != nil {
		return err
	}
	c, err := s.newPatient(ctx)
	if err != nil {
		return err
	}
	r, res, err := s.read(ctx, "Patient/"+c.id+"/_history/1", "Patient")
	if err != nil {
		return err
	}
	if err := r.etag("1"); err != nil {
		return err
	}
	if err := checkStored(res, c.id, "1"); err != nil {
		return fmt.Errorf("%s: %w", r, err)
	}
	return nil
}
