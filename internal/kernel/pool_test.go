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
	var wg sync.WaitGroup
	for g := 0; g < 3; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ParallelFor(4, 1, func(lo, hi int) {
				for i := lo; i < hi; i++ {
					runGemmCase(t, gemmCase{false, true, 130, 140, 150, 0, 1, 0}, uint64(10*g+i), Gemm[float32])
				}
			})
		}()
	}
	wg.Wait()
}
