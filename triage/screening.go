package triage

import (
	_ "embed"
	"encoding/json"
)

// ScreeningItem is one yes/no question of Portico's red-flag screening Questionnaire
// (Questionnaire/portico-red-flags, served by the API): a patient app shows them before a
// message is sent, and a "yes" sets the floor of the message's priority, whatever its words.
type ScreeningItem struct {
	LinkID   string
	Priority Priority
	// Text is the question in each language served (BCP-47 code).
	Text map[string]string
	// Emergency: a "yes" means calling emergency services now; the app says so at once
	// (EmergencyInstruction).
	Emergency bool
}

//go:embed screening.json
var screeningJSON []byte

// screeningFile is screening.json: the questions and the emergency instruction, by language.
type screeningFile struct {
	Items                map[string]map[string]string `json:"items"`
	EmergencyInstruction map[string]string            `json:"emergency_instruction"`
}

// ScreeningItems are the questions, most urgent first; EmergencyInstruction is what the app
// shows when an emergency item is answered yes.
var ScreeningItems, EmergencyInstruction = screeningItems()

func screeningItems() ([]ScreeningItem, map[string]string) {
	var f screeningFile
	if err := json.Unmarshal(screeningJSON, &f); err != nil {
		panic(err) // embedded, and tested
	}
	items := []ScreeningItem{
		{LinkID: "emergency-now", Priority: Stat, Emergency: true},
		{LinkID: "harm", Priority: Stat, Emergency: true},
		{LinkID: "poison", Priority: Stat, Emergency: true},
		{LinkID: "pregnancy", Priority: Stat, Emergency: true},
		{LinkID: "infant-fever", Priority: ASAP},
		{LinkID: "today", Priority: ASAP},
		{LinkID: "new-symptom", Priority: Urgent},
	}
	for i := range items {
		items[i].Text = f.Items[items[i].LinkID]
	}
	return items, f.EmergencyInstruction
}
