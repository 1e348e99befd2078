// Command triagecheck shows how Portico triages messages, layer by layer, and validates a
// protocol file:
//
//	go run ./triage/cmd/triagecheck "I have chest pian since this morning"
//	echo "no chest pain, just a refill" | go run ./triage/cmd/triagecheck -protocols my.json
//
// With no message arguments it reads one message per line from standard input. It prints the
// priority, category, language, the floor and the model's probabilities, the review and
// interpreter flags, the concepts read (with their context) and the quantities, and every
// reason. An invalid protocol file prints every problem and exits 2.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/portico-health/portico/triage"
)

func main() {
	path := flag.String("protocols", "", "protocol file (default: the shipped protocols)")
	topic := flag.String("topic", "", "Communication.topic text")
	hint := flag.String("hint", "", "the patient's own priority")
	lang := flag.String("lang", "", "Communication.language")
	flag.Parse()
	e, err := triage.New(*path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	msg := func(text string) triage.Message {
		return triage.Message{Text: text, Topic: *topic, PatientPriorityHint: *hint, Language: *lang}
	}
	if flag.NArg() > 0 {
		for _, m := range flag.Args() {
			show(os.Stdout, e, msg(m))
		}
		return
	}
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		show(os.Stdout, e, msg(sc.Text()))
	}
}

func show(w io.Writer, e *triage.Engine, m triage.Message) {
	res := e.Classify(m)
	fmt.Fprintf(w, "%s / %s (%s, served %v): %s\n", res.Priority, res.Category, res.Language, res.Served, m.Text)
	fmt.Fprintf(w, "  floor %s, model %s (routine %.2f urgent %.2f asap %.2f stat %.2f)", res.Floor, res.Model,
		res.Probs[0], res.Probs[1], res.Probs[2], res.Probs[3])
	if res.Review {
		fmt.Fprintf(w, "; REVIEW: %s", res.ReviewWhy)
	}
	if res.Interpreter {
		fmt.Fprint(w, "; INTERPRETER")
	}
	fmt.Fprintln(w)
	_, reading := e.Read(m)
	for _, f := range reading.Findings {
		mod := f.Modifier()
		if mod != "" {
			mod = fmt.Sprintf(" [%s by %q]", mod, f.Cue)
		}
		fmt.Fprintf(w, "  concept %-24s %s %q%s\n", f.Concept, f.Lang, f.Text, mod)
	}
	for _, q := range reading.Quantities {
		fmt.Fprintf(w, "  quantity %-14s %-8.1f %q\n", q.Kind, q.Value, q.Text)
	}
	for _, rs := range res.Reasons {
		if rs.Kind == triage.KindFinding {
			continue
		}
		fmt.Fprintf(w, "  %-9s %-28s %-7s %q\n", rs.Kind, rs.Rule, rs.Priority, rs.Matched)
	}
}
