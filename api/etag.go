package api

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/portico-health/portico/store"
)

// etag is the weak entity tag of a version: W/"3" (http.html#versioning).
func etag(version int64) string {
	b := make([]byte, 0, 24)
	b = append(b, `W/"`...)
	b = strconv.AppendInt(b, version, 10)
	return string(append(b, '"'))
}

// setVersionHeaders sets ETag and Last-Modified for a stored version.
func setVersionHeaders(h http.Header, rec store.Record) {
	h["Etag"] = []string{etag(rec.Version)}
	h["Last-Modified"] = []string{rec.LastUpdated.UTC().Format(http.TimeFormat)}
}

// etagCond is a parsed If-Match or If-None-Match header: "*" or a list of entity tags, each
// W/"n" or "n" (weak comparison: both name version n).
type etagCond struct {
	present bool
	any     bool    // "*"
	tags    []int64 // the versions listed
}

// parseETagCond parses the named header; a malformed value is HTTP 400.
func parseETagCond(h http.Header, name string) (etagCond, error) {
	vals := h.Values(name)
	if len(vals) == 0 {
		return etagCond{}, nil
	}
	c := etagCond{present: true}
	for _, v := range vals {
		for part := range strings.SplitSeq(v, ",") {
			part = strings.TrimSpace(part)
			if part == "*" {
				c.any = true
				continue
			}
			n, ok := parseETag(part)
			if !ok {
				return etagCond{}, badRequest("%s: %q is not an entity tag such as W/\"3\"", name, part)
			}
			c.tags = append(c.tags, n)
		}
	}
	if !c.any && len(c.tags) == 0 {
		return etagCond{}, badRequest("%s is empty", name)
	}
	return c, nil
}

// parseETag reads W/"n" or "n" with n a positive version number.
func parseETag(s string) (int64, bool) {
	s = strings.TrimPrefix(s, "W/")
	if len(s) < 3 || s[0] != '"' || s[len(s)-1] != '"' {
		return 0, false
	}
	n, err := strconv.ParseInt(s[1:len(s)-1], 10, 64)
	if err != nil || n < 1 {
		return 0, false
	}
	return n, true
}

// matches reports whether the condition holds for a resource whose current version is
// version (0 when it has no current representation: never existed, or deleted).
func (c etagCond) matches(version int64) bool {
	if version == 0 {
		return false
	}
	if c.any {
		return true
	}
	for _, t := range c.tags {
		if t == version {
			return true
		}
	}
	return false
}

// preconditions are the conditional-request headers of a write (RFC 9110 section 13).
type preconditions struct {
	ifMatch     etagCond
	ifNoneMatch etagCond
}

func parsePreconditions(h http.Header) (preconditions, error) {
	var p preconditions
	var err error
	if p.ifMatch, err = parseETagCond(h, "If-Match"); err != nil {
		return p, err
	}
	p.ifNoneMatch, err = parseETagCond(h, "If-None-Match")
	return p, err
}

// check evaluates the preconditions against the current state of the resource: its live
// version, 0 when it never existed or is deleted. A failure is HTTP 412.
func (p preconditions) check(live int64) error {
	if p.ifMatch.present && !p.ifMatch.matches(live) {
		if live == 0 {
			return preconditionFailed("If-Match: the resource has no current version")
		}
		return preconditionFailed("If-Match: the current version is %s", etag(live))
	}
	if p.ifNoneMatch.present && p.ifNoneMatch.matches(live) {
		return preconditionFailed("If-None-Match: the current version is %s", etag(live))
	}
	return nil
}

// notModified evaluates If-None-Match and, when it is absent, If-Modified-Since for a read
// (RFC 9110 section 13.2.2); true means HTTP 304.
func notModified(h http.Header, rec store.Record) (bool, error) {
	if len(h["If-None-Match"]) > 0 {
		c, err := parseETagCond(h, "If-None-Match")
		if err != nil {
			return false, err
		}
		return c.matches(rec.Version), nil
	}
	if v := h.Get("If-Modified-Since"); v != "" {
		t, ok := ifModifiedSince(v) // an HTTP date, or a FHIR instant (Bundle.entry.request)
		if !ok {
			return false, nil // RFC 9110: an invalid date is ignored
		}
		return !rec.LastUpdated.Truncate(time.Second).After(t), nil
	}
	return false, nil
}
