package kernel

// gemvTask runs groups of 16 columns of a one-row product against a
// transposed, unpacked B (see gemvT).
type gemvTask struct {
	c, x, w []float32
	ldw, k  int
	step    int // groups per task
	groups  int
}

func (t *gemvTask) task(i int) {
	lo := i * t.step
	t.cols(lo, min(lo+t.step, t.groups))
}

// cols computes the column groups [lo, hi).
func (t *gemvTask) cols(lo, hi int) {
	if lo < hi {
		gemvT32(t.c[16*lo:16*hi], t.x, t.w[16*lo*t.ldw:], t.ldw, t.k)
	}
}

// gemvT runs g, a one-row product x·Bᵀ against an unpacked B stored n×k
// (the PyTorch weight layout), without packing B when the CPU has the
// kernel for it, and reports whether it did. Packing B for one row of A
// would cost more than the product. The kernel transposes 16×16 blocks
// of B in registers and runs each column's chain of FMAs in depth order
// from beta·C (or the bias): the order of the micro-kernels, so the bits
// are the same as on the packed path, which runs the last n mod 16
// columns.
func (g *gemmArgs[T]) gemvT(threads int) bool {
	if !hasGemvT || !is32[T]() || !g.impl.fma || g.m != 1 || !g.transB || g.pb != nil || g.n < 16 {
		return false
	}
	n, k := g.n, g.k
	buf := getBuf[T]()
	x := g.a[:k]
	if g.transA || g.alpha != 1 {
		// op(A)'s row, scaled as packA scales it.
		buf.a = grow(buf.a, k)
		for p := range buf.a {
			v := g.a[p]
			if g.transA {
				v = g.a[p*g.lda]
			}
			buf.a[p] = g.alpha * v
		}
		x = buf.a
	}
	beta := g.beta
	if g.bias != nil {
		copy(g.c[:n], g.bias)
		beta = 1
	}
	scaleC(1, n, beta, g.c, n)
	n16 := n &^ 15
	t := &gemvTask{c: as32(g.c), x: as32(x), w: as32(g.b), ldw: g.ldb, k: k, groups: n16 / 16}
	parts := 1
	if threads > 1 && 2*n*k >= parallelFlops {
		parts = min(threads, n16/64)
	}
	if parts <= 1 {
		t.cols(0, t.groups)
	} else {
		t.step = ((t.groups+parts-1)/parts + 1) &^ 1 // whole pairs of groups
		parallel((t.groups+t.step-1)/t.step, threads, t)
	}
	if n16 < n {
		// The last columns on the packed path, which rounds the same.
		rest := *g
		rest.beta, rest.bias = 1, nil
		rest.block(0, 1, n16, n, buf)
	}
	putBuf(buf)
	return true
}
