package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Example is one labelled message for training.
type Example struct {
	Features Features
	Priority int // index in Priorities
	Category int // index in Categories
}

// Options of Train.
type Options struct {
	Epochs int     // passes over the examples
	L2     float64 // L2 regularisation of each weight, per example seen
	Rate   float64 // AdaGrad learning rate
	Seed   uint64  // the shuffle's seed: the same examples and options give the same model
	// StatWeight multiplies the loss of stat examples of the priority model: missing an
	// emergency costs more than over-calling one.
	StatWeight float64
}

// DefaultOptions are those go generate trains with.
var DefaultOptions = Options{Epochs: 30, L2: 1e-5, Rate: 0.2, Seed: 1, StatWeight: 2}

// Train fits both classifiers by AdaGrad on the multinomial logistic loss. It is
// deterministic: examples are visited in an order drawn from Seed.
func Train(examples []Example, o Options) *Model {
	m := &Model{Meta: fmt.Sprintf("examples=%d epochs=%d l2=%g rate=%g seed=%d statWeight=%g bits=%d",
		len(examples), o.Epochs, o.L2, o.Rate, o.Seed, o.StatWeight, Bits)}
	tp := newTrainer(len(Priorities))
	tc := newTrainer(len(Categories))
	rng := rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))
	order := make([]int, len(examples))
	for i := range order {
		order[i] = i
	}
	for range o.Epochs {
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, i := range order {
			ex := examples[i]
			w := 1.0
			if Priorities[ex.Priority] == "stat" && o.StatWeight > 0 {
				w = o.StatWeight
			}
			tp.step(ex.Features, ex.Priority, w, o)
			tc.step(ex.Features, ex.Category, 1, o)
		}
	}
	m.Priority = tp.table()
	m.Category = tc.table()
	return m
}

type trainer struct {
	k     int
	w, g  map[uint32][]float64 // weights and AdaGrad squared-gradient sums
	b, gb []float64
}

func newTrainer(k int) *trainer {
	return &trainer{k: k, w: map[uint32][]float64{}, g: map[uint32][]float64{}, b: make([]float64, k), gb: make([]float64, k)}
}

func (t *trainer) step(f Features, y int, weight float64, o Options) {
	scale := 1 / math.Sqrt(float64(len(f.Buckets)))
	s := make([]float64, t.k)
	copy(s, t.b)
	for _, b := range f.Buckets {
		if ws, ok := t.w[b]; ok {
			for k := range s {
				s[k] += ws[k] * scale
			}
		}
	}
	p := softmax(s)
	for k := range p {
		grad := p[k]
		if k == y {
			grad -= 1
		}
		grad *= weight
		t.gb[k] += grad * grad
		t.b[k] -= o.Rate * grad / (math.Sqrt(t.gb[k]) + 1e-8)
	}
	for _, b := range f.Buckets {
		ws, ok := t.w[b]
		if !ok {
			ws = make([]float64, t.k)
			t.w[b] = ws
			t.g[b] = make([]float64, t.k)
		}
		gs := t.g[b]
		for k := range ws {
			grad := p[k]
			if k == y {
				grad -= 1
			}
			grad = grad*weight*scale + o.L2*ws[k]
			gs[k] += grad * grad
			ws[k] -= o.Rate * grad / (math.Sqrt(gs[k]) + 1e-8)
		}
	}
}

func (t *trainer) table() Table {
	tb := Table{K: t.k, Bias: make([]float32, t.k)}
	for k, x := range t.b {
		tb.Bias[k] = float32(x)
	}
	for b := range t.w {
		tb.Keys = append(tb.Keys, b)
	}
	slices.Sort(tb.Keys)
	tb.W = make([]float32, 0, len(tb.Keys)*t.k)
	for _, b := range tb.Keys {
		for _, x := range t.w[b] {
			tb.W = append(tb.W, float32(x))
		}
	}
	return tb
}
