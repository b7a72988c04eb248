package kernel

import (
	"sync"
	"unsafe"
)

// microKernel computes C[0:mr, 0:nr] = beta·C + A·B for a packed mr×k panel
// of A (element (i,p) at a[p*mr+i]) and a packed k×nr panel of B (element
// (p,j) at b[p*nr+j]), where nr is the kernel's full tile width. Each
// element is one chain of multiply-adds in depth order that starts from
// beta·C (C itself when beta is 1, zero without reading C when beta is
// zero), so a product cut into depth slices, each slice continuing from
// the last one's C with beta = 1, rounds exactly as an uncut one: the
// result of an element depends on neither the blocking nor the tile nor
// the number of rows of C (see "Batch invariance" in
// docs/architecture.md). A wide kernel (gemmImpl.wide) does the same for
// q consecutive panels of B, k·nr elements apart, into q·nr columns of C.
type microKernel[T Float] func(k int, a, b, c *T, ldc int, beta T)

// gemmImpl describes one GEMM implementation: the micro-kernels by row
// count and the cache-blocking parameters tuned for them.
type gemmImpl[T Float] struct {
	name    string
	mr, nr  int              // micro-tile shape
	kernels []microKernel[T] // kernels[i] handles i rows (1 ≤ i ≤ mr)
	wide    []microKernel[T] // wide[i] handles i rows and wideQ[i] panels, or is absent
	wideQ   []int
	fma     bool // the kernels fuse multiply-adds (gemvT matches them)
	kc      int  // maximum depth of a packed block
	kcSmall int  // the same when C has fewer than 2·mc rows (0: kc)
	mc      int  // rows of a packed A block (mc×kc stays in L2), a multiple of mr
	nc      int  // columns of a packed B block (kc×nc stays in L3), a multiple of nr
}

// gemmBuf holds the packing buffers of one task; they are pooled so that
// steady-state calls do not allocate. c is a part's private C when a
// product is split along its depth.
type gemmBuf[T Float] struct {
	a, b, tile, c []T
}

var (
	bufPool32 sync.Pool // *gemmBuf[float32]
	bufPool64 sync.Pool // *gemmBuf[float64]
)

func getBuf[T Float]() *gemmBuf[T] {
	var zero T
	var v any
	if unsafe.Sizeof(zero) == 4 {
		v = bufPool32.Get()
	} else {
		v = bufPool64.Get()
	}
	if v == nil {
		return new(gemmBuf[T])
	}
	return v.(*gemmBuf[T])
}

func putBuf[T Float](b *gemmBuf[T]) {
	var zero T
	if unsafe.Sizeof(zero) == 4 {
		bufPool32.Put(b)
	} else {
		bufPool64.Put(b)
	}
}

func grow[T Float](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// gemmArgs is one GEMM call; tasks of a parallel call share it.
type gemmArgs[T Float] struct {
	impl           *gemmImpl[T]
	transA, transB bool
	m, n, k        int
	alpha          T
	a              []T
	lda            int
	b              []T
	ldb            int
	beta           T
	c              []T
	ldc            int
	pb             *PackedB[T] // op(B) packed in advance, or nil
	bias           []T         // n values written into every row of C before its first product (beta is then 0), or nil
	splitK         bool        // the product may be split along its depth across threads (not batch-invariant)
}

// scaleC computes C = beta·C over an m×n block without reading C when beta
// is zero.
func scaleC[T Float](m, n int, beta T, c []T, ldc int) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		ci := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(ci)
			continue
		}
		for j := range ci {
			ci[j] *= beta
		}
	}
}

// block runs the blocked algorithm on the sub-block rows [i0,i1), columns
// [j0,j1) of C. Loop order (outer to inner): columns in steps of nc, depth
// in steps of kc (pack B), rows in steps of mc (pack A), then micro-panels
// of B and A.
func (g *gemmArgs[T]) block(i0, i1, j0, j1 int, buf *gemmBuf[T]) {
	im := g.impl
	mr, nr := im.mr, im.nr
	k := g.k
	buf.tile = grow(buf.tile, mr*nr)
	// Cut the depth into equal slices of at most kcMax (rounded up to a
	// multiple of 8) rather than full slices and a short remainder.
	kcMax := im.kc
	if g.m < 2*im.mc && im.kcSmall > 0 {
		// Few rows: B is packed for little reuse, and shallower slices
		// keep the packed panels closer to the core.
		kcMax = im.kcSmall
	}
	kcStep := depthStep(k, kcMax)
	if g.pb != nil {
		g.blockPacked(i0, i1, j0, j1, buf)
		return
	}
	ncMax := im.nc
	if g.m < im.mr {
		// A few rows use each packed panel of B only once or twice: pack
		// narrow blocks that stay in L1 and L2 between packing and use,
		// so that B crosses the memory bus once.
		ncMax = min(ncMax, ncFew*nr)
	}
	for jc := j0; jc < j1; jc += ncMax {
		nc := min(ncMax, j1-jc)
		ncPad := (nc + nr - 1) / nr * nr
		for pc := 0; pc < k; pc += kcStep {
			kc := min(kcStep, k-pc)
			buf.b = grow(buf.b, kc*ncPad)
			packB(buf.b, g.transB, g.b, g.ldb, pc, kc, jc, nc, nr)
			g.rows(i0, i1, jc, nc, pc, kc, buf)
		}
	}
}

