package serve

import (
	"context"
	"errors"
	"fmt"

	"github.com/kioku-ml/kioku/lm"
	"github.com/kioku-ml/kioku/tensor"
)

// errShutdown ends generations still running when the server stops.
var errShutdown = errors.New("the server is shutting down")

// genLoop runs every generation of one language model in one lm.Batch:
// continuous batching. Each pass admits the generations waiting to join
// (their primes prefilled together at the next step), drops those whose
// client went away, and advances all of them by one token with one
// batched step. A generation's tokens do not depend on the others in the
// batch (lm.Batch), so they are those it would get alone.
type genLoop struct {
	model    *lm.Model
	maxBatch int
	jobs     chan *genJob
	// observe, if set, is told the number of generations in each step.
	observe func(n int)
}

// genJob is one generation: its request and the channel its tokens come
// out of, closed when it ends (err says why, if not by its config).
type genJob struct {
	ctx    context.Context
	prime  []int
	cfg    lm.SampleConfig
	rng    *tensor.RNG
	tokens chan int // capacity cfg.Length: the loop never blocks on it
	err    error    // set before tokens is closed
}

func newGenLoop(m *lm.Model, maxBatch int) *genLoop {
	return &genLoop{model: m, maxBatch: maxBatch, jobs: make(chan *genJob)}
}

// submit queues a generation and returns its job, or ctx's error if ctx
// ends before the loop takes it.
func (g *genLoop) submit(ctx context.Context, prime []int, cfg lm.SampleConfig, rng *tensor.RNG) (*genJob, error) {
	j := &genJob{ctx: ctx, prime: prime, cfg: cfg, rng: rng, tokens: make(chan int, max(cfg.Length, 1))}
	select {
	case g.jobs <- j:
		return j, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// safeStep is b.Step that turns a panic into an error, so that a bug in a
// step ends the generations of that batch instead of the server.
func safeStep(b *lm.Batch) (toks []lm.Token, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("internal error in a generation step: %v", p)
		}
	}()
	return b.Step(context.Background())
}

// loop runs until stop is closed, then ends the generations left.
func (g *genLoop) loop(stop <-chan struct{}) {
	b := g.model.NewBatch()
	running := map[int]*genJob{}
	end := func(id int, err error) {
		j := running[id]
		delete(running, id)
		b.Remove(id)
		j.err = err
		close(j.tokens)
	}
	add := func(j *genJob) {
		id, err := b.Add(j.prime, j.cfg, j.rng)
		if err != nil {
			j.err = err
			close(j.tokens)
			return
		}
		running[id] = j
	}
	defer func() {
		for id := range running {
			end(id, errShutdown)
		}
	}()
	for {
		if len(running) == 0 {
			select {
			case j := <-g.jobs:
				add(j)
			case <-stop:
				return
			}
		}
	admit:
		for len(running) < g.maxBatch {
			select {
			case j := <-g.jobs:
				add(j)
			case <-stop:
				return
			default:
				break admit
			}
		}
		for id, j := range running {
			if err := j.ctx.Err(); err != nil {
				end(id, err)
			}
		}
		if len(running) == 0 {
			continue
		}
		if g.observe != nil {
			g.observe(len(running))
		}
		toks, err := safeStep(b)
		if err != nil { // a bug, not a request's doing: end them all, start afresh
			for id := range running {
				end(id, err)
			}
			b = g.model.NewBatch()
			continue
		}
		for _, t := range toks {
			j := running[t.Gen]
			if t.ID != lm.NoToken {
				j.tokens <- t.ID
			}
			if t.Done {
				delete(running, t.Gen)
				close(j.tokens)
			}
		}
	}
}
