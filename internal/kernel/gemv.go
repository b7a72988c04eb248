package kernel

// The matrix–vector case m = 1 (one row of C, e.g. an LSTM step with batch
// size 1) is memory-bound: packing B would triple its memory traffic, so
// it runs straight off B with dot products (B transposed) or axpys.

// gemvTask computes columns [lo, hi) of a one-row product; x is row 0 of
// op(A), already gathered.
type gemvTask[T Float] struct {
	transB bool
	n, k   int
	alpha  T
	x      []T
	b      []T
	ldb    int
	beta   T
	c      []T
	step   int
}

func (t *gemvTask[T]) task(i int) {
	lo := i * t.step
	t.cols(lo, min(lo+t.step, t.n))
}

func (t *gemvTask[T]) cols(lo, hi int) {
	c, b, k, ldb := t.c, t.b, t.k, t.ldb
	put := func(j int, s T) {
		v := t.alpha * s
		if t.beta != 0 {
			v += t.beta * c[j]
		}
		c[j] = v
	}
	if t.transB {
		j := lo
		if is32[T]() {
			var out [4]float32
			for ; j+4 <= hi && dot4(as32(t.x), as32(b[j*ldb:]), ldb, &out); j += 4 {
				for r, s := range out {
					put(j+r, T(s))
				}
			}
		}
		for ; j < hi; j++ {
			put(j, Dot(t.x, b[j*ldb:j*ldb+k]))
		}
		return
	}
	cs := c[lo:hi]
	scaleC(1, hi-lo, t.beta, cs, hi-lo)
	for p, v := range t.x {
		Axpy(t.alpha*v, b[p*ldb+lo:p*ldb+hi], cs)
	}
}

// gemv computes the one-row product C = alpha·op(A)·op(B) + beta·C with
// m = 1, k > 0 and alpha ≠ 0.
func gemv[T Float](threads int, transA, transB bool, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T) {
	t := &gemvTask[T]{transB: transB, n: n, k: k, alpha: alpha, x: a[:k], b: b, ldb: ldb, beta: beta, c: c}
	var buf *gemmBuf[T]
	if transA {
		buf = getBuf[T]()
		buf.a = grow(buf.a, k)
		for p := range buf.a {
			buf.a[p] = a[p*lda]
		}
		t.x = buf.a
	}
	parts := 1
	if threads > 1 && 2*n*k >= parallelFlops {
		parts = min(threads, n/64)
	}
	if parts <= 1 {
		t.cols(0, n)
	} else {
		t.step = (n + parts - 1) / parts
		t.step = (t.step + 15) &^ 15
		parallel((n+t.step-1)/t.step, threads, t)
	}
	if buf != nil {
		putBuf(buf)
	}
}

// SumRowsInto adds the rows of the rows×n matrix g into out, splitting
// the columns across the worker pool when g is large (each column is
// still summed in row order, whatever the number of threads).
func SumRowsInto[T Float](out, g []T, rows, n int) {
	grain := max(16, (1<<16)/max(rows, 1))
	ParallelFor(n, grain, func(lo, hi int) {
		for r := 0; r < rows; r++ {
			Axpy(1, g[r*n+lo:r*n+hi], out[lo:hi])
		}
	})
}