// ncFew is the number of panels of B packed at a time for products with
// fewer rows than a micro-tile (the one-row products of batch-1
// inference among them).
const ncFew = 8

// depthStep cuts a depth k into equal slices of at most kcMax, rounded up
// to a multiple of 8, rather than full slices and a short remainder.
func depthStep(k, kcMax int) int {
	slices := (k + kcMax - 1) / kcMax
	return ((k+slices-1)/slices + 7) &^ 7
}

// blockPacked is block with op(B) packed in advance: each depth slice of
// g.pb holds all columns, so only A is packed here.
func (g *gemmArgs[T]) blockPacked(i0, i1, j0, j1 int, buf *gemmBuf[T]) {
	pb := g.pb
	own := buf.b
	for s, pc := 0, 0; pc < g.k; s, pc = s+1, pc+pb.kcStep {
		kc := min(pb.kcStep, g.k-pc)
		buf.b = pb.slices[s][j0*kc:]
		g.rows(i0, i1, j0, j1-j0, pc, kc, buf)
	}
	buf.b = own
}

// rows multiplies rows [i0,i1) of op(A) at depths [pc,pc+kc) by the kc×nc
// block of op(B) packed in buf.b (columns jc…), packing A in steps of mc
// rows; the first depth slice scales C by beta, the others add to it.
func (g *gemmArgs[T]) rows(i0, i1, jc, nc, pc, kc int, buf *gemmBuf[T]) {
	im := g.impl
	beta := g.beta
	if pc > 0 {
		beta = 1
	}
	for ic := i0; ic < i1; ic += im.mc {
		mc := min(im.mc, i1-ic)
		buf.a = grow(buf.a, kc*mc)
		packA(buf.a, g.transA, g.a, g.lda, ic, mc, pc, kc, im.mr, g.alpha)
		g.macro(buf, ic, mc, jc, nc, kc, beta, pc == 0)
	}
}

// macro multiplies the packed mc×kc block of A by the packed kc×nc block of
// B into C[ic:ic+mc, jc:jc+nc]. first marks the first depth slice, before
// which g.bias (if any) goes into C.
func (g *gemmArgs[T]) macro(buf *gemmBuf[T], ic, mc, jc, nc, kc int, beta T, first bool) {
	im := g.impl
	mr, nr := im.mr, im.nr
	full := mc / mr * mr // rows in whole micro-tiles
	for jr := 0; jr < nc; jr += nr {
		for ir := 0; ir < full; ir += mr {
			g.tile(buf, ic, ir, mr, jc, jr, min(nr, nc-jr), kc, beta, first, im.kernels[mr], 1)
		}
	}
	if full == mc {
		return
	}
	// The short last row panel: several panels at a time where a wide
	// kernel exists.
	h := mc - full
	var wide microKernel[T]
	q := 1
	if h < len(im.wide) && im.wide[h] != nil {
		wide, q = im.wide[h], im.wideQ[h]
	}
	for jr := 0; jr < nc; {
		if wide != nil && jr+q*nr <= nc {
			g.tile(buf, ic, full, h, jc, jr, q*nr, kc, beta, first, wide, q)
			jr += q * nr
			continue
		}
		g.tile(buf, ic, full, h, jc, jr, min(nr, nc-jr), kc, beta, first, im.kernels[h], 1)
		jr += nr
	}
}

