// Command gen trains triage's learned layer from the development corpus and chooses its
// thresholds by cross-validation (go generate in triage/model). Deterministic: the same
// corpus, lexicons and protocols give the same bytes.
//
// The sealed split (testdata/triage/corpus/sealed.jsonl) is never read here.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"slices"
	"strings"

	"github.com/portico-health/portico/triage"
	"github.com/portico-health/portico/triage/evaluation"
	"github.com/portico-health/portico/triage/lexicon"
	"github.com/portico-health/portico/triage/model"
	"github.com/portico-health/portico/triage/protocol"
)

// Folds of the cross-validation.
const folds = 5

func main() {
	corpus := flag.String("corpus", "", "the development corpus (JSON lines)")
	weightsOut := flag.String("weights", "weights.bin.gz", "where to write the weights")
	thresholdsOut := flag.String("thresholds", "thresholds.json", "where to write the thresholds")
	opts := model.DefaultOptions
	flag.IntVar(&opts.Epochs, "epochs", opts.Epochs, "training epochs")
	flag.Float64Var(&opts.L2, "l2", opts.L2, "L2 penalty")
	flag.Float64Var(&opts.Rate, "rate", opts.Rate, "AdaGrad rate")
	flag.Float64Var(&opts.StatWeight, "stat-weight", opts.StatWeight, "weight of stat examples")
	flag.Float64Var(&statOverCap, "stat-over-cap", statOverCap, "most share of the messages below stat given stat")
	explore := flag.Bool("explore", false, "print the figures of other choices of cost and cap, write nothing")
	writerCV := flag.Bool("writer-cv", false, "print the model's leave-one-writer-out accuracy (docs/triage-evaluation.md, \"Choices measured\"), write nothing")
	flag.Parse()
	if strings.Contains(*corpus, "sealed") {
		log.Fatal("gen: the sealed split is never used for training")
	}
	if *writerCV {
		if err := leaveOneWriterOut(*corpus, opts); err != nil {
			log.Fatal(err)
		}
		return
	}
	weights, thresholds, err := build(*corpus, opts, *explore)
	if err != nil {
		log.Fatal(err)
	}
	if *explore {
		return
	}
	if err := os.WriteFile(*weightsOut, weights, 0o644); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*thresholdsOut, thresholds, 0o644); err != nil {
		log.Fatal(err)
	}
}

// build trains the model on the corpus and chooses its thresholds: the bytes of
// weights.bin.gz and thresholds.json. With explore it prints other choices and returns nil.
func build(corpus string, opts model.Options, explore bool) (weights, thresholds []byte, err error) {
	rows, err := evaluation.Load(corpus)
	if err != nil {
		return nil, nil, err
	}
	lex, protos := lexicon.Default(), protocol.Default()
	examples, floors, hints := prepare(rows, lex, protos)

	// Out-of-fold probabilities: each message scored by a model that never saw its writer.
	fold := writerFolds(rows)
	oof := make([][]float64, len(rows))
	catRight := 0
	for k := range folds {
		var train []model.Example
		for i := range rows {
			if fold[i] != k {
				train = append(train, examples[i])
			}
		}
		m := model.Train(train, opts)
		for i := range rows {
			if fold[i] == k {
				oof[i] = m.PriorityProbs(examples[i].Features)
				if argmax(m.CategoryProbs(examples[i].Features)) == examples[i].Category {
					catRight++
				}
			}
		}
	}
	if explore {
		for _, c := range []float64{2, 4, 8, 20} {
			for _, o := range []float64{0.08, 0.12, 0.16, 0.25, 1} {
				th := choose(examples, floors, hints, oof, c, o)
				log.Printf("stat miss cost %v, over-triage cap %v: %s", c, o, th.Note)
			}
		}
		return nil, nil, nil
	}
	log.Printf("category accuracy, out of fold: %d/%d (%.1f%%)", catRight, len(examples), 100*float64(catRight)/float64(len(examples)))
	th := choose(examples, floors, hints, oof, statMissCost, overTriageCap)
	final := model.Train(examples, opts)
	if weights, err = final.Encode(); err != nil {
		return nil, nil, err
	}
	tj, err := json.MarshalIndent(th, "", "  ")
	if err != nil {
		return nil, nil, err
	}
	log.Printf("%d examples; %s", len(examples), th.Note)
	return weights, append(tj, '\n'), nil
}

// writerFolds puts every message of a writer in the same fold (writers sorted, dealt in turn):
// the thresholds are then chosen on how the model reads writers it never saw, as it will read
// the patients of a clinic. Folds by message let a model learn a writer's habits from their
// other messages, and chose thresholds too confident for new writers.
func writerFolds(rows []evaluation.Row) []int {
	var writers []string
	for _, r := range rows {
		if !slices.Contains(writers, r.Writer) {
			writers = append(writers, r.Writer)
		}
	}
	slices.Sort(writers)
	out := make([]int, len(rows))
	for i, r := range rows {
		out[i] = slices.Index(writers, r.Writer) % folds
	}
	return out
}

func index(list []string, s string) int {
	i := slices.Index(list, s)
	if i < 0 {
		log.Fatalf("gen: unknown label %q", s)
	}
	return i
}

