package triagehook

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/portico-health/portico/api"
	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/store"
	"github.com/portico-health/portico/triage"
)

// ScreeningURL is the canonical URL of Portico's red-flag screening Questionnaire; its id on
// the server is ScreeningID (Questionnaire/portico-red-flags, written at start-up).
const (
	ScreeningURL = "https://portico.health/fhir/Questionnaire/portico-red-flags"
	ScreeningID  = "portico-red-flags"
)

// screening reads the answers of the screening Questionnaire that came with a message: a
// QuestionnaireResponse the message's payload refers to (contentReference), contained in the
// message ("#qr") or stored (read as the sender may read it). Only a response to Portico's
// Questionnaire counts; an answer counts when it is valueBoolean true.
func (h *Hook) screening(ctx context.Context, w *api.WriteContext, root *fhir.Value) map[string]bool {
	var out map[string]bool
	for _, p := range arr(root.Get("payload")) {
		ref := str(p.Get("contentReference").Get("reference"))
		if ref == "" {
			continue
		}
		var qr *fhir.Value
		if id, ok := strings.CutPrefix(ref, "#"); ok {
			for i, c := range arr(root.Get("contained")) {
				if str(c.Get("id")) == id && str(c.Get("resourceType")) == "QuestionnaireResponse" {
					qr = &root.Get("contained").Arr[i]
				}
			}
		} else if typ, id, ok := fhir.LiteralReference(ref, w.Base); ok && typ == "QuestionnaireResponse" {
			rec, err := w.Store.Read(ctx, typ, id)
			if err != nil {
				continue // not the sender's to read, or not there: no answers
			}
			v, err := fhir.ParseJSON(rec.Body)
			if err != nil {
				continue
			}
			qr = &v
		}
		if qr == nil || !isScreening(str(qr.Get("questionnaire"))) {
			continue
		}
		for _, item := range arr(qr.Get("item")) {
			for _, a := range arr(item.Get("answer")) {
				if b := a.Get("valueBoolean"); b != nil && b.Kind == fhir.Bool && b.Text == "true" {
					if out == nil {
						out = map[string]bool{}
					}
					out[str(item.Get("linkId"))] = true
				}
			}
		}
	}
	return out
}

// isScreening reports whether a canonical names the screening Questionnaire (any version).
func isScreening(canonical string) bool {
	c, _, _ := strings.Cut(canonical, "|")
	return c == ScreeningURL || c == "Questionnaire/"+ScreeningID
}

// ScreeningQuestionnaire is the Questionnaire resource: one boolean item a screening question,
// its text in English with the translations of every other language served (the FHIR
// translation extension), and for the emergency items an instruction shown at once when the
// answer is yes.
func ScreeningQuestionnaire() map[string]any {
	translations := func(texts map[string]string) []any {
		var out []any
		for _, lang := range sortedKeys(texts) {
			if lang == "en" {
				continue
			}
			out = append(out, map[string]any{"url": "http://hl7.org/fhir/StructureDefinition/translation",
				"extension": []any{map[string]any{"url": "lang", "valueCode": lang}, map[string]any{"url": "content", "valueString": texts[lang]}}})
		}
		return out
	}
	var items []any
	for _, it := range triage.ScreeningItems {
		item := map[string]any{"linkId": it.LinkID, "type": "boolean", "required": true, "text": it.Text["en"]}
		if ext := translations(it.Text); len(ext) > 0 {
			item["_text"] = map[string]any{"extension": ext}
		}
		if it.Emergency {
			item["item"] = []any{map[string]any{
				"linkId": it.LinkID + "-call", "type": "display", "text": triage.EmergencyInstruction["en"],
				"_text":      map[string]any{"extension": translations(triage.EmergencyInstruction)},
				"enableWhen": []any{map[string]any{"question": it.LinkID, "operator": "=", "answerBoolean": true}},
			}}
		}
		items = append(items, item)
	}
	return map[string]any{
		"resourceType": "Questionnaire", "id": ScreeningID, "url": ScreeningURL, "version": "1",
		"name": "PorticoRedFlagScreening", "title": "Before you send your message", "status": "active",
		"subjectType": []any{"Patient"},
		"description": "A few yes/no questions a patient app asks before a message is sent. Send the QuestionnaireResponse " +
			"with the message (Communication.payload.contentReference, contained or stored): a yes sets the least priority " +
			"of the message (docs/triage.md, \"Ask before guessing\").",
		"item": items,
	}
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// SeedScreening writes the screening Questionnaire (Questionnaire/portico-red-flags) into st
// when it is missing or differs from ScreeningQuestionnaire (a new version: the history keeps
// the questions each response answered). base is the FHIR base URL. Several instances starting
// together may race: the loser finds the winner's version equal and stops.
func SeedScreening(ctx context.Context, st store.Store, base string, now time.Time) error {
	want, err := json.Marshal(ScreeningQuestionnaire())
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		version := int64(1)
		op := store.OpCreate
		rec, err := st.Read(ctx, "Questionnaire", ScreeningID)
		switch {
		case err == nil:
			if sameContent(rec.Body, want) {
				return nil
			}
			version, op = rec.Version+1, store.OpUpdate
		case errors.Is(err, store.ErrGone):
			version, op = rec.Version+1, store.OpUpdate
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		res, err := fhir.ParseResource(want)
		if err != nil {
			return err
		}
		stamp := now.UTC().Truncate(time.Millisecond)
		if stamp.Before(rec.LastUpdated) {
			stamp = rec.LastUpdated
		}
		res.SetMeta(strconv.FormatInt(version, 10), stamp)
		index, err := fhir.ExtractIndexBase(res, base)
		if err != nil {
			return err
		}
		err = st.Write(ctx, store.Write{Op: op, Type: "Questionnaire", ID: ScreeningID, Version: version,
			LastUpdated: stamp, Body: res.JSON(), Index: index})
		if err == nil || attempt == 2 || !(errors.Is(err, store.ErrVersionConflict) || errors.Is(err, store.ErrExists)) {
			return err
		}
	}
}

// sameContent reports whether two resources are equal but for meta.
func sameContent(a, b []byte) bool {
	var x, y map[string]any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	delete(x, "meta")
	delete(y, "meta")
	return reflect.DeepEqual(x, y)
}