// tile runs kern (h rows, q panels) on rows ir… of the packed A block and
// the panels from column jr of the packed B block, into the w columns of C
// at (ic+ir, jc+jr); w is q·nr except at the right edge (q = 1).
func (g *gemmArgs[T]) tile(buf *gemmBuf[T], ic, ir, h, jc, jr, w, kc int, beta T, first bool, kern microKernel[T], q int) {
	nr := g.impl.nr
	ldc, c := g.ldc, g.c
	ap := &buf.a[ir*kc]
	bp := &buf.b[jr*kc]
	off := (ic+ir)*ldc + jc + jr
	if first && g.bias != nil {
		// C starts as the bias, written just before the tile's product
		// reads it back from cache.
		br := g.bias[jc+jr : jc+jr+w]
		for i := 0; i < h; i++ {
			copy(c[off+i*ldc:off+i*ldc+w], br)
		}
		beta = 1
	}
	if w == q*nr {
		kern(kc, ap, bp, &c[off], ldc, beta)
		return
	}
	// Right edge: run the full-width kernel on a scratch copy of the w
	// valid columns and copy them back.
	tile := buf.tile
	if beta != 0 {
		loadTile(tile, nr, c[off:], ldc, h, w)
	}
	kern(kc, ap, bp, &tile[0], nr, beta)
	storeTile(c[off:], ldc, tile, nr, h, w)
}

// packA copies the mc×kc block of op(A) at (ic, pc), scaled by alpha, into
// dst as row panels of mr rows: panel r starts at r*mr*kc and stores element
// (i,p) at p*h+i, where h is the panel's row count (mr except at the edge).
// Float32 goes to the AVX-512 kernels when the CPU has them (see packA32);
// either way the packed values are exactly alpha·op(A) (with alpha = 1,
// the source bits).
func packA[T Float](dst []T, trans bool, a []T, lda, ic, mc, pc, kc, mr int, alpha T) {
	if is32[T]() && packA32(as32(dst), trans, as32(a), lda, ic, mc, pc, kc, mr, float32(alpha)) {
		return
	}
	packAGo(dst, trans, a, lda, ic, mc, pc, kc, mr, alpha)
}

// packAGo is the portable packA.
func packAGo[T Float](dst []T, trans bool, a []T, lda, ic, mc, pc, kc, mr int, alpha T) {
	for ir := 0; ir < mc; ir += mr {
		h := min(mr, mc-ir)
		d := dst[ir*kc : ir*kc+h*kc]
		if trans {
			// op(A)(i,p) = a[p*lda+i]: rows of the panel are contiguous.
			for p := 0; p < kc; p++ {
				src := a[(pc+p)*lda+ic+ir:][:h]
				dp := d[p*h : p*h+h]
				if alpha == 1 {
					copy(dp, src)
				} else {
					for i, v := range src {
						dp[i] = alpha * v
					}
				}
			}
			continue
		}
		// op(A)(i,p) = a[i*lda+p]: scatter each source row with stride h.
		for i := 0; i < h; i++ {
			src := a[(ic+ir+i)*lda+pc:][:kc]
			if alpha == 1 {
				for p, v := range src {
					d[p*h+i] = v
				}
			} else {
				for p, v := range src {
					d[p*h+i] = alpha * v
				}
			}
		}
	}
}

// packB copies the kc×nc block of op(B) at (pc, jc) into dst as column
// panels of nr columns: panel j starts at j*kc (j a multiple of nr) and
// stores element (p,j') at p*nr+j'. Columns past nc are zero.
func packB[T Float](dst []T, trans bool, b []T, ldb, pc, kc, jc, nc, nr int) {
	for jr := 0; jr < nc; jr += nr {
		w := min(nr, nc-jr)
		d := dst[jr*kc : jr*kc+nr*kc]
		if !trans {
			// op(B)(p,j) = b[p*ldb+j]: panel rows are contiguous.
			if w == nr && is32[T]() && packBN(as32(d), as32(b[pc*ldb+jc+jr:]), ldb, kc, nr) {
				continue
			}
			for p := 0; p < kc; p++ {
				dp := d[p*nr : p*nr+nr]
				copy(dp, b[(pc+p)*ldb+jc+jr:][:w])
				if w < nr {
					clear(dp[w:])
				}
			}
			continue
		}
		// op(B)(p,j) = b[j*ldb+p]: transpose, a few source rows at a time so
		// the reads stay sequential.
		if w < nr {
			clear(d)
		}
		p0 := 0
		if w == nr && is32[T]() {
			// Whole kc8×nr blocks through the SIMD transpose.
			p0 = packBT(as32(d), as32(b[(jc+jr)*ldb+pc:]), ldb, kc, nr)
			if p0 == kc {
				continue
			}
		}
		j := 0
		for ; j+4 <= w; j += 4 {
			s0 := b[(jc+jr+j)*ldb+pc:][:kc]
			s1 := b[(jc+jr+j+1)*ldb+pc:][:kc]
			s2 := b[(jc+jr+j+2)*ldb+pc:][:kc]
			s3 := b[(jc+jr+j+3)*ldb+pc:][:kc]
			for p := p0; p < kc; p++ {
				dp := d[p*nr+j : p*nr+j+4]
				dp[0], dp[1], dp[2], dp[3] = s0[p], s1[p], s2[p], s3[p]
			}
		}
		for ; j < w; j++ {
			src := b[(jc+jr+j)*ldb+pc:][:kc]
			for p := p0; p < kc; p++ {
				d[p*nr+j] = src[p]
			}
		}
	}
}