// prepare reads every message as the engine does, with its floor (the protocols) and the
// patient's hint (capped), which the thresholds are chosen together with.
func prepare(rows []evaluation.Row, lex *lexicon.Lexicons, protos *protocol.Set) ([]model.Example, []int, []int) {
	examples := make([]model.Example, len(rows))
	floors := make([]int, len(rows))
	hints := make([]int, len(rows))
	for i, r := range rows {
		m := triage.Message{Text: r.Text, Topic: r.Topic, PatientPriorityHint: r.Hint}
		id, reading := triage.Read(lex, m)
		hits := protos.Evaluate(&reading)
		examples[i] = model.Example{Features: triage.Features(id, &reading, hits, false),
			Priority: index(model.Priorities, r.Priority), Category: index(model.Categories, r.Category)}
		for _, h := range hits {
			floors[i] = max(floors[i], h.Priority)
		}
		if !(id.Served && id.Certain) {
			floors[i] = max(floors[i], 1)
		}
		if p, ok := triage.ParsePriority(r.Hint); ok && r.Hint != "" {
			hints[i] = min(int(p), int(triage.PatientHintCap))
		}
	}
	return examples, floors, hints
}

// The choice of thresholds: a stat message left below stat costs statMissCost errors, an asap
// one left below asap 3, any other error 1; among the thresholds that raise at most
// overTriageCap of routine messages, the least cost wins. The cap is what keeps the queue
// usable: a triage that marks half the routine messages urgent is not read. Messages the
// model gives a high P(asap or stat) but that stay below asap go to review (Thresholds.Review).
const (
	statMissCost  = 8
	overTriageCap = 0.16
)

// statOverCap bounds the share of messages below stat that are given stat (each one pages the
// clinician on call and tells the patient to call 911).
var statOverCap = 0.12

// choose picks the thresholds on the out-of-fold probabilities; ties go to the higher
// thresholds (less over-triage).
func choose(ex []model.Example, floors, hints []int, oof [][]float64, statCost, overCap float64) model.Thresholds {
	grid := []float64{}
	for t := 0.02; t < 0.95; t += 0.02 {
		grid = append(grid, float64(int(t*100+0.5))/100)
	}
	type result struct {
		th        model.Thresholds
		cost      float64
		statMiss  int
		acc, over float64
		overStat  float64 // share of the messages below stat that are given stat
		conf      [4][4]int
	}
	eval := func(th model.Thresholds) result {
		r := result{th: th}
		correct, routine, over := 0, 0, 0
		for i := range ex {
			got := max(floors[i], th.Priority(oof[i]), hints[i])
			want := ex[i].Priority
			r.conf[want][got]++
			switch {
			case got == want:
				correct++
			case want == 3 && got < 3:
				r.cost += statCost
				r.statMiss++
			case want == 2 && got < 2:
				r.cost += 3
			default:
				r.cost++
			}
			if want == 0 {
				routine++
				if got > 0 {
					over++
				}
			}
		}
		r.acc = float64(correct) / float64(len(ex))
		below := 0
		for w := range 3 {
			for g := range 4 {
				below += r.conf[w][g]
			}
		}
		r.overStat = float64(r.conf[0][3]+r.conf[1][3]+r.conf[2][3]) / float64(max(below, 1))
		r.over = float64(over) / float64(max(routine, 1))
		return r
	}
	var best result
	first := true
	for _, s := range grid {
		for _, a := range grid {
			for _, u := range grid {
				r := eval(model.Thresholds{Stat: s, ASAP: a, Urgent: u})
				if r.over > overCap || r.overStat > statOverCap {
					continue
				}
				if first || r.cost < best.cost || r.cost == best.cost && s+a+u > best.th.Stat+best.th.ASAP+best.th.Urgent {
					best, first = r, false
				}
			}
		}
	}
	stat := 0
	for i := range ex {
		if ex[i].Priority == 3 {
			stat++
		}
	}
	log.Printf("confusion (rows: label routine..stat; columns: given): %v", best.conf)
	best.th.Review = 0.3
	best.th.Note = fmt.Sprintf("chosen by %d-fold cross-validation by writer on %d development messages: stat recall %d/%d, priority accuracy %.1f%%, routine over-triage %.1f%%, messages below stat given stat %.1f%% (floor, model and patient hint together)",
		folds, len(ex), stat-best.statMiss, stat, best.acc*100, best.over*100, best.overStat*100)
	return best.th
}

// leaveOneWriterOut prints how the model alone (its most probable class, no floor, no
// thresholds) reads each writer's messages when trained on the other writers only: the
// measure the features were chosen by.
func leaveOneWriterOut(corpus string, opts model.Options) error {
	rows, err := evaluation.Load(corpus)
	if err != nil {
		return err
	}
	examples, _, _ := prepare(rows, lexicon.Default(), protocol.Default())
	var writers []string
	for _, r := range rows {
		if !slices.Contains(writers, r.Writer) {
			writers = append(writers, r.Writer)
		}
	}
	var conf [4][4]int
	priority, category := 0, 0
	for _, w := range writers {
		var train []model.Example
		for i := range rows {
			if rows[i].Writer != w {
				train = append(train, examples[i])
			}
		}
		m := model.Train(train, opts)
		for i := range rows {
			if rows[i].Writer != w {
				continue
			}
			p, c := argmax(m.PriorityProbs(examples[i].Features)), argmax(m.CategoryProbs(examples[i].Features))
			conf[examples[i].Priority][p]++
			if p == examples[i].Priority {
				priority++
			}
			if c == examples[i].Category {
				category++
			}
		}
	}
	n := float64(len(rows))
	fmt.Printf("%d messages, %d writers: priority %.1f%%, category %.1f%%; priority confusion (rows: label routine..stat) %v\n",
		len(rows), len(writers), 100*float64(priority)/n, 100*float64(category)/n, conf)
	return nil
}

func argmax(p []float64) int {
	best := 0
	for i := range p {
		if p[i] > p[best] {
			best = i
		}
	}
	return best
}
