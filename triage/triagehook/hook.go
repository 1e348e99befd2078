// Package triagehook wires triage into the FHIR API as an api.WriteHook: every new
// Communication a Patient or RelatedPerson sends is classified (priority, category, reasons),
// routed to more recipients, given a due time from the clinic calendar, and, when it is stat
// or arrives out of hours, answered at once by an automatic reply stored in the same atomic
// write. A Communication answering a patient message (inResponseTo) completes it and records
// the response time. Patient messages cannot be deleted. docs/triage.md describes it all.
package triagehook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/portico-health/portico/api"
	"github.com/portico-health/portico/definitions"
	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/policy"
	"github.com/portico-health/portico/store"
	"github.com/portico-health/portico/triage"
	"github.com/portico-health/portico/triage/triagefhir"
)

// The extensions the hook writes, besides triagefhir's. Documented in docs/triage.md.
const (
	sd = definitions.Base + "/StructureDefinition/"
	// ExtDue: when the message should be answered (valueDateTime, clinic time zone). The
	// Communication search parameter `due` indexes it.
	ExtDue = sd + "triage-due"
	// ExtOutOfHours: the message arrived outside opening hours (valueBoolean true).
	ExtOutOfHours = sd + "triage-out-of-hours"
	// ExtRouted, on a Reference in Communication.recipient: the recipient was added by
	// triage (valueString: the route id, or "on-call").
	ExtRouted = sd + "triage-routed"
	// ExtAutoReply, on a patient message: the automatic reply sent (valueReference).
	ExtAutoReply = sd + "triage-auto-reply"
	// ExtAutoReplyKind, on an automatic reply: its kind (valueCode: stat, after_hours).
	ExtAutoReplyKind = sd + "triage-auto-reply-kind"
	// ExtResponse, on an answered patient message (complex): answer (valueReference),
	// answered (valueDateTime), elapsed (valueDuration, wall-clock minutes from received),
	// businessElapsed (valueDuration, minutes of opening time), onTime (valueBoolean: answered
	// by the due time).
	ExtResponse = sd + "triage-response"
)

// Hook is the triage write hook. Create it with New.
type Hook struct {
	engine  *triage.Engine
	cfg     *Config
	observe func(triage.Result) // SetObserver
}

// New returns the hook for a triage engine (nil: the shipped one) and configuration (nil:
// the shipped default configuration).
func New(e *triage.Engine, cfg *Config) (*Hook, error) {
	if e == nil {
		var err error
		if e, err = triage.Default(); err != nil {
			return nil, err
		}
	}
	if cfg == nil {
		var err error
		if cfg, err = ParseConfig(defaultConfigJSON); err != nil {
			return nil, err
		}
	}
	return &Hook{engine: e, cfg: cfg}, nil
}

// SetObserver makes the hook call observe with the result of every message it triages, as
// soon as it is decided (the server counts them in its metrics). Call it before the hook
// serves requests.
func (h *Hook) SetObserver(observe func(triage.Result)) { h.observe = observe }

// Engine is the hook's triage engine.
func (h *Hook) Engine() *triage.Engine { return h.engine }

// Config is the hook's configuration.
func (h *Hook) Config() *Config { return h.cfg }

// ServiceName is the name of the hook's principal, on the writes it adds (store.Write.Service).
const ServiceName = "triage"

// Principal implements api.ServiceHook: what the triage service may do on its own. It writes
// Communications (automatic replies; the completion of an answered message, which the guard
// allows only on a message the answering caller may read) and reads the patient's care team
// and general practitioners for routing.
func (h *Hook) Principal() policy.Principal {
	scopes, _, err := policy.ParseScopes("system/Communication.cru system/CareTeam.rs system/Patient.r")
	if err != nil {
		panic(err) // a constant
	}
	return policy.Principal{Service: ServiceName, Scopes: scopes}
}

