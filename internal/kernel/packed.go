package kernel

import (
	"fmt"
	"sync"
)

// PackedB is op(B), a k×n matrix, packed once into the micro-kernels'
// panel layout, so that repeated products op(A)·op(B) with different A skip
// packing B: the recurrent weights W_hh of an RNN are multiplied at every
// time step (Appleyard et al. 2016 keep them resident for the same
// reason). It is immutable after PackB and safe for concurrent use. The
// source slice is also kept, for the shapes that do not use packing, so it
// must not change while the PackedB is in use.
type PackedB[T Float] struct {
	impl   *gemmImpl[T]
	transB bool
	k, n   int
	b      []T
	ldb    int
	kcStep int
	slices [][]T // per depth slice: kc × n rounded up to the tile width
}

// PackB packs op(B) (k×n; B is n×k with transB) for products whose A has
// about rows rows (this picks the depth blocking, which does not change
// the results).
func PackB[T Float](transB bool, k, n int, b []T, ldb int, rows int) *PackedB[T] {
	checkGemm(false, transB, 1, n, k, k, max(k, 1), len(b), ldb, n, max(n, 1))
	var im *gemmImpl[T]
	if is32[T]() {
		im = any(sgemmImpl).(*gemmImpl[T])
	} else {
		im = any(goImpl64).(*gemmImpl[T])
	}
	p := &PackedB[T]{impl: im, transB: transB, k: k, n: n, b: b, ldb: ldb}
	if k == 0 || n == 0 {
		return p
	}
	kcMax := im.kc
	if rows < 2*im.mc && im.kcSmall > 0 {
		kcMax = im.kcSmall
	}
	p.kcStep = depthStep(k, kcMax)
	nr := im.nr
	panels := (n + nr - 1) / nr
	for pc := 0; pc < k; pc += p.kcStep {
		kc := min(p.kcStep, k-pc)
		d := getPackBuf[T](kc * panels * nr)
		// The panels are independent: large packings (a recurrent layer's
		// weights, packed on every call) are split across the pool.
		ParallelFor(panels, max(1, packGrain/(kc*nr)), func(lo, hi int) {
			jc := lo * nr
			packB(d[jc*kc:], transB, b, ldb, pc, kc, jc, min(n, hi*nr)-jc, nr)
		})
		p.slices = append(p.slices, d)
	}
	return p
}

// Release gives the packed panels back for reuse by later packings (every
// element of a packing is written before it is read); p must not be used
// afterwards (a product with it panics). A recurrent layer packs its
// weights on every call and releases them when it is done, which spares
// the allocator's zeroing of the panels.
func (p *PackedB[T]) Release() {
	for _, d := range p.slices {
		putPackBuf(d)
	}
	p.slices = nil
}

// packGrain is the number of elements below which PackB packs on one
// thread.
const packGrain = 1 << 15

// packBufs recycle packed panels: index 0 holds *[]float32, 1 *[]float64.
var packBufs [2]sync.Pool

func getPackBuf[T Float](n int) []T {
	i := 1
	if is32[T]() {
		i = 0
	}
	if v, ok := packBufs[i].Get().(*[]T); ok && cap(*v) >= n {
		return (*v)[:n]
	}
	return make([]T, n) // a smaller buffer from the pool is dropped
}

func putPackBuf[T Float](d []T) {
	i := 1
	if is32[T]() {
		i = 0
	}
	packBufs[i].Put(&d)
}

// GemmPacked computes C = alpha·op(A)·op(B) + beta·C with op(B) packed in
// advance; op(A) is m×k for the k and n of pb, and C is m×n. It matches
// Gemm(transA, pb's transB, m, n, k, alpha, a, lda, B, ldb, beta, c, ldc)
// bit for bit, on any number of threads and rows (one-row products
// included: they run the one-row micro-kernels on the packed panels).
func GemmPacked[T Float](transA bool, m int, alpha T, a []T, lda int, pb *PackedB[T], beta T, c []T, ldc int) {
	gemmPacked(0, transA, m, alpha, a, lda, pb, beta, c, ldc)
}

// GemmPackedThreads is GemmPacked on at most threads threads (the caller
// and threads−1 pool workers); threads ≤ 0 means the default, Threads().
// Callers that already run in parallel, such as the row groups of a
// recurrent layer, use 1.
func GemmPackedThreads[T Float](threads int, transA bool, m int, alpha T, a []T, lda int, pb *PackedB[T], beta T, c []T, ldc int) {
	gemmPacked(threads, transA, m, alpha, a, lda, pb, beta, c, ldc)
}

// gemmPacked is GemmPacked on up to threads threads (≤ 0: the pool's
// default).
func gemmPacked[T Float](threads int, transA bool, m int, alpha T, a []T, lda int, pb *PackedB[T], beta T, c []T, ldc int) {
	k, n := pb.k, pb.n
	checkGemm(transA, pb.transB, m, n, k, len(a), lda, len(pb.b), pb.ldb, len(c), ldc)
	if m == 0 || n == 0 {
		return
	}
	if alpha == 0 || k == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	if len(pb.slices) == 0 {
		panic(fmt.Sprintf("kernel: GemmPacked with an unpacked %d×%d B", k, n))
	}
	g := gemmArgs[T]{pb.impl, transA, pb.transB, m, n, k, alpha, a, lda, pb.b, pb.ldb, beta, c, ldc, pb, nil, false}
	if threads <= 0 {
		threads = Threads()
	}
	g.run(threads)
}
