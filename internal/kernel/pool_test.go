package kernel

import (
	"sync"
	"sync/atomic"
	"testing"
)

func TestParallelFor(t *testing.T) {
	for _, tc := range []struct{ n, grain int }{{0, 1}, {1, 1}, {5, 1}, {100, 7}, {1000, 1000}, {1001, 500}, {64, 0}} {
		seen := make([]int32, tc.n)
		var calls atomic.Int32
		ParallelFor(tc.n, tc.grain, func(lo, hi int) {
			calls.Add(1)
			if lo >= hi || (tc.grain > 0 && hi-lo < tc.grain && hi != tc.n) {
				t.Errorf("n=%d grain=%d: range [%d,%d)", tc.n, tc.grain, lo, hi)
			}
			for i := lo; i < hi; i++ {
				atomic.AddInt32(&seen[i], 1)
			}
		})
		for i, v := range seen {
			if v != 1 {
				t.Fatalf("n=%d grain=%d: index %d covered %d times", tc.n, tc.grain, i, v)
			}
		}
		if tc.n > 0 && calls.Load() > int32(Threads()) {
			t.Errorf("n=%d: %d calls for %d threads", tc.n, calls.Load(), Threads())
		}
	}
}

// TestPoolNested runs parallel products inside parallel loops from several
// goroutines: nested use of the pool must neither deadlock nor mix up jobs.
func TestPoolNested(t *testing.T) {
	concurrently(3, func(g int) {
		ParallelFor(4, 1, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				runGemmCase(t, gemmCase{false, true, 130, 140, 150, 0, 1, 0}, uint64(10*g+i), Gemm[float32])
			}
		})
	})
}

// concurrently runs f(g) for g = 0, …, n−1 on n goroutines and waits for
// them all.
func concurrently(n int, f func(g int)) {
	var wg sync.WaitGroup
	for g := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(g)
		}()
	}
	wg.Wait()
}

// TestParallelForPanic checks that a panic in a task, on a worker or on the
// caller, reaches the caller's goroutine with its original value, and that
// the pool still works afterwards (also from nested calls).
func TestParallelForPanic(t *testing.T) {
	type boom struct{ lo int }
	for _, tc := range []struct {
		name   string
		n      int
		nested bool
	}{{"flat", 1000, false}, {"nested", 64, true}, {"serial", 1, false}} {
		t.Run(tc.name, func(t *testing.T) {
			var got any
			func() {
				defer func() { got = recover() }()
				ParallelFor(tc.n, 1, func(lo, hi int) {
					if tc.nested {
						ParallelFor(100, 1, func(lo2, _ int) {
							if lo2 > 0 && lo > 0 {
								panic(boom{lo})
							}
						})
						return
					}
					if hi == tc.n {
						panic(boom{lo})
					}
				})
			}()
			b, ok := got.(boom)
			if !ok {
				t.Fatalf("recovered %v (%T), want the task's boom value", got, got)
			}
			if tc.n > 1 && !tc.nested && b.lo == 0 && Threads() > 1 {
				t.Errorf("panicked range starts at %d; want the last range", b.lo)
			}
			var sum atomic.Int64
			ParallelFor(1000, 1, func(lo, hi int) { sum.Add(int64(hi - lo)) })
			if sum.Load() != 1000 {
				t.Fatalf("after the panic the pool covered %d of 1000 indices", sum.Load())
			}
		})
	}
}

// TestParallelForPanicConcurrent panics in the tasks of calls from several
// goroutines at once: each caller gets its own panic.
func TestParallelForPanicConcurrent(t *testing.T) {
	concurrently(4, func(g int) {
		for range 50 {
			func() {
				defer func() {
					if v := recover(); v != g {
						t.Errorf("goroutine %d recovered %v", g, v)
					}
				}()
				ParallelFor(64, 1, func(lo, hi int) {
					if lo == 0 {
						panic(g)
					}
				})
			}()
		}
	})
}
