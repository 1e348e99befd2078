package triagefhir

import (
	"strings"

	"github.com/portico-health/portico/definitions"
	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/triage"
)

// The canonical URLs triage writes. Documented in docs/triage.md.
const (
	// CategoryCodeSystem holds the message categories (the codes of the rule file's categories).
	CategoryCodeSystem = definitions.Base + "/CodeSystem/message-category"
	// ExtPatientPriority keeps the priority the sender asked for (valueCode: a request-priority).
	ExtPatientPriority = definitions.Base + "/StructureDefinition/triage-patient-priority"
	// ExtReason is one reason (complex extension, repeated): rule, kind, matched, field,
	// priority, category, negated, cue.
	ExtReason = definitions.Base + "/StructureDefinition/triage-reason"
	// ExtLanguage is the language triage identified (valueCode, ISO 639-1 or "und").
	ExtLanguage = definitions.Base + "/StructureDefinition/triage-language"
	// FlagSystem codes the flags triage puts in meta.tag, searchable in worklists with _tag:
	// review (a person should look within the review target) and interpreter (written in a
	// language Portico cannot triage).
	FlagSystem = definitions.Base + "/CodeSystem/triage-flag"
)

// ShouldTriage reports whether comm is a Communication whose sender is a Patient or a
// RelatedPerson (SenderType).
func ShouldTriage(comm *fhir.Value, base string) bool {
	if comm == nil || str(comm.Get("resourceType")) != "Communication" {
		return false
	}
	t := SenderType(comm, base)
	return t == "Patient" || t == "RelatedPerson"
}

// SenderType is the resource type of Communication.sender: that of a local reference as
// fhir.LiteralReference reads it (base is this server's FHIR base), of another server's
// RESTful URL, or else sender.type; "" when none says.
func SenderType(comm *fhir.Value, base string) string {
	s := comm.Get("sender")
	if s == nil {
		return ""
	}
	ref := str(s.Get("reference"))
	if typ, _, ok := fhir.LiteralReference(ref, base); ok {
		return typ
	}
	if ref != "" && !strings.ContainsRune(ref, '|') {
		if typ, _, url := fhir.ParseReference(ref); url != "" && typ != "" {
			return typ
		}
		return "" // a reference that names nothing readable: not trusted to mean a patient
	}
	if ref != "" {
		return ""
	}
	return str(s.Get("type"))
}

// MessageFrom reads what triage looks at: every payload.contentString (joined by new lines),
// payload.contentAttachment.title, topic and reasonCode (text, else codings' display), the
// sender's priority as the hint, and Communication.language.
func MessageFrom(comm *fhir.Value) triage.Message {
	var m triage.Message
	var texts []string
	for _, p := range arr(comm.Get("payload")) {
		if s := str(p.Get("contentString")); s != "" {
			texts = append(texts, s)
		}
		if a := p.Get("contentAttachment"); a != nil {
			if t := str(a.Get("title")); t != "" {
				m.AttachmentTitles = append(m.AttachmentTitles, t)
			}
		}
	}
	m.Text = strings.Join(texts, "\n")
	m.Topic = conceptText(comm.Get("topic"))
	for _, rc := range arr(comm.Get("reasonCode")) {
		if t := conceptText(&rc); t != "" {
			m.ReasonCodes = append(m.ReasonCodes, t)
		}
	}
	m.PatientPriorityHint = str(comm.Get("priority"))
	for _, e := range arr(comm.Get("extension")) {
		if str(e.Get("url")) == ExtPatientPriority {
			m.PatientPriorityHint = str(e.Get("valueCode"))
		}
	}
	m.Language = str(comm.Get("language"))
	return m
}

// Priority is the Communication.priority value.
func Priority(r triage.Result) fhir.Value { return fhir.Str(r.Priority.String()) }

// Category is the Communication.category entry (a CodeableConcept).
func Category(r triage.Result, display string) fhir.Value {
	coding := obj()
	coding.Set("system", fhir.Str(CategoryCodeSystem))
	coding.Set("code", fhir.Str(r.Category))
	if display != "" {
		coding.Set("display", fhir.Str(display))
	}
	cc := obj()
	cc.Set("coding", fhir.Value{Kind: fhir.Array, Arr: []fhir.Value{coding}})
	return cc
}

// PatientPriority is the extension that keeps the sender's own priority.
func PatientPriority(code string) fhir.Value {
	e := obj()
	e.Set("url", fhir.Str(ExtPatientPriority))
	e.Set("valueCode", fhir.Str(code))
	return e
}

