package lm

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/internal/kernel"
	"github.com/kioku-ml/kioku/seq"
	"github.com/kioku-ml/kioku/tensor"
)

// NoToken is the ID of a Token that carries no token: the end of a
// generation of Length 0, or the value Stream yields with an error.
const NoToken = -1

// Token is one step of one generation in a Batch.
type Token struct {
	// Gen is the generation's id, as Batch.Add returned it.
	Gen int
	// ID is the token drawn, or NoToken for a generation of Length 0.
	ID int
	// Done reports that the generation ended with this step — it has
	// cfg.Length tokens, or drew one of cfg.Stop — and left the batch.
	Done bool
}

// generation is one sequence being generated in a Batch.
type generation struct {
	id    int
	cfg   SampleConfig
	rng   *tensor.RNG
	prime []int // run at the next Step; nil once it has run
	last  int   // the last token drawn
	n     int   // the number of tokens drawn
	// h and c are the recurrent state after the last token run, layer
	// after layer (Layers·Hidden values); nil until the prime has run,
	// c nil for a GRU.
	h, c []float32
	// scratch and sorted are pick's buffers, kept from step to step.
	scratch, sorted []float32
}

// A Batch advances many generations together, one token each per Step:
// continuous batching, the loop a server's dynamic batcher drives.
// Generations join with Add at any time — the prime of each joiner runs
// (is prefilled) at the next Step, packed with the other joiners and with
// the one-token steps of the generations already running, in one pass
// through the recurrent layers — and leave when they have their Length,
// when they draw a Stop token (Step reports both) or when Remove drops
// them (a cancelled request, say).
//
// Each Step gathers the state of every live generation into one
// (Layers, B, Hidden) state, runs the embedding, the recurrent layers
// (nn's ForwardPacked: one packed pass over the B sequences, primes of
// any length and single tokens together) and the output layer once for
// all of them, splits the state back and draws each generation's next
// token from its row of logits with its own SampleConfig and generator.
// The tokens of a generation do not depend on the others: with the same
// prime, configuration and generator seed it draws, bit for bit, the
// tokens Sample draws (the kernels are batch-invariant; see docs/lm.md,
// "Batch invariance").
//
// A Batch holds its own inference view of the model, with the recurrent
// and output layers' weights packed once for the matrix kernels (Pack),
// and
// belongs to one goroutine; any number of Batches may run on one Model at
// once (see Model). It reads the weights when it is made: make a new
// Batch after they change.
type Batch struct {
	m      *Model // the inference view
	gens   []*generation
	next   int
	logits *tensor.Tensor // reused from step to step
}

// NewBatch returns an empty Batch running on an inference view of m.
func (m *Model) NewBatch() *Batch {
	return &Batch{m: m.Pack()}
}

// Add joins a generation continuing prime (at least one token id) with
// cfg.Length tokens drawn with rng, and returns its id. The prime runs at
// the next Step, which also draws the first token. It returns an error,
// and adds nothing, for an empty prime, ids outside the vocabulary (in
// the prime or in cfg.Stop), a temperature that is not positive and
// finite, a negative length or top-k, or a nil rng or one that another
// generation of the batch draws from (the generations draw in parallel).
// The batch keeps a copy of prime and uses rng until the generation
// leaves.
func (b *Batch) Add(prime []int, cfg SampleConfig, rng *tensor.RNG) (int, error) {
	if err := b.m.checkSample(prime, cfg, rng); err != nil {
		return 0, err
	}
	for _, g := range b.gens {
		if g.rng == rng {
			return 0, fmt.Errorf("lm: the generator is already drawing for generation %d of the batch; each generation needs its own", g.id)
		}
	}
	cfg.Stop = slices.Clone(cfg.Stop)
	g := &generation{id: b.next, cfg: cfg, rng: rng, prime: slices.Clone(prime)}
	b.next++
	b.gens = append(b.gens, g)
	return g.id, nil
}

// Remove drops generation id from the batch and reports whether it was
// there (a generation that has finished has already left).
func (b *Batch) Remove(id int) bool {
	i := slices.IndexFunc(b.gens, func(g *generation) bool { return g.id == id })
	if i < 0 {
		return false
	}
	b.gens = slices.Delete(b.gens, i, i+1)
	return true
}

// Len returns the number of generations in the batch, those whose prime
// has yet to run included.
func (b *Batch) Len() int { return len(b.gens) }