// BeforeWrite implements api.WriteHook.
func (h *Hook) BeforeWrite(ctx context.Context, w *api.WriteContext) error {
	if w.Type != "Communication" {
		return nil
	}
	switch w.Interaction {
	case api.InteractionDelete:
		if w.Previous == nil {
			return nil
		}
		prev, err := fhir.ParseJSON(w.Previous.Body)
		if err == nil && triagefhir.ShouldTriage(&prev, w.Base) {
			e := api.NewError(http.StatusConflict, "business-rule",
				"Communication/%s is a patient message, part of the medical record: it cannot be deleted. To withdraw it, update its status to entered-in-error; the history keeps every version.", w.ID)
			return e
		}
		return nil
	case api.InteractionCreate:
	case api.InteractionUpdate, api.InteractionPatch:
		if w.Previous != nil { // a change of an existing message: the practice's, kept as written
			return patientChange(ctx, w)
		}
	default:
		return nil
	}
	root := &w.Resource.Root
	if triagefhir.ShouldTriage(root, w.Base) {
		return h.triage(ctx, w, root)
	}
	if len(arr(root.Get("inResponseTo"))) > 0 && findExt(root, ExtAutoReplyKind) == nil {
		return h.answer(ctx, w, root)
	}
	return nil
}

// triage classifies, routes and dates a new patient message, and adds the automatic reply.
func (h *Hook) triage(ctx context.Context, w *api.WriteContext, root *fhir.Value) error {
	msg := triagefhir.MessageFrom(root)
	msg.Screening = h.screening(ctx, w, root)
	res := h.engine.Classify(msg)
	if h.observe != nil {
		h.observe(res)
	}
	triagefhir.Apply(root, res, triage.CategoryDisplay(res.Category))

	switch str(root.Get("status")) {
	case "entered-in-error":
	default:
		root.Set("status", fhir.Str("in-progress")) // awaiting an answer
	}
	received, given := receivedAt(ctx, root, w.Now)
	if !given {
		root.Set("received", fhir.Str(fhir.FormatInstant(received)))
	}

	// Routing: the original recipients stay first and unmarked; triage adds the others.
	if rt := h.cfg.Route(res.Category, res.Priority); rt != nil {
		for _, ref := range rt.Recipients {
			addRecipient(root, ref, rt.ID)
		}
		if rt.CareTeam {
			for _, ref := range h.careTeam(ctx, w, root) {
				addRecipient(root, ref, rt.ID)
			}
		}
		if rt.GeneralPractitioner {
			for _, ref := range h.generalPractitioners(ctx, w, root) {
				addRecipient(root, ref, rt.ID)
			}
		}
	}
	if res.Priority == triage.Stat {
		for _, ref := range h.cfg.File.OnCall {
			addRecipient(root, ref, "on-call")
		}
	}

	// Due time and hours: a message for review is looked at within the review target.
	cal := h.cfg.Calendar
	due := h.cfg.Due(res.Priority, received)
	if res.Review {
		due = minTime(due, h.cfg.ReviewDue(received))
	}
	setExt(root, ExtDue, "valueDateTime", fhir.Str(formatLocal(due, cal.Location())))
	open := cal.IsOpen(received)
	if open {
		removeExt(root, ExtOutOfHours)
	} else {
		setExt(root, ExtOutOfHours, "valueBoolean", fhir.Value{Kind: fhir.Bool, Text: "true"})
	}

	// Automatic reply, in the same write.
	kind := ""
	switch {
	case res.Priority == triage.Stat:
		kind = ReplyStat
	case res.Interpreter:
		kind = ReplyLanguage
	case !open:
		kind = ReplyAfterHours
	case h.cfg.File.Replies[ReplyReceived] != nil:
		kind = ReplyReceived
	}
	if kind == "" {
		removeExt(root, ExtAutoReply)
		return nil
	}
	text, lang := h.cfg.ReplyText(kind, res.Language, cal.NextOpen(received), due)
	id, err := w.Create(h.reply(w, root, kind, text, lang))
	if err != nil {
		return err
	}
	setExt(root, ExtAutoReply, "valueReference", jsonValue(map[string]string{"reference": "Communication/" + id}))
	return nil
}

type replyJSON struct {
	ResourceType string           `json:"resourceType"`
	Extension    []map[string]any `json:"extension"`
	Status       string           `json:"status"`
	Category     []any            `json:"category"`
	Priority     string           `json:"priority,omitempty"`
	Subject      any              `json:"subject,omitempty"`
	InResponseTo []any            `json:"inResponseTo"`
	Recipient    []any            `json:"recipient"`
	Sender       any              `json:"sender,omitempty"`
	Sent         string           `json:"sent"`
	Language     string           `json:"language,omitempty"`
	Payload      []any            `json:"payload"`
}

