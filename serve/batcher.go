package serve

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// batcher runs the items of requests that arrive together as one call of
// run: dynamic batching. A batch takes every request already waiting;
// if more requests are on their way (admitted by the server, still being
// read and checked — coming says how many), it waits up to maxDelay for
// them. So a lone request
// runs at once, with no added latency, and under load the batches fill
// while the previous one runs. A batch holds at most maxBatch items (a
// request's items are never split), and only requests of one key (equal
// decoding options, say) run together. One goroutine (loop) runs the
// batches in turn: the model's kernels already use every core.
type batcher[I, R any] struct {
	maxBatch int
	maxDelay time.Duration
	run      func(ctx context.Context, items []I) ([]R, error)
	// coming, if set, returns the requests of the endpoint admitted and
	// not yet submitted (see pending).
	coming func() int64
	// observe, if set, is told the size of each batch run.
	observe func(items int)
	jobs    chan *job[I, R]
}

// job is one request's items waiting in a batcher, and its results.
type job[I, R any] struct {
	ctx   context.Context
	key   string
	items []I
	res   []R
	err   error
	done  chan struct{}
}

func newBatcher[I, R any](maxBatch int, maxDelay time.Duration, run func(context.Context, []I) ([]R, error)) *batcher[I, R] {
	return &batcher[I, R]{maxBatch: maxBatch, maxDelay: maxDelay, run: run, jobs: make(chan *job[I, R])}
}

// submit queues items under key and returns their results, in order,
// once their batch has run, or ctx's error if ctx ends first.
func (b *batcher[I, R]) submit(ctx context.Context, key string, items []I) ([]R, error) {
	j := &job[I, R]{ctx: ctx, key: key, items: items, done: make(chan struct{})}
	arrived(ctx)
	select {
	case b.jobs <- j:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case <-j.done:
		return j.res, j.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// loop runs batches until stop is closed.
func (b *batcher[I, R]) loop(stop <-chan struct{}) {
	var carry []*job[I, R] // received, but of another key or past the batch's room
	for {
		var first *job[I, R]
		if len(carry) > 0 {
			first, carry = carry[0], carry[1:]
		} else {
			select {
			case first = <-b.jobs:
			case <-stop:
				return
			}
		}
		batch, n := []*job[I, R]{first}, len(first.items)
		rest := carry[:0]
		for _, j := range carry {
			if j.key == first.key && n+len(j.items) <= b.maxBatch {
				batch, n = append(batch, j), n+len(j.items)
			} else {
				rest = append(rest, j)
			}
		}
		carry = rest
		take := func(j *job[I, R]) {
			if j.key == first.key && n+len(j.items) <= b.maxBatch {
				batch, n = append(batch, j), n+len(j.items)
			} else {
				carry = append(carry, j)
			}
		}
	waiting:
		for n < b.maxBatch { // what is already queued
			select {
			case j := <-b.jobs:
				take(j)
			default:
				break waiting
			}
		}
		if n < b.maxBatch && b.more() {
			timer := time.NewTimer(b.maxDelay)
		collect:
			for n < b.maxBatch && b.more() {
				select {
				case j := <-b.jobs:
					take(j)
				case <-timer.C:
					break collect
				case <-stop:
					break collect
				}
			}
			timer.Stop()
		}
		b.runBatch(batch)
	}
}

// safeRun is run that turns a panic into an error, so that a bug in a
// batch fails its requests instead of the server.
func (b *batcher[I, R]) safeRun(ctx context.Context, items []I) (res []R, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("internal error in a batch: %v", p)
		}
	}()
	return b.run(ctx, items)
}

// more reports whether requests are admitted and not yet submitted:
// whether waiting may fill the batch.
func (b *batcher[I, R]) more() bool {
	return b.coming == nil || b.coming() > 0
}

// pending marks a request admitted for an endpoint and not yet submitted
// to its batcher: it counts in the endpoint's coming counter until
// arrive, which submit calls (through the request's context) and the
// server calls again when the request is answered.
type pending struct {
	coming *atomic.Int64
	done   atomic.Bool
}

type pendingKey struct{}

// withPending counts a request in coming until it arrives.
func withPending(ctx context.Context, coming *atomic.Int64) (context.Context, *pending) {
	p := &pending{coming: coming}
	coming.Add(1)
	return context.WithValue(ctx, pendingKey{}, p), p
}

// arrive takes the request out of the count, once.
func (p *pending) arrive() {
	if p != nil && p.done.CompareAndSwap(false, true) {
		p.coming.Add(-1)
	}
}

// arrived marks the request of ctx, if it is pending, arrived.
func arrived(ctx context.Context) {
	p, _ := ctx.Value(pendingKey{}).(*pending)
	p.arrive()
}

// runBatch runs the jobs still wanted as one call and hands each its
// results. The call's context ends when every job's context has.
func (b *batcher[I, R]) runBatch(batch []*job[I, R]) {
	live := batch[:0]
	for _, j := range batch {
		if err := j.ctx.Err(); err != nil {
			j.err = err
			close(j.done)
			continue
		}
		live = append(live, j)
	}
	if len(live) == 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var waiting atomic.Int32
	waiting.Store(int32(len(live)))
	var items []I
	for _, j := range live {
		stop := context.AfterFunc(j.ctx, func() {
			if waiting.Add(-1) == 0 {
				cancel()
			}
		})
		defer stop()
		items = append(items, j.items...)
	}
	if b.observe != nil {
		b.observe(len(items))
	}
	res, err := b.safeRun(ctx, items)
	off := 0
	for _, j := range live {
		if err != nil {
			j.err = err
		} else {
			j.res = res[off : off+len(j.items)]
		}
		off += len(j.items)
		close(j.done)
	}
}