// Reasons are the reason extensions, one per Reason, in order.
func Reasons(r triage.Result) []fhir.Value {
	out := make([]fhir.Value, 0, len(r.Reasons))
	for _, rs := range r.Reasons {
		e := obj()
		e.Set("url", fhir.Str(ExtReason))
		var sub []fhir.Value
		add := func(url, typ string, v fhir.Value) {
			x := obj()
			x.Set("url", fhir.Str(url))
			x.Set(typ, v)
			sub = append(sub, x)
		}
		add("rule", "valueString", fhir.Str(rs.Rule))
		add("kind", "valueCode", fhir.Str(rs.Kind))
		if rs.Matched != "" {
			add("matched", "valueString", fhir.Str(rs.Matched))
		}
		add("field", "valueCode", fhir.Str(rs.Field))
		if rs.Priority > triage.Routine {
			add("priority", "valueCode", fhir.Str(rs.Priority.String()))
		}
		if rs.Category != "" {
			c := obj()
			c.Set("system", fhir.Str(CategoryCodeSystem))
			c.Set("code", fhir.Str(rs.Category))
			add("category", "valueCoding", c)
		}
		if rs.Negated {
			add("negated", "valueBoolean", fhir.Value{Kind: fhir.Bool, Text: "true"})
			if rs.Cue != "" {
				add("cue", "valueString", fhir.Str(rs.Cue))
			}
		}
		e.Set("extension", fhir.Value{Kind: fhir.Array, Arr: sub})
		out = append(out, e)
	}
	return out
}

// Apply writes res onto comm (a Communication created by a Patient or RelatedPerson): the sender's
// priority, if any, moves into the patient-priority extension (unless one is there); priority is
// set to res.Priority; any category entry in CategoryCodeSystem is replaced by res.Category (other
// categories stay); earlier reason extensions are replaced by res's. categoryDisplay may be "".
// Apply is for the triage of a new message: a clinician's later change of priority is a normal
// update, and the version history keeps both.
func Apply(comm *fhir.Value, res triage.Result, categoryDisplay string) {
	exts := arr(comm.Get("extension"))
	hasHint := false
	kept := make([]fhir.Value, 0, len(exts)+len(res.Reasons)+1)
	for _, e := range exts {
		switch str(e.Get("url")) {
		case ExtReason, ExtLanguage:
			continue
		case ExtPatientPriority:
			hasHint = true
		}
		kept = append(kept, e)
	}
	if p := str(comm.Get("priority")); p != "" && !hasHint {
		kept = append(kept, PatientPriority(p))
	}
	kept = append(kept, Reasons(res)...)
	lang := obj()
	lang.Set("url", fhir.Str(ExtLanguage))
	lang.Set("valueCode", fhir.Str(res.Language))
	kept = append(kept, lang)
	comm.Set("extension", fhir.Value{Kind: fhir.Array, Arr: kept})
	setFlags(comm, res)

	comm.Set("priority", Priority(res))

	cats := []fhir.Value{Category(res, categoryDisplay)}
	for _, c := range arr(comm.Get("category")) {
		if !hasSystem(&c, CategoryCodeSystem) {
			cats = append(cats, c)
		}
	}
	comm.Set("category", fhir.Value{Kind: fhir.Array, Arr: cats})
}

func hasSystem(cc *fhir.Value, system string) bool {
	for _, c := range arr(cc.Get("coding")) {
		if str(c.Get("system")) == system {
			return true
		}
	}
	return false
}

func conceptText(cc *fhir.Value) string {
	if cc == nil {
		return ""
	}
	if t := str(cc.Get("text")); t != "" {
		return t
	}
	var ds []string
	for _, c := range arr(cc.Get("coding")) {
		if d := str(c.Get("display")); d != "" {
			ds = append(ds, d)
		}
	}
	return strings.Join(ds, "; ")
}

func obj() fhir.Value { return fhir.Value{Kind: fhir.Object} }

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

// setFlags replaces the triage flags in meta.tag with res's (other tags stay).
func setFlags(comm *fhir.Value, res triage.Result) {
	var tags []fhir.Value
	meta := comm.Get("meta")
	if meta != nil {
		for _, t := range arr(meta.Get("tag")) {
			if str(t.Get("system")) != FlagSystem {
				tags = append(tags, t)
			}
		}
	}
	flag := func(code, display string) {
		t := obj()
		t.Set("system", fhir.Str(FlagSystem))
		t.Set("code", fhir.Str(code))
		t.Set("display", fhir.Str(display))
		tags = append(tags, t)
	}
	if res.Review {
		flag("review", "Review by a person: "+res.ReviewWhy)
	}
	if res.Interpreter {
		flag("interpreter", "Needs an interpreter")
	}
	if len(tags) == 0 {
		if meta != nil {
			meta.Delete("tag")
		}
		return
	}
	if meta == nil {
		comm.Set("meta", obj())
		meta = comm.Get("meta")
	}
	meta.Set("tag", fhir.Value{Kind: fhir.Array, Arr: tags})
}
