package triagehook

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/portico-health/portico/triage"
	"github.com/portico-health/portico/triage/rules"
)

// labelled is one line of testdata/triage/messages.jsonl.
type labelled struct {
	ID          int      `json:"id"`
	Lang        string   `json:"lang"`
	Priority    string   `json:"priority"`
	Category    string   `json:"category"`
	Text        string   `json:"text"`
	Topic       string   `json:"topic,omitempty"`
	Attachments []string `json:"attachments,omitempty"`
	Hint        string   `json:"hint,omitempty"`
}

// communication is the Communication a portal would POST for a labelled message.
func (l labelled) communication() string {
	c := map[string]any{
		"resourceType": "Communication", "status": "completed",
		"subject":   map[string]string{"reference": "Patient/x"},
		"sender":    map[string]string{"reference": "Patient/x"},
		"recipient": []any{map[string]string{"reference": "Practitioner/y"}},
	}
	payload := []any{map[string]string{"contentString": l.Text}}
	for _, a := range l.Attachments {
		payload = append(payload, map[string]any{"contentAttachment": map[string]string{"contentType": "image/jpeg", "title": a}})
	}
	c["payload"] = payload
	if l.Topic != "" {
		c["topic"] = map[string]string{"text": l.Topic}
	}
	if l.Hint != "" {
		c["priority"] = l.Hint
	}
	b, _ := json.Marshal(c)
	return string(b)
}

// TestQualityOverHTTP posts every labelled message as a Communication to a real in-process
// Portico (Echo, api, SQLite, the triage hook), reads priority and category back from the
// response, logs the confusion matrices and enforces the bars: stat recall 100%,
// priority and category accuracy at least 90%, routine over-triage (to urgent or above)
// under 10%.
func TestQualityOverHTTP(t *testing.T) {
	f, err := os.Open("../../testdata/triage/messages.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var msgs []labelled
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var l labelled
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, l)
	}
	if len(msgs) < 300 {
		t.Fatalf("only %d labelled messages", len(msgs))
	}
	x := newEnv(t, nil)
	cats := rules.Default().File.Categories
	var n, priOK, catOK, stat, statOK, routine, over int
	var pri [4][4]int
	cat := map[[2]string]int{}
	for _, l := range msgs {
		m := x.must(201, "POST", "/Communication", l.communication())
		got, _ := triage.ParsePriority(fmt.Sprint(m["priority"]))
		want, _ := triage.ParsePriority(l.Priority)
		gotCat := category(m)
		n++
		pri[want][got]++
		cat[[2]string{l.Category, gotCat}]++
		if got == want {
			priOK++
		}
		if gotCat == l.Category {
			catOK++
		}
		if want == triage.Stat {
			stat++
			if got == triage.Stat {
				statOK++
			}
		}
		if want == triage.Routine {
			routine++
			if got >= triage.Urgent {
				over++
			}
		}
		if (got == triage.Stat) != (ext(m, ExtAutoReply) != nil && x.isStatReply(m)) {
			t.Errorf("#%d: priority %s but stat reply %v", l.ID, got, ext(m, ExtAutoReply))
		}
	}
	pct := func(a, b int) float64 { return 100 * float64(a) / float64(max(b, 1)) }
	var b strings.Builder
	fmt.Fprintf(&b, "over HTTP: %d messages; priority accuracy %.1f%%; category accuracy %.1f%%; stat recall %d/%d; routine over-triaged %d/%d (%.1f%%)\n",
		n, pct(priOK, n), pct(catOK, n), statOK, stat, over, routine, pct(over, routine))
	b.WriteString("priority (rows expected, columns got):\n         ")
	for g := triage.Routine; g <= triage.Stat; g++ {
		fmt.Fprintf(&b, "%8s", g)
	}
	b.WriteString("\n")
	for w := triage.Routine; w <= triage.Stat; w++ {
		fmt.Fprintf(&b, "%-9s", w)
		for g := triage.Routine; g <= triage.Stat; g++ {
			fmt.Fprintf(&b, "%8d", pri[w][g])
		}
		b.WriteString("\n")
	}
	b.WriteString("category (rows expected, columns got):\n               ")
	for _, g := range cats {
		fmt.Fprintf(&b, "%7s", g.Code[:min(6, len(g.Code))])
	}
	b.WriteString("\n")
	for _, w := range cats {
		fmt.Fprintf(&b, "%-15s", w.Code)
		for _, g := range cats {
			fmt.Fprintf(&b, "%7d", cat[[2]string{w.Code, g.Code}])
		}
		b.WriteString("\n")
	}
	t.Log("\n" + b.String())
	if statOK != stat {
		t.Errorf("stat recall %d/%d, want 100%%", statOK, stat)
	}
	if a := pct(priOK, n); a < 90 {
		t.Errorf("priority accuracy %.1f%%, want at least 90%%", a)
	}
	if a := pct(catOK, n); a < 90 {
		t.Errorf("category accuracy %.1f%%, want at least 90%%", a)
	}
	if o := pct(over, routine); o >= 10 {
		t.Errorf("routine over-triage %.1f%%, want under 10%%", o)
	}
}

// isStatReply reports whether the message's automatic reply is the stat guidance.
func (x *env) isStatReply(m map[string]any) bool {
	ref, _ := get(ext(m, ExtAutoReply), "valueReference", "reference").(string)
	if ref == "" {
		return false
	}
	r := x.must(200, "GET", "/"+ref, "")
	return get(ext(r, ExtAutoReplyKind), "valueCode") == ReplyStat
}
