// Package evaluation measures triage against labelled corpora (testdata/triage/corpus) and
// writes the report of docs/triage-evaluation.md: confusion matrices, figures by language and
// by priority with 95% confidence intervals, and the labellers' agreement (Cohen's kappa).
// It never prints a message's text: the sealed split is read by programs only.
package evaluation

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
)

// Row is one labelled message of a corpus file.
type Row struct {
	ID       string `json:"id"`
	Writer   string `json:"writer"`
	Lang     string `json:"lang"`
	Clinic   string `json:"clinic"`
	Text     string `json:"text"`
	Topic    string `json:"topic,omitempty"`
	Hint     string `json:"hint,omitempty"`
	Priority string `json:"priority"`
	Category string `json:"category"`
	Labels   struct {
		First  Label `json:"first"`
		Second Label `json:"second"`
	} `json:"labels"`
	Adjudicated bool `json:"adjudicated,omitempty"`
}

// Label is one labeller's label.
type Label struct {
	Priority string `json:"priority"`
	Category string `json:"category"`
}

// Load reads a corpus file.
func Load(path string) ([]Row, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Row
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r Row
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, r)
	}
	return out, sc.Err()
}

// Priorities and Categories in report order.
var (
	Priorities = []string{"routine", "urgent", "asap", "stat"}
	Categories = []string{"medication", "appointment", "test-results", "billing", "administrative", "clinical", "other"}
)

// Prediction is what triage said of one row.
type Prediction struct {
	Priority, Category  string
	Review, Interpreter bool
}

// Report is the evaluation of predictions against a corpus.
type Report struct {
	Name     string
	Rows     []Row
	Preds    []Prediction
	Priority [4][4]int // [want][got]
	Category [7][7]int
}

// Evaluate builds the report; preds[i] is the prediction of rows[i].
func Evaluate(name string, rows []Row, preds []Prediction) *Report {
	r := &Report{Name: name, Rows: rows, Preds: preds}
	for i, row := range rows {
		w, g := slices.Index(Priorities, row.Priority), slices.Index(Priorities, preds[i].Priority)
		if w >= 0 && g >= 0 {
			r.Priority[w][g]++
		}
		wc, gc := slices.Index(Categories, row.Category), slices.Index(Categories, preds[i].Category)
		if wc >= 0 && gc >= 0 {
			r.Category[wc][gc]++
		}
	}
	return r
}

// Figures are the headline figures of a set of rows.
type Figures struct {
	N                        int
	Stat, StatFound          int // stat messages, and those triaged stat
	PriorityOK, CategoryOK   int
	Routine, RoutineOver     int // routine messages, and those triaged urgent or higher
	Under                    int // messages triaged below their label
	Review, Interpreter      int
	StatReviewedOrFound      int // stat messages triaged stat, or below but marked for review
	ASAPOrStat, SeriousFound int // asap and stat messages, and those triaged asap or stat
}

// FiguresOf computes the figures of the rows keep selects (nil: all).
func (r *Report) FiguresOf(keep func(Row) bool) Figures {
	var f Figures
	for i, row := range r.Rows {
		if keep != nil && !keep(row) {
			continue
		}
		p := r.Preds[i]
		f.N++
		w, g := slices.Index(Priorities, row.Priority), slices.Index(Priorities, p.Priority)
		if row.Priority == p.Priority {
			f.PriorityOK++
		}
		if row.Category == p.Category {
			f.CategoryOK++
		}
		if row.Priority == "stat" {
			f.Stat++
			if p.Priority == "stat" {
				f.StatFound++
			}
			if p.Priority == "stat" || p.Review {
				f.StatReviewedOrFound++
			}
		}
		if w >= 2 {
			f.ASAPOrStat++
			if g >= 2 {
				f.SeriousFound++
			}
		}
		if row.Priority == "routine" {
			f.Routine++
			if g > 0 {
				f.RoutineOver++
			}
		}
		if g < w {
			f.Under++
		}
		if p.Review {
			f.Review++
		}
		if p.Interpreter {
			f.Interpreter++
		}
	}
	return f
}

// Wilson is the 95% Wilson score interval of k successes in n.
func Wilson(k, n int) (lo, hi float64) {
	if n == 0 {
		return 0, 1
	}
	const z = 1.959964
	p := float64(k) / float64(n)
	nf := float64(n)
	den := 1 + z*z/nf
	c := (p + z*z/(2*nf)) / den
	h := z * math.Sqrt(p*(1-p)/nf+z*z/(4*nf*nf)) / den
	return math.Max(0, c-h), math.Min(1, c+h)
}

// pct writes k/n as "k/n (p%, 95% CI lo-hi%)".
func pct(k, n int) string {
	if n == 0 {
		return "—"
	}
	lo, hi := Wilson(k, n)
	return fmt.Sprintf("%d/%d (%.1f%%; %.1f–%.1f%%)", k, n, 100*float64(k)/float64(n), 100*lo, 100*hi)
}