// AutoReplySystem is the CodeSystem of the category of automatic replies (codes stat,
// after_hours).
const AutoReplySystem = definitions.Base + "/CodeSystem/triage-auto-reply"

func (h *Hook) reply(w *api.WriteContext, msg *fhir.Value, kind, text, lang string) *fhir.Resource {
	r := replyJSON{
		ResourceType: "Communication",
		Extension:    []map[string]any{{"url": ExtAutoReplyKind, "valueCode": kind}},
		Status:       "completed",
		Category:     []any{map[string]any{"coding": []any{map[string]string{"system": AutoReplySystem, "code": kind}}}},
		InResponseTo: []any{map[string]string{"reference": w.Reference()}},
		Sent:         fhir.FormatInstant(w.Now),
		Language:     lang,
		Payload:      []any{map[string]string{"contentString": text}},
	}
	if kind == ReplyStat {
		r.Priority = "stat"
	}
	sender := msg.Get("sender")
	if s := msg.Get("subject"); s != nil {
		r.Subject = toAny(*s)
	} else if strings.HasPrefix(str(sender.Get("reference")), "Patient/") {
		r.Subject = toAny(*sender)
	}
	r.Recipient = []any{toAny(*sender)}
	if p := h.cfg.File.Practice; p != nil {
		r.Sender = p
	}
	data, _ := json.Marshal(r)
	res, err := fhir.ParseResource(data)
	if err != nil { // cannot happen with a validated sender; keep the shape visible if it does
		return &fhir.Resource{Root: jsonValue(r)}
	}
	return res
}

// patientID is the id of the message's patient: the sender, or the subject when a
// RelatedPerson writes.
func patientID(root *fhir.Value, base string) string {
	for _, el := range []string{"sender", "subject"} {
		if typ, id, ok := fhir.LiteralReference(str(root.Get(el).Get("reference")), base); ok && typ == "Patient" {
			return id
		}
	}
	return ""
}

// careTeam lists the clinical members of the patient's active CareTeams.
func (h *Hook) careTeam(ctx context.Context, w *api.WriteContext, root *fhir.Value) []Ref {
	id := patientID(root, w.Base)
	if id == "" {
		return nil
	}
	page, err := w.System.Search(ctx, store.Query{
		Types: []string{"CareTeam"},
		Where: []store.Clause{
			{Param: "patient", Kind: store.KindReference, Values: []store.Value{{RefType: "Patient", RefID: id}}},
			{Param: "status", Kind: store.KindToken, Values: []store.Value{{Code: "active", AnySystem: true}}},
		},
		Count: 20,
	})
	if err != nil {
		return nil // routing is best effort: the original addressee still has the message
	}
	var out []Ref
	for _, rec := range page.Records {
		team, err := fhir.ParseJSON(rec.Body)
		if err != nil {
			continue
		}
		for _, p := range arr(team.Get("participant")) {
			r := str(p.Get("member").Get("reference"))
			switch {
			case strings.HasPrefix(r, "Practitioner/"), strings.HasPrefix(r, "PractitionerRole/"),
				strings.HasPrefix(r, "Organization/"), strings.HasPrefix(r, "CareTeam/"):
				out = append(out, Ref{Reference: r, Display: str(p.Get("member").Get("display"))})
			}
		}
	}
	return out
}

// generalPractitioners reads Patient.generalPractitioner of the message's patient.
func (h *Hook) generalPractitioners(ctx context.Context, w *api.WriteContext, root *fhir.Value) []Ref {
	id := patientID(root, w.Base)
	if id == "" {
		return nil
	}
	rec, err := w.System.Read(ctx, "Patient", id)
	if err != nil {
		return nil
	}
	p, err := fhir.ParseJSON(rec.Body)
	if err != nil {
		return nil
	}
	var out []Ref
	for _, gp := range arr(p.Get("generalPractitioner")) {
		if r := str(gp.Get("reference")); r != "" {
			out = append(out, Ref{Reference: r, Display: str(gp.Get("display"))})
		}
	}
	return out
}

