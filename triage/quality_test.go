package triage

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

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

func loadLabelled(t testing.TB) []labelled {
	t.Helper()
	f, err := os.Open("../testdata/triage/messages.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []labelled
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var l labelled
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("messages.jsonl: %v in %s", err, sc.Text())
		}
		if _, ok := ParsePriority(l.Priority); !ok {
			t.Fatalf("message %d: bad priority %q", l.ID, l.Priority)
		}
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// heldOut reports whether a message belongs to the held-out test split (every 4th id), which
// was not looked at while the rules were tuned.
func heldOut(l labelled) bool { return l.ID%4 == 0 }

type scores struct {
	n, priOK, catOK     int
	stat, statCaught    int
	routine, overTriage int
	pri                 [4][4]int // [expected][got]
	cat                 map[[2]string]int
}

func (s *scores) add(l labelled, got Result) {
	want, _ := ParsePriority(l.Priority)
	s.n++
	s.pri[want][got.Priority]++
	if s.cat == nil {
		s.cat = map[[2]string]int{}
	}
	s.cat[[2]string{l.Category, got.Category}]++
	if want == got.Priority {
		s.priOK++
	}
	if l.Category == got.Category {
		s.catOK++
	}
	if want == Stat {
		s.stat++
		if got.Priority == Stat {
			s.statCaught++
		}
	}
	if want == Routine {
		s.routine++
		if got.Priority >= Urgent {
			s.overTriage++
		}
	}
}

func pct(a, b int) float64 {
	if b == 0 {
		return 100
	}
	return 100 * float64(a) / float64(b)
}

func (s *scores) report(name string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d messages; priority accuracy %.1f%%; category accuracy %.1f%%; stat recall %d/%d (%.1f%%); routine over-triaged to urgent or above %d/%d (%.1f%%)\n",
		name, s.n, pct(s.priOK, s.n), pct(s.catOK, s.n), s.statCaught, s.stat, pct(s.statCaught, s.stat),
		s.overTriage, s.routine, pct(s.overTriage, s.routine))
	b.WriteString("priority (rows expected, columns got):\n")
	fmt.Fprintf(&b, "%-9s", "")
	for g := Routine; g <= Stat; g++ {
		fmt.Fprintf(&b, "%8s", g)
	}
	b.WriteString("\n")
	for w := Routine; w <= Stat; w++ {
		fmt.Fprintf(&b, "%-9s", w)
		for g := Routine; g <= Stat; g++ {
			fmt.Fprintf(&b, "%8d", s.pri[w][g])
		}
		b.WriteString("\n")
	}
	cats := rules.Default().File.Categories
	short := func(c string) string { return c[:min(len(c), 6)] }
	b.WriteString("category (rows expected, columns got):\n")
	fmt.Fprintf(&b, "%-15s", "")
	for _, g := range cats {
		fmt.Fprintf(&b, "%7s", short(g.Code))
	}
	b.WriteString("\n")
	for _, w := range cats {
		fmt.Fprintf(&b, "%-15s", w.Code)
		for _, g := range cats {
			fmt.Fprintf(&b, "%7d", s.cat[[2]string{w.Code, g.Code}])
		}
		b.WriteString("\n")
	}
	return b.String()
}

// TestQuality runs the labelled messages through Classify, logs the confusion matrices for the
// tuning split, the held-out split and both, and enforces the bars on the whole set.
// Set TRIAGE_SHOW=tune (or all) to log each miss of that split with its reasons.
func TestQuality(t *testing.T) {
	msgs := loadLabelled(t)
	if len(msgs) < 300 {
		t.Fatalf("only %d labelled messages", len(msgs))
	}
	var tune, hold, all scores
	show := os.Getenv("TRIAGE_SHOW")
	for _, l := range msgs {
		got := Classify(nil, Message{Text: l.Text, Topic: l.Topic, AttachmentTitles: l.Attachments, PatientPriorityHint: l.Hint})
		all.add(l, got)
		if heldOut(l) {
			hold.add(l, got)
		} else {
			tune.add(l, got)
		}
		miss := got.Priority.String() != l.Priority || got.Category != l.Category
		if miss && (show == "all" || show == "tune" && !heldOut(l)) {
			t.Logf("#%d want %s/%s got %s/%s: %s\n    %s", l.ID, l.Priority, l.Category, got.Priority, got.Category, l.Text, explain(got))
		}
	}
	t.Log("\n" + tune.report("tuning split (ids not divisible by 4)"))
	t.Log("\n" + hold.report("held-out split (every 4th id)"))
	t.Log("\n" + all.report("all"))
	for _, s := range []*scores{&tune, &hold} {
		if s.statCaught != s.stat {
			t.Errorf("stat recall %d/%d, want 100%%", s.statCaught, s.stat)
		}
	}
	if a := pct(all.priOK, all.n); a < 90 {
		t.Errorf("priority accuracy %.1f%%, want at least 90%%", a)
	}
	if a := pct(all.catOK, all.n); a < 90 {
		t.Errorf("category accuracy %.1f%%, want at least 90%%", a)
	}
	if o := pct(all.overTriage, all.routine); o >= 10 {
		t.Errorf("routine over-triage %.1f%%, want under 10%%", o)
	}
}

func explain(r Result) string {
	var parts []string
	for _, rs := range r.Reasons {
		s := fmt.Sprintf("%s[%s %q", rs.Rule, rs.Kind, rs.Matched)
		if rs.Priority > Routine {
			s += " " + rs.Priority.String()
		}
		if rs.Category != "" {
			s += " " + rs.Category
		}
		if rs.Negated {
			s += " negated by " + rs.Cue
		}
		parts = append(parts, s+"]")
	}
	return strings.Join(parts, " ")
}