// Step advances every generation in the batch by one token and returns
// the tokens in the order the generations joined; those marked Done have
// left the batch. A generation of Length 0 leaves at its first Step with
// a Token of ID NoToken, its prime never run. Step on an empty batch
// returns no tokens. It checks ctx first and returns ctx.Err(), changing
// nothing, once ctx is done.
func (b *Batch) Step(ctx context.Context) ([]Token, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]Token, 0, len(b.gens))
	run := make([]*generation, 0, len(b.gens))
	for _, g := range b.gens {
		if g.cfg.Length == 0 {
			out = append(out, Token{Gen: g.id, ID: NoToken, Done: true})
			continue
		}
		run = append(run, g)
	}
	if len(run) > 0 {
		b.advance(run)
		for _, g := range run {
			out = append(out, Token{Gen: g.id, ID: g.last, Done: g.done()})
		}
	}
	// Tokens are in joining order: merge the Length-0 ones back.
	slices.SortStableFunc(out, func(x, y Token) int { return cmp.Compare(x.Gen, y.Gen) })
	b.gens = slices.DeleteFunc(b.gens, (*generation).done)
	return out, nil
}

// done reports whether the generation has its Length of tokens or has
// drawn a Stop token.
func (g *generation) done() bool {
	return g.n >= g.cfg.Length || g.n > 0 && slices.Contains(g.cfg.Stop, g.last)
}

// advance runs one packed pass for the generations gens — the prime of
// those that have just joined, the last token of the others — and draws
// each one's next token.
func (b *Batch) advance(gens []*generation) {
	v := b.m
	L, H := v.cfg.Layers, v.cfg.Hidden
	B := len(gens)
	lengths := make([]int, B)
	carried := false // whether any generation has a state yet
	for i, g := range gens {
		lengths[i] = 1
		if g.prime != nil {
			lengths[i] = len(g.prime)
		} else {
			carried = true
		}
	}
	p := seq.MustPacking(lengths)
	ids := make([]int, p.Rows)
	for t, bs := range p.BatchSizes {
		for k, i := range p.Order[:bs] {
			g := gens[i]
			if g.prime != nil {
				ids[p.Offsets[t]+k] = g.prime[t]
			} else {
				ids[p.Offsets[t]+k] = g.last
			}
		}
	}
	_, hasC := v.StateShape(B)
	var st State
	if carried {
		// The (Layers, B, Hidden) state: each generation's row, zeros for
		// those starting.
		gather := func(get func(*generation) []float32) *autograd.Variable {
			s := make([]float32, L*B*H)
			for i, g := range gens {
				if src := get(g); src != nil {
					for l := range L {
						copy(s[(l*B+i)*H:(l*B+i+1)*H], src[l*H:(l+1)*H])
					}
				}
			}
			return autograd.NewVariable(tensor.FromFloat32(s, L, B, H))
		}
		st.H = gather(func(g *generation) []float32 { return g.h })
		if hasC {
			st.C = gather(func(g *generation) []float32 { return g.c })
		}
	}
	y, next := v.hiddenPacked(ids, p, st)
	lastRows := make([]int, B)
	for i, n := range lengths {
		lastRows[i] = p.Row(i, n-1)
	}
	b.logits = v.out.ForwardInto(b.logits, fn.GatherRows(y, lastRows).Data)
	nh := tensor.Values[float32](next.H.Data)
	var nc []float32
	if hasC {
		nc = tensor.Values[float32](next.C.Data)
	}
	for i, g := range gens {
		g.prime = nil
		if g.h == nil {
			g.h = make([]float32, L*H)
			if hasC {
				g.c = make([]float32, L*H)
			}
		}
		for l := range L {
			copy(g.h[l*H:(l+1)*H], nh[(l*B+i)*H:(l*B+i+1)*H])
			if hasC {
				copy(g.c[l*H:(l+1)*H], nc[(l*B+i)*H:(l*B+i+1)*H])
			}
		}
	}
	// Each generation draws from its own row with its own generator, so
	// the rows are drawn in parallel, each exactly as alone.
	V := v.cfg.Vocab
	logits := tensor.Values[float32](b.logits)
	kernel.ParallelFor(B, 1, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			g := gens[i]
			g.last, g.scratch, g.sorted = pick(logits[i*V:(i+1)*V], g.cfg, g.rng, g.scratch, g.sorted)
			g.n++
		}
	})
}