// answer completes the patient messages a new Communication answers. The original is read as
// the answering caller sees it: a message the caller may not read is not completed.
func (h *Hook) answer(ctx context.Context, w *api.WriteContext, root *fhir.Value) error {
	seen := map[string]bool{}
	for _, irt := range arr(root.Get("inResponseTo")) {
		typ, id, ok := fhir.LiteralReference(str(irt.Get("reference")), w.Base)
		if !ok || typ != "Communication" || seen[id] || id == w.ID {
			continue
		}
		seen[id] = true
		rec, err := w.Store.Read(ctx, "Communication", id)
		if err != nil {
			var denied *policy.DeniedError
			if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrGone) || errors.As(err, &denied) {
				continue
			}
			return err
		}
		orig, err := fhir.ParseJSON(rec.Body)
		if err != nil || !triagefhir.ShouldTriage(&orig, w.Base) || findExt(&orig, ExtResponse) != nil {
			continue
		}
		if s := str(orig.Get("status")); s == "completed" || s == "entered-in-error" {
			continue
		}
		received := rec.LastUpdated
		if t, err := parseDateTime(str(orig.Get("received"))); err == nil {
			received = t
		}
		answered := w.Now
		elapsed := answered.Sub(received)
		business := h.cfg.Calendar.Between(received, answered)
		onTime := true
		if due, err := parseDateTime(str(findExtValue(&orig, ExtDue, "valueDateTime"))); err == nil {
			onTime = !answered.After(due)
		}
		orig.Set("status", fhir.Str("completed"))
		sub := []map[string]any{
			{"url": "answer", "valueReference": map[string]string{"reference": w.Reference()}},
			{"url": "answered", "valueDateTime": fhir.FormatInstant(answered)},
			{"url": "elapsed", "valueDuration": minutes(elapsed)},
			{"url": "businessElapsed", "valueDuration": minutes(business)},
			{"url": "onTime", "valueBoolean": onTime},
		}
		setExt(&orig, ExtResponse, "extension", jsonValue(sub))
		// setExt put the sub-extensions under "extension"; that is the complex form.
		res, err := fhir.ResourceFromValue(orig)
		if err != nil {
			return fmt.Errorf("triage: completing Communication/%s: %w", id, err)
		}
		rec.Type, rec.ID = "Communication", id
		if err := w.Update(res, rec); err != nil {
			return err
		}
	}
	return nil
}

func minutes(d time.Duration) map[string]any {
	m := math.Round(d.Minutes()*10) / 10
	return map[string]any{"value": json.Number(strconv.FormatFloat(m, 'f', -1, 64)), "unit": "min",
		"system": "http://unitsofmeasure.org", "code": "min"}
}

// addRecipient appends ref to Communication.recipient unless it is there, marked as routed.
func addRecipient(root *fhir.Value, ref Ref, why string) {
	recips := arr(root.Get("recipient"))
	for _, r := range recips {
		if str(r.Get("reference")) == ref.Reference {
			return
		}
	}
	m := map[string]any{"reference": ref.Reference,
		"extension": []any{map[string]string{"url": ExtRouted, "valueString": why}}}
	if ref.Display != "" {
		m["display"] = ref.Display
	}
	root.Set("recipient", fhir.Value{Kind: fhir.Array, Arr: append(recips, jsonValue(m))})
}

// formatLocal writes an instant as a dateTime in loc with its offset, to the second.
func formatLocal(t time.Time, loc *time.Location) string {
	return t.In(loc).Format("2006-01-02T15:04:05-07:00")
}

// patientChange refuses a change that the patient's side (a Patient's, RelatedPerson's or
// Person's app) makes to a message it sent, but withdrawing it (status entered-in-error): its
// priority, due time, received time, routing and category are the practice's triage, and a
// patient who raised their message to stat and backdated it jumped the queue (blind attack,
// round 9).
func patientChange(ctx context.Context, w *api.WriteContext) error {
	p, ok := policy.PrincipalFrom(ctx)
	if !ok {
		return nil
	}
	kind, _, _ := strings.Cut(p.FHIRUser, "/")
	if kind != "Patient" && kind != "RelatedPerson" && kind != "Person" && p.Patient == "" {
		return nil
	}
	prev, err := fhir.ParseJSON(w.Previous.Body)
	if err != nil || !triagefhir.ShouldTriage(&prev, w.Base) {
		return nil
	}
	if w.Resource == nil || sameBut(w.Previous.Body, w.Resource.JSON(), "meta", "text") || // sent again as it is
		sameBut(w.Previous.Body, w.Resource.JSON(), "status", "meta", "text") && str(w.Resource.Root.Get("status")) == "entered-in-error" {
		return nil
	}
	return api.NewError(http.StatusConflict, "business-rule",
		"Communication/%s is a message sent to the practice: its content and triage (priority, due time, received time, routing) cannot be changed from the patient's side; to withdraw it, update its status to entered-in-error and change nothing else", w.ID)
}