// Size thresholds, measured on an AMD EPYC (Zen 4) core; see
// docs/PERFORMANCE.md.
const (
	// parallelFlops is the 2·m·n·k below which a product stays on the
	// calling goroutine.
	parallelFlops = 3 << 19
)

// gemmTask is a parallel GEMM: tasks are the parts of a split of C, or of
// the depth.
type gemmTask[T Float] struct {
	g          gemmArgs[T]
	splitN     bool // split the columns (else the rows)
	splitK     bool // split the depth: part i > 0 sums into parts[i-1]
	step, size int  // part width and the extent being split
	parts      []*gemmBuf[T]
}

func (t *gemmTask[T]) task(i int) {
	lo := i * t.step
	hi := min(lo+t.step, t.size)
	buf := getBuf[T]()
	switch {
	case t.splitK:
		t.depthPart(i, lo, hi, buf)
		return // the caller reduces and releases the buffers
	case t.splitN:
		t.g.block(0, t.g.m, lo, hi, buf)
	default:
		t.g.block(lo, hi, 0, t.g.n, buf)
	}
	putBuf(buf)
}

// depthPart computes the product over depths [lo, hi): part 0 into C (with
// beta), the others into a private m×n C in buf, kept in t.parts.
func (t *gemmTask[T]) depthPart(i, lo, hi int, buf *gemmBuf[T]) {
	g := t.g
	g.k = hi - lo
	if g.transA { // A is k×m
		g.a = g.a[lo*g.lda:]
	} else {
		g.a = g.a[lo:]
	}
	if g.transB { // B is n×k
		g.b = g.b[lo:]
	} else {
		g.b = g.b[lo*g.ldb:]
	}
	if i > 0 { // part 0 carries beta·C and the bias, if any
		buf.c = grow(buf.c, g.m*g.n)
		g.c, g.ldc, g.beta, g.bias = buf.c, g.n, 0, nil
	}
	g.block(0, g.m, 0, g.n, buf)
	t.parts[i] = buf
}

// minDepthPart is the least depth of a part when a product is split along
// its depth.
const minDepthPart = 256

// splitDepth reports whether a product whose C is split across threads the
// way run would (splitN or not) had better be split along its depth: when
// the depth is more than twice the split extent, each part would repack
// nearly the whole shared operand (k×n of B when the rows are split, m×k
// of A when the columns are), which costs more than summing the parts'
// m×n results. The output layer's gradient of its input (400 rows, 200
// columns, depth 10,000) is the case in point.
func splitDepth(m, n, k int, splitN bool) bool {
	ext := m
	if splitN {
		ext = n
	}
	return k > 2*ext && k >= 2*minDepthPart
}

// gemmRun is the blocked, packed GEMM on up to threads threads (≤ 0: the
// pool's default); splitK allows splitting a deep product along its depth.
// Every shape, one-row and tiny products included, takes the same path
// and the same accumulation order (see microKernel). The shapes have been
// checked.
func gemmRun[T Float](im *gemmImpl[T], threads int, splitK, transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if alpha == 0 || k == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	if threads <= 0 {
		threads = Threads()
	}
	g := gemmArgs[T]{im, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, nil, nil, splitK}
	g.run(threads)
}

// gemmBiasRun is gemmRun for C = alpha·op(A)·op(B) + bias, the bias added
// to every row. The blocked path writes the bias into each tile of C just
// before the tile's first product, instead of in a pass of its own.
func gemmBiasRun[T Float](im *gemmImpl[T], transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, bias []T, c []T, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if alpha == 0 || k == 0 {
		for i := 0; i < m; i++ {
			copy(c[i*ldc:i*ldc+n], bias)
		}
		return
	}
	g := gemmArgs[T]{im, transA, transB, m, n, k, alpha, a, lda, b, ldb, 0, c, ldc, nil, bias, false}
	g.run(Threads())
}

