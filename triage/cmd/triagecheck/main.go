// Command triagecheck validates a triage rule file and shows how it classifies messages:
//
//	go run ./triage/cmd/triagecheck [-rules path] "I have chest pian since this morning"
//	echo "no chest pain, just a refill" | go run ./triage/cmd/triagecheck -rules my.json
//
// With no message arguments it reads one message per line from standard input. It prints the
// priority, category, language and every reason. An invalid rule file prints every problem and
// exits 2.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/portico-health/portico/triage"
	"github.com/portico-health/portico/triage/rules"
)

func main() {
	path := flag.String("rules", "", "rule file (default: the shipped rules)")
	topic := flag.String("topic", "", "Communication.topic text")
	hint := flag.String("hint", "", "the patient's own priority")
	flag.Parse()
	r, err := rules.Load(*path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if flag.NArg() > 0 {
		for _, m := range flag.Args() {
			show(os.Stdout, r, triage.Message{Text: m, Topic: *topic, PatientPriorityHint: *hint})
		}
		return
	}
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		show(os.Stdout, r, triage.Message{Text: sc.Text(), Topic: *topic, PatientPriorityHint: *hint})
	}
}

func show(w io.Writer, r *rules.Rules, m triage.Message) {
	res := triage.Classify(r, m)
	fmt.Fprintf(w, "%s / %s (%s): %s\n", res.Priority, res.Category, res.Language, m.Text)
	for _, rs := range res.Reasons {
		fmt.Fprintf(w, "  %-10s %-28s %-7s %-14s %q", rs.Kind, rs.Rule, level(rs.Priority), rs.Category, rs.Matched)
		if rs.Negated {
			fmt.Fprintf(w, "  set aside by %q", rs.Cue)
		}
		fmt.Fprintln(w)
	}
}

func level(p triage.Priority) string {
	if p == triage.Routine {
		return "-"
	}
	return p.String()
}
