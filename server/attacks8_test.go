package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestRoundEightAttacks: the findings of the eighth blind attack, over HTTP (docs/smart.md,
// "Blind attacks"). Each subtest is one finding's probe.
func TestRoundEightAttacks(t *testing.T) {
	en := newAuthEnv(t)
	sys := en.systemToken("system/*.cruds")
	ref := func(r string) string { return `{"reference":"` + r + `"}` }
	en.must(sys, http.MethodPut, "/Patient/A", `{"resourceType":"Patient","id":"A"}`, http.StatusCreated)
	en.must(sys, http.MethodPut, "/Practitioner/X", `{"resourceType":"Practitioner","id":"X"}`, http.StatusCreated)
	a := en.patientToken("A", "launch/patient patient/*.cruds")
	type comm struct {
		ID       string `json:"id"`
		Status   string `json:"status"`
		Priority string `json:"priority"`
		Received string `json:"received"`
		Meta     struct {
			VersionID string `json:"versionId"`
		} `json:"meta"`
		Extension []struct {
			URL           string `json:"url"`
			ValueDateTime string `json:"valueDateTime"`
		} `json:"extension"`
	}
	post := func(tok, body string) comm {
		t.Helper()
		status, _, b := en.do(tok, http.MethodPost, "/Communication", body)
		if status != http.StatusCreated {
			t.Fatalf("POST Communication: %d %s", status, b)
		}
		var c comm
		if err := json.Unmarshal(b, &c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	read := func(id string) comm {
		t.Helper()
		var c comm
		_ = json.Unmarshal(en.must(sys, http.MethodGet, "/Communication/"+id, "", http.StatusOK), &c)
		return c
	}
	message := func(received string) string {
		r := ""
		if received != "" {
			r = `,"received":"` + received + `"`
		}
		return `{"resourceType":"Communication","status":"in-progress","subject":` + ref("Patient/A") + `,"sender":` + ref("Patient/A") +
			r + `,"payload":[{"contentString":"I have crushing chest pain"}]}`
	}
	answer := func(irt ...string) string {
		var refs []string
		for _, r := range irt {
			refs = append(refs, ref(r))
		}
		return `{"resourceType":"Communication","status":"completed","subject":` + ref("Patient/A") + `,"sender":` + ref("Practitioner/X") +
			`,"inResponseTo":[` + strings.Join(refs, ",") + `],"payload":[{"contentString":"call 911 now"}]}`
	}

	t.Run("a patient's message is received when the server receives it", func(t *testing.T) {
		for _, given := range []string{"0001-01-01T00:00:00Z", "2020-01-01T00:00:00Z", "9999-12-31T23:59:59Z"} {
			m := post(a, message(given))
			got, err := time.Parse(time.RFC3339, m.Received)
			if err != nil || time.Since(got) > time.Minute || time.Until(got) > time.Minute {
				t.Errorf("received %q given by the patient's app: stored %q, want the server's clock", given, m.Received)
			}
			for _, x := range m.Extension {
				if strings.HasSuffix(x.URL, "triage-due") {
					if due, err := time.Parse(time.RFC3339, x.ValueDateTime); err != nil || due.Before(got) {
						t.Errorf("due %q for a message received %q", x.ValueDateTime, m.Received)
					}
				}
			}
			post(sys, answer("Communication/"+m.ID))
			if c := read(m.ID); c.Status != "completed" {
				t.Errorf("after the answer: %s", c.Status)
			}
		}
		// A backend service importing messages keeps their received time.
		m := post(sys, message("2025-06-01T08:00:00Z"))
		if m.Received != "2025-06-01T08:00:00Z" {
			t.Errorf("an imported message's received: %q", m.Received)
		}
	})

	t.Run("a Schedule that names a patient without a reference to one", func(t *testing.T) {
		for id, actor := range map[string]string{
			"display":        `{"type":"Patient","display":"Bob Bravo (dialysis)"}`,
			"urn":            `{"reference":"urn:uuid:0b7d6d5e-3a59-4c3e-9d4a-1f1a2b3c4d5e","type":"Patient"}`,
			"canonical-type": `{"type":"http://hl7.org/fhir/StructureDefinition/Patient","display":"Bob"}`,
		} {
			en.must(sys, http.MethodPut, "/Schedule/"+id, `{"resourceType":"Schedule","id":"`+id+`","actor":[`+actor+`]}`, http.StatusCreated)
			en.must(sys, http.MethodPut, "/Slot/slot-"+id, `{"resourceType":"Slot","id":"slot-`+id+`","schedule":`+ref("Schedule/"+id)+
				`,"status":"free","start":"2027-01-04T09:00:00Z","end":"2027-01-04T09:30:00Z"}`, http.StatusCreated)
			en.must(a, http.MethodGet, "/Schedule/"+id, "", http.StatusNotFound)
			en.must(a, http.MethodGet, "/Slot/slot-"+id, "", http.StatusNotFound)
			en.must(sys, http.MethodGet, "/Schedule/"+id, "", http.StatusOK)
		}
		en.must(sys, http.MethodPut, "/Schedule/clinic", `{"resourceType":"Schedule","id":"clinic","actor":[`+ref("Practitioner/X")+`]}`, http.StatusCreated)
		b := en.must(a, http.MethodGet, "/Schedule", "", http.StatusOK)
		if got := resources(t, b, en.base); len(got) != 1 || got[0] != "Schedule/clinic" {
			t.Errorf("a patient's search of Schedules: %v, want the clinic's only", got)
		}
		b = en.must(a, http.MethodGet, "/Slot", "", http.StatusOK)
		if got := resources(t, b, en.base); len(got) != 0 {
			t.Errorf("a patient's search of Slots: %v, want none", got)
		}
	})

	t.Run("an answer naming its message twice", func(t *testing.T) {
		m := post(a, message(""))
		post(sys, answer("Communication/"+m.ID, "Communication/"+m.ID, en.base+"/Communication/"+m.ID))
		if c := read(m.ID); c.Status != "completed" || c.Meta.VersionID != "2" {
			t.Errorf("after an answer naming it three times: %s, version %s", c.Status, c.Meta.VersionID)
		}
	})

	t.Run("a transaction changing a message twice", func(t *testing.T) {
		m := post(a, message(""))
		entry := func(body string) string {
			return `{"resource":` + body + `,"request":{"method":"POST","url":"Communication"}}`
		}
		start := time.Now()
		status, _, b := en.do(sys, http.MethodPost, "", `{"resourceType":"Bundle","type":"transaction","entry":[`+
			entry(answer("Communication/"+m.ID))+`,`+entry(answer("Communication/"+m.ID))+`]}`)
		if status != http.StatusConflict || !strings.Contains(string(b), "business-rule") {
			t.Errorf("two answers to one message in a transaction: %d %s, want 409 business-rule", status, b)
		}
		if d := time.Since(start); d > 5*time.Second { // a bound, not a measure: 20 retries took 0.75 s
			t.Errorf("took %v", d)
		}
	})
}
