package api

import (
	"context"
	"fmt"

	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/guard"
)

// runBatch processes a batch Bundle: every entry on its own (its own atomic write, retried
// like the single interactions when it loses a race), in the order of the request. A failing
// entry gets its status and an OperationOutcome in response.outcome; the others are not affected.
func (a *API) runBatch(ctx context.Context, v *guard.View, b *bundleRequest, prefer preferReturn) []byte {
	urls := map[string]bool{}
	for _, e := range b.entries {
		if isURN(e.fullURL) {
			urls[e.fullURL] = true
		}
	}
	for _, e := range b.entries {
		err := e.err
		if err == nil {
			if e.isWrite() {
				err = a.runEntry(ctx, v, e, &refRewriter{a: a, ctx: ctx, v: v, batchURLs: urls})
			} else {
				err = a.getEntry(ctx, v, b, e)
			}
		}
		if err != nil {
			e.fail(err)
		}
	}
	return a.appendResponseBundle(b, "batch-response", prefer)
}

// appendResponseBundle encodes the response Bundle: one entry per request entry, in the
// request's order. Stored bodies are copied in as they are.
//
// An entry repeating an earlier one's fullUrl and version (a batch reading one resource twice,
// a transaction writing a resource and reading it back) goes without fullUrl: R4's invariant
// bdl-7 allows one fullUrl in a non-history Bundle only once per meta.versionId, and the
// official validator rejected such responses. Its response.location, etag and resource.id still
// say which resource it is.
func (a *API) appendResponseBundle(b *bundleRequest, typ string, prefer preferReturn) []byte {
	size := 256
	for _, e := range b.entries {
		size += len(e.body) + 320
	}
	out := make([]byte, 0, size)
	out = append(out, `{"resourceType":"Bundle","id":`...)
	out = appendString(out, newID())
	out = append(out, `,"type":`...)
	out = appendString(out, typ)
	out = append(out, `,"entry":[`...)
	seen := map[string]bool{} // fullUrl and meta.versionId, as bdl-7 compares them
	for i, e := range b.entries {
		if i > 0 {
			out = append(out, ',')
		}
		fullURL := ""
		if e.hasRec && e.rec.Type != "" && e.issues == nil {
			fullURL = a.base + "/" + e.rec.Type + "/" + e.rec.ID
			key := fullURL + "|"
			if e.returnsResource(prefer) {
				key += fmt.Sprint(e.rec.Version)
			}
			if seen[key] {
				fullURL = ""
			}
			seen[key] = true
		}
		out = a.appendEntryResponse(out, e, fullURL, prefer)
	}
	return append(out, "]}"...)
}

// returnsResource says whether the entry's response carries the resource.
func (e *entry) returnsResource(prefer preferReturn) bool {
	return e.body != nil && (!e.isWrite() || prefer == returnRepresentation)
}

func (a *API) appendEntryResponse(b []byte, e *entry, fullURL string, prefer preferReturn) []byte {
	b = append(b, '{')
	read := !e.isWrite()
	if fullURL != "" {
		b = append(b, `"fullUrl":`...)
		b = appendString(b, fullURL)
		b = append(b, ',')
	}
	if e.returnsResource(prefer) {
		b = append(b, `"resource":`...)
		b = append(b, e.body...)
		b = append(b, ',')
	}
	b = append(b, `"response":{"status":`...)
	b = appendString(b, statusLine(e.status))
	if e.hasRec && e.issues == nil && e.outcome == nil {
		if e.method == "POST" || e.method == "PUT" || e.method == "PATCH" {
			b = append(b, `,"location":`...)
			b = appendString(b, e.rec.Type+"/"+e.rec.ID+"/_history/"+fmt.Sprint(e.rec.Version))
		}
		b = append(b, `,"etag":`...)
		b = appendString(b, etag(e.rec.Version))
		b = append(b, `,"lastModified":`...)
		b = appendString(b, fhir.FormatInstant(e.rec.LastUpdated))
	}
	switch {
	case e.outcome != nil:
		b = append(b, `,"outcome":`...)
		b = append(b, e.outcome...)
	case e.issues != nil:
		b = append(b, `,"outcome":`...)
		b = fhir.AppendJSON(b, fhir.Outcome(e.issues...))
	case prefer == returnOutcome && !read && e.hasRec:
		b = append(b, `,"outcome":`...)
		b = fhir.AppendJSON(b, fhir.Outcome(fhir.Issue{Severity: "information", Code: "informational",
			Diagnostics: fmt.Sprintf("%s %s/%s, version %d", statusLine(e.status), e.rec.Type, e.rec.ID, e.rec.Version)}))
	}
	return append(b, "}}"...)
}
