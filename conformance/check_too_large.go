package conformance

import (
	"context"
	"fmt"
	"net/http"
	"strings"
)

// hugeBytes is the size of the body checkTooLarge sends: larger than any sensible single
// resource from a portal client, small enough to send quickly.
const hugeBytes = 20 << 20

// checkTooLarge: a server that limits request bodies refuses a 20 MB resource with 413 and an
// OperationOutcome. FHIR sets no limit, so a server that stores it is skipped, not failed.
func checkTooLarge(ctx context.Context, s *session) error {
	if err := s.requireType("Patient", "create"); err != nil {
		return err
	}
	var b strings.Builder
	b.Grow(hugeBytes + 1024)
	b.WriteString(`{"resourceType": "Patient", "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>`)
	for b.Len() < hugeBytes {
		b.WriteString("Lorem ipsum dolor sit amet, consectetur adipiscing elit. ")
	}
	b.WriteString(`</p></div>"}, "active": true}`)
	r, err := s.do(ctx, http.MethodPost, "Patient", []byte(b.String()))
	if err != nil {
		return err
	}
	if r.status == http.StatusCreated {
		if id, _ := parseLocation(r.header.Get("Location"), "Patient"); id != "" {
			s.track("Patient", id)
		}
		return skipf("the server stored a %d MB resource: it sets no lower limit", hugeBytes>>20)
	}
	if err := r.outcome(http.StatusRequestEntityTooLarge); err != nil {
		return fmt.Errorf("a %d MB body: %w", hugeBytes>>20, err)
	}
	return nil
}