// Kappa is Cohen's kappa of the two labellers of the rows, for priority (category false) or
// category (true), with the raw agreement.
func Kappa(rows []Row, category bool) (kappa, agree float64) {
	labels := Priorities
	get := func(l Label) string { return l.Priority }
	if category {
		labels, get = Categories, func(l Label) string { return l.Category }
	}
	n := float64(len(rows))
	if n == 0 {
		return 0, 0
	}
	same := 0.0
	ca, cb := map[string]float64{}, map[string]float64{}
	for _, r := range rows {
		a, b := get(r.Labels.First), get(r.Labels.Second)
		if a == b {
			same++
		}
		ca[a]++
		cb[b]++
	}
	po := same / n
	pe := 0.0
	for _, l := range labels {
		pe += ca[l] / n * cb[l] / n
	}
	if pe == 1 {
		return 1, po
	}
	return (po - pe) / (1 - pe), po
}

// Markdown writes the report.
func (r *Report) Markdown() string {
	var b strings.Builder
	all := r.FiguresOf(nil)
	kp, ap := Kappa(r.Rows, false)
	kc, ac := Kappa(r.Rows, true)
	adj := 0
	for _, row := range r.Rows {
		if row.Adjudicated {
			adj++
		}
	}
	fmt.Fprintf(&b, "%d messages. Labellers' agreement before adjudication: priority kappa %.3f (%.1f%% identical), category kappa %.3f (%.1f%%); %d disagreements adjudicated.\n\n",
		all.N, kp, 100*ap, kc, 100*ac, adj)
	b.WriteString("| measure | result (95% CI) | target |\n|---|---|---|\n")
	fmt.Fprintf(&b, "| stat recall | %s | 100%% |\n", pct(all.StatFound, all.Stat))
	fmt.Fprintf(&b, "| stat triaged stat, or marked for review | %s | |\n", pct(all.StatReviewedOrFound, all.Stat))
	fmt.Fprintf(&b, "| asap or stat triaged asap or stat | %s | |\n", pct(all.SeriousFound, all.ASAPOrStat))
	fmt.Fprintf(&b, "| priority accuracy | %s | ≥ 90%% |\n", pct(all.PriorityOK, all.N))
	fmt.Fprintf(&b, "| category accuracy | %s | ≥ 90%% |\n", pct(all.CategoryOK, all.N))
	fmt.Fprintf(&b, "| routine over-triage (urgent or higher) | %s | < 10%% |\n", pct(all.RoutineOver, all.Routine))
	fmt.Fprintf(&b, "| under-triage (below the label) | %s | |\n", pct(all.Under, all.N))
	fmt.Fprintf(&b, "| marked for review | %s | |\n", pct(all.Review, all.N))
	fmt.Fprintf(&b, "| marked for an interpreter | %s | |\n\n", pct(all.Interpreter, all.N))

	b.WriteString("By language:\n\n| language | messages | stat recall | priority accuracy | category accuracy | routine over-triage |\n|---|---|---|---|---|---|\n")
	langs := map[string]bool{}
	for _, row := range r.Rows {
		langs[row.Lang] = true
	}
	for _, l := range sortedKeys(langs) {
		f := r.FiguresOf(func(row Row) bool { return row.Lang == l })
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s |\n", l, f.N, pct(f.StatFound, f.Stat), pct(f.PriorityOK, f.N),
			pct(f.CategoryOK, f.N), pct(f.RoutineOver, f.Routine))
	}
	b.WriteString("\nBy labelled priority (recall of each):\n\n| priority | messages | triaged the same | triaged higher | triaged lower |\n|---|---|---|---|---|\n")
	for w, p := range Priorities {
		n, same, higher, lower := 0, r.Priority[w][w], 0, 0
		for g := range Priorities {
			n += r.Priority[w][g]
			if g > w {
				higher += r.Priority[w][g]
			}
			if g < w {
				lower += r.Priority[w][g]
			}
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %d | %d |\n", p, n, pct(same, n), higher, lower)
	}
	b.WriteString("\nPriority (rows: label, columns: triage):\n\n| | routine | urgent | asap | stat |\n|---|---|---|---|---|\n")
	for w, p := range Priorities {
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d |\n", p, r.Priority[w][0], r.Priority[w][1], r.Priority[w][2], r.Priority[w][3])
	}
	b.WriteString("\nCategory (rows: label, columns: triage):\n\n| |")
	for _, c := range Categories {
		b.WriteString(" " + c + " |")
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(Categories)) + "\n")
	for w, c := range Categories {
		fmt.Fprintf(&b, "| %s |", c)
		for g := range Categories {
			fmt.Fprintf(&b, " %d |", r.Category[w][g])
		}
		b.WriteString("\n")
	}
	return b.String()
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
