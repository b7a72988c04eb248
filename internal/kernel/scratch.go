package kernel

import (
	"math/bits"
	"sync"
)

// The scratch pool recycles float32 workspaces — of inference, of the
// training step's recurrent layers, the output layer's probabilities —
// sparing the allocator's zeroing of tens of megabytes per call. The
// buffers come back uninitialised: their users write every element before
// reading it. Buffers are kept by size class (four classes per power of
// two, so a buffer is at most 25% larger than asked for), so that a
// request is served by a buffer of about its size and small buffers do not
// crowd out large ones; workspaces under MinScratch values are simply
// allocated.

// MinScratch is the smallest workspace, in values, that the scratch pool
// recycles; GetScratch allocates smaller ones afresh.
const MinScratch = 1 << 12

var scratchPools [4 * 48]sync.Pool

// ScratchClass returns the class of the buffers that can hold n ≥
// MinScratch values, and their capacity: m·2^e with m in 4…7.
func ScratchClass(n int) (class, capacity int) {
	e := bits.Len(uint(n)) - 3
	m := (n + 1<<e - 1) >> e // ⌈n/2^e⌉ in 4…8
	if m == 8 {
		m, e = 4, e+1
	}
	return 4*e + m - 4, m << e
}

// GetScratch returns a float32 buffer of n values with arbitrary contents,
// reusing a pooled buffer of its size class when there is one. It is safe
// for concurrent use.
func GetScratch(n int) []float32 {
	if n < MinScratch {
		return make([]float32, n)
	}
	c, capacity := ScratchClass(n)
	if c >= len(scratchPools) {
		return make([]float32, n)
	}
	if b, ok := scratchPools[c].Get().(*[]float32); ok {
		return (*b)[:n]
	}
	return make([]float32, n, capacity)
}

// PutScratch gives b to the scratch pool, filed under the largest class
// whose capacity it has (buffers under MinScratch are dropped). The caller
// must not use b afterwards.
func PutScratch(b []float32) {
	if cap(b) < MinScratch {
		return
	}
	if c := FileClass(cap(b)); c < len(scratchPools) {
		b = b[:0]
		scratchPools[c].Put(&b)
	}
}

// FileClass returns the largest class whose capacity is at most n ≥
// MinScratch: the class PutScratch files a buffer of capacity n under.
func FileClass(n int) int {
	e := bits.Len(uint(n)) - 3
	m := n >> e // ⌊n/2^e⌋ in 4…7
	return 4*e + m - 4
}
