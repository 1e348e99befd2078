package triagehook

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"

	"github.com/portico-health/portico/api"
	"github.com/portico-health/portico/definitions"
	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/triage"
)

// ScreeningURL is the canonical URL of Portico's red-flag screening Questionnaire; its id on
// the server is ScreeningID (Questionnaire/portico-red-flags). The server writes it at start
// from the definitions package (definitions/package), whose file ScreeningQuestionnaire
// generates.
const (
	ScreeningURL = definitions.Base + "/Questionnaire/portico-red-flags"
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

// isScreening reports whether a canonical names the screening Questionnaire (any version). The
// https form of its url, which it had before Portico chose one canonical base, still counts:
// apps and stored QuestionnaireResponses may carry it.
func isScreening(canonical string) bool {
	c, _, _ := strings.Cut(canonical, "|")
	return definitions.Canonical(c) == ScreeningURL || c == "Questionnaire/"+ScreeningID
}

// ScreeningQuestionnaire is the Questionnaire resource, as the definitions package holds it
// (indented JSON, members in the order of R4's definitions): one boolean item a screening
// question, its text in English with the translations of every other language served (the
// FHIR translation extension), and for the emergency items an instruction shown at once when
// the answer is yes. TestScreeningDefinition checks the package's file is this, and rewrites it
// with PORTICO_UPDATE_DEFINITIONS=1.
func ScreeningQuestionnaire() []byte {
	type enableWhen struct {
		Question      string `json:"question"`
		Operator      string `json:"operator"`
		AnswerBoolean bool   `json:"answerBoolean"`
	}
	type item struct {
		LinkID     string         `json:"linkId"`
		Text       string         `json:"text"`
		TextExt    map[string]any `json:"_text,omitempty"`
		Type       string         `json:"type"`
		EnableWhen []enableWhen   `json:"enableWhen,omitempty"`
		Required   bool           `json:"required,omitempty"`
		Item       []item         `json:"item,omitempty"`
	}
	translations := func(texts map[string]string) map[string]any {
		var out []any
		for _, lang := range sortedKeys(texts) {
			if lang == "en" {
				continue
			}
			out = append(out, map[string]any{"url": "http://hl7.org/fhir/StructureDefinition/translation",
				"extension": []any{map[string]any{"url": "lang", "valueCode": lang}, map[string]any{"url": "content", "valueString": texts[lang]}}})
		}
		if len(out) == 0 {
			return nil
		}
		return map[string]any{"extension": out}
	}
	var items []item
	for _, it := range triage.ScreeningItems {
		x := item{LinkID: it.LinkID, Text: it.Text["en"], TextExt: translations(it.Text), Type: "boolean", Required: true}
		if it.Emergency {
			x.Item = []item{{
				LinkID: it.LinkID + "-call", Text: triage.EmergencyInstruction["en"], TextExt: translations(triage.EmergencyInstruction),
				Type: "display", EnableWhen: []enableWhen{{Question: it.LinkID, Operator: "=", AnswerBoolean: true}},
			}}
		}
		items = append(items, x)
	}
	q := struct {
		ResourceType string   `json:"resourceType"`
		ID           string   `json:"id"`
		URL          string   `json:"url"`
		Version      string   `json:"version"`
		Name         string   `json:"name"`
		Title        string   `json:"title"`
		Status       string   `json:"status"`
		SubjectType  []string `json:"subjectType"`
		Publisher    string   `json:"publisher"`
		Description  string   `json:"description"`
		Item         []item   `json:"item"`
	}{
		ResourceType: "Questionnaire", ID: ScreeningID, URL: ScreeningURL, Version: "1",
		Name: "PorticoRedFlagScreening", Title: "Before you send your message", Status: "active",
		SubjectType: []string{"Patient"}, Publisher: "Portico",
		Description: "A few yes/no questions a patient app asks before a message is sent. Send the QuestionnaireResponse " +
			"with the message (Communication.payload.contentReference, contained or stored): a yes sets the least priority " +
			"of the message (docs/triage.md, \"Ask before guessing\").",
		Item: items,
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(q); err != nil {
		panic(err) // plain strings and maps of them
	}
	return b.Bytes()
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