// sameBut reports whether two resources' JSON are equal once the named top-level elements are
// left out of both.
func sameBut(a, b []byte, skip ...string) bool {
	var x, y map[string]any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	for _, k := range skip {
		delete(x, k)
		delete(y, k)
	}
	return reflect.DeepEqual(x, y)
}

// maxClockSkew is how far in the future an imported message's received time may be.
const maxClockSkew = 5 * time.Minute

// earliestReceived: an imported message received before this is refused its time (a date
// that far back is a mistake, and one before year 1 would make a due time FHIR cannot hold).
var earliestReceived = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)

// receivedAt is when the practice received a new message, from which its due time runs: the
// server's clock, now. Only a backend service (an import of messages received elsewhere, or
// an open server) may give its own received time, between 1970 and now. A patient's app that
// backdated it jumped the queue (its message overdue at once, first in the worklist), and one
// dated in year 1 was given a due time in year 0, which FHIR cannot hold: the clinician's
// answer to it then failed (blind attack, round 8).
// given reports that the message's own received time is kept as written.
func receivedAt(ctx context.Context, root *fhir.Value, now time.Time) (t time.Time, given bool) {
	if p, ok := policy.PrincipalFrom(ctx); ok && p.FHIRUser != "" {
		return now, false
	}
	t, err := parseDateTime(str(root.Get("received")))
	if err != nil || t.Before(earliestReceived) || t.After(now.Add(maxClockSkew)) {
		return now, false
	}
	return t, true
}

// parseDateTime reads a FHIR dateTime with a time and zone (what due, received and sent hold).
func parseDateTime(s string) (time.Time, error) {
	return time.Parse(time.RFC3339Nano, s)
}

func findExt(v *fhir.Value, url string) *fhir.Value {
	for i, e := range arr(v.Get("extension")) {
		if str(e.Get("url")) == url {
			return &v.Get("extension").Arr[i]
		}
	}
	return nil
}

func findExtValue(v *fhir.Value, url, key string) *fhir.Value {
	if e := findExt(v, url); e != nil {
		return e.Get(key)
	}
	return nil
}

// setExt sets the one extension with url to {url, key: val}, keeping its place if present.
func setExt(v *fhir.Value, url, key string, val fhir.Value) {
	e := fhir.Value{Kind: fhir.Object}
	e.Set("url", fhir.Str(url))
	e.Set(key, val)
	if x := findExt(v, url); x != nil {
		*x = e
		return
	}
	v.Set("extension", fhir.Value{Kind: fhir.Array, Arr: append(arr(v.Get("extension")), e)})
}

func removeExt(v *fhir.Value, url string) {
	exts := arr(v.Get("extension"))
	kept := exts[:0:0]
	for _, e := range exts {
		if str(e.Get("url")) != url {
			kept = append(kept, e)
		}
	}
	if len(kept) == len(exts) {
		return
	}
	if len(kept) == 0 {
		v.Delete("extension")
		return
	}
	v.Set("extension", fhir.Value{Kind: fhir.Array, Arr: kept})
}

func jsonValue(x any) fhir.Value {
	data, err := json.Marshal(x)
	if err != nil {
		panic(err)
	}
	v, err := fhir.ParseJSON(data)
	if err != nil {
		panic(err)
	}
	return v
}

func toAny(v fhir.Value) any {
	var x any
	_ = json.Unmarshal(fhir.AppendJSON(nil, v), &x)
	return x
}

func str(v *fhir.Value) string {
	if v == nil || v.Kind != fhir.String {
		return ""
	}
	return v.Text
}

func arr(v *fhir.Value) []fhir.Value {
	if v == nil || v.Kind != fhir.Array {
		return nil
	}
	return v.Arr
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