// run executes g on up to threads threads, splitting C when it is large
// enough.
func (g gemmArgs[T]) run(threads int) {
	if g.m == 1 && g.gemvT(threads) {
		return
	}
	im, m, n, k := g.impl, g.m, g.n, g.k
	parts, splitN := 1, false
	if threads > 1 && 2*float64(m)*float64(n)*float64(k) >= parallelFlops {
		mb := (m + im.mr - 1) / im.mr
		nb := (n + im.nr - 1) / im.nr
		// Split the longer side of C, in whole micro-tiles, so each part
		// packs its own share of one operand and the duplicated packing of
		// the other stays small.
		switch {
		case nb >= mb || mb < 2:
			splitN, parts = true, min(threads, nb)
		default:
			parts = min(threads, mb)
		}
	}
	if parts <= 1 {
		buf := getBuf[T]()
		g.block(0, m, 0, n, buf)
		putBuf(buf)
		return
	}
	if g.splitK && g.pb == nil && splitDepth(m, n, k, splitN) {
		g.runDepthSplit(min(threads, k/minDepthPart))
		return
	}
	t := getGemmTask[T]()
	*t = gemmTask[T]{g: g, splitN: splitN}
	unit := im.mr
	t.size = m
	if splitN {
		unit, t.size = im.nr, n
	}
	units := (t.size + unit - 1) / unit
	t.step = (units + parts - 1) / parts * unit
	parallel((t.size+t.step-1)/t.step, threads, t)
	// No goroutine touches t once parallel has returned (a late worker
	// finds no task left to claim), so it can be reused.
	*t = gemmTask[T]{}
	putGemmTask(t)
}

// runDepthSplit runs g as parts of equal depth (multiples of 8) on up to
// parts threads and adds the parts' results into C in order.
func (g gemmArgs[T]) runDepthSplit(parts int) {
	t := getGemmTask[T]()
	step := ((g.k+parts-1)/parts + 7) &^ 7
	n := (g.k + step - 1) / step
	*t = gemmTask[T]{g: g, splitK: true, step: step, size: g.k, parts: t.parts[:0]}
	for range n {
		t.parts = append(t.parts, nil)
	}
	parallel(n, n, t)
	for i, buf := range t.parts {
		if i > 0 {
			for r := 0; r < g.m; r++ {
				Axpy(1, buf.c[r*g.n:(r+1)*g.n], g.c[r*g.ldc:r*g.ldc+g.n])
			}
		}
		putBuf(buf)
		t.parts[i] = nil
	}
	parts0 := t.parts[:0]
	*t = gemmTask[T]{parts: parts0}
	putGemmTask(t)
}

// gemmTaskPools recycle the per-call task of parallel products, so that a
// recurrent layer's per-step products allocate nothing: index 0 holds
// *gemmTask[float32], index 1 *gemmTask[float64].
var gemmTaskPools = [2]sync.Pool{
	{New: func() any { return new(gemmTask[float32]) }},
	{New: func() any { return new(gemmTask[float64]) }},
}

func getGemmTask[T Float]() *gemmTask[T] {
	if is32[T]() {
		return gemmTaskPools[0].Get().(*gemmTask[T])
	}
	return gemmTaskPools[1].Get().(*gemmTask[T])
}

func putGemmTask[T Float](t *gemmTask[T]) {
	if is32[T]() {
		gemmTaskPools[0].Put(t)
	} else {
		gemmTaskPools[1].Put(t)
	}
}

// loadTile copies the first w columns of h rows of C at c (row stride
// ldc) into a scratch micro-tile (row stride tw), and storeTile copies
// them back: a right-edge tile narrower than the kernels' runs on the
// scratch copy with the same beta, so its elements round as in a whole
// tile. The float32 and bfloat16 products use them.
func loadTile[T Float](tile []T, tw int, c []T, ldc, h, w int) {
	for i := 0; i < h; i++ {
		copy(tile[i*tw:i*tw+w], c[i*ldc:i*ldc+w])
	}
}

// storeTile is the inverse of loadTile.
func storeTile[T Float](c []T, ldc int, tile []T, tw, h, w int) {
	for i := 0; i < h; i++ {
		copy(c[i*ldc:i*ldc+w], tile[i*tw:i*tw+w])
	}
}
