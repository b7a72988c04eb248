package kernel

import (
	"fmt"
	"math"
	"sync"
	"unsafe"
)

// The bfloat16 product (PackBF16, GemmPackedBF16) is described in the
// package documentation, under "bfloat16 products".

// RoundBF16 returns x rounded to bfloat16, as the float32 it stands for:
// the value GemmPackedBF16 uses in place of x. Rounding is to nearest with
// ties to even on the 16 dropped bits (a finite x may round to ±Inf);
// ±Inf stays ±Inf; NaN stays NaN (quieted, sign and top payload bits
// kept); and subnormal x (|x| < 2⁻¹²⁶) becomes a zero of the same sign, as
// VCVTNE2PS2BF16 does and because VDPBF16PS treats subnormal inputs as zero
// anyway.
func RoundBF16(x float32) float32 {
	return math.Float32frombits(uint32(toBF16(x)) << 16)
}

// toBF16 returns the bits of x rounded to bf16 (see RoundBF16); it is
// exactly VCVTNE2PS2BF16's conversion.
func toBF16(x float32) uint16 {
	b := math.Float32bits(x)
	switch {
	case b&0x7f800000 == 0: // zero or subnormal: signed zero
		return uint16(b>>16) & 0x8000
	case b&0x7fffffff > 0x7f800000: // NaN: truncate and set the quiet bit
		return uint16(b>>16) | 0x40
	}
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}

// bf16Pair packs the bf16 roundings of x (low half, the even depth) and y
// (high half, the odd depth) into one word.
func bf16Pair(x, y float32) uint32 {
	return uint32(toBF16(x)) | uint32(toBF16(y))<<16
}

// bf16Lo and bf16Hi are the float32 values of the halves of a pair.
func bf16Lo(w uint32) float32 { return math.Float32frombits(w << 16) }
func bf16Hi(w uint32) float32 { return math.Float32frombits(w &^ 0xffff) }

// HasBF16 reports whether GemmPackedBF16 runs on AVX512_BF16 hardware. When
// it is false (another CPU, or the purego build tag) GemmPackedBF16 still
// computes the same rounded product, in portable Go, much more slowly than
// the float32 GemmPacked: callers wanting speed should use float32 then.
func HasBF16() bool { return hasBF16 }

// bf16NR is the width of the bf16 micro-tile and of the packed B panels,
// on every implementation.
const bf16NR = 32

// bf16Kernel computes C[0:h, 0:32] = beta·C + A·B for a packed panel of A
// of h rows and kp depth pairs (pair (i,q) at a[q*h+i]) and a packed panel
// of B of kp pairs and 32 columns (pair (q,j) at b[q*32+j]), h being the
// kernel's row count. As with the float32 kernels (microKernel), each
// element is one chain of dot-product steps in depth order starting from
// beta·C, so depth slices continue each other exactly; when beta is ±0, C
// is written without being read. A wide kernel (bf16Impl.wide) does the
// same over q consecutive panels, 32·kp words apart.
type bf16Kernel func(kp int, a, b *uint32, c *float32, ldc int, beta float32)

// bf16Impl is one implementation of the bf16 product: its micro-kernels
// and row blocking (the depth blocking is fixed when B is packed).
type bf16Impl struct {
	name    string
	mr      int
	kernels []bf16Kernel // kernels[h] handles h rows (1 ≤ h ≤ mr)
	wide    []bf16Kernel // wide[h] handles h rows and wideQ[h] panels, or is absent
	wideQ   []int
	mc      int // rows of a packed A block, a multiple of mr
}

// bf16KC is the largest depth slice of a PackedBF16 (a multiple of 8): a
// packed panel of B is 32·kc·2 bytes, 32 KiB at kc = 512, so it stays in
// the 48 KiB L1 while the A panels stream past it.
const bf16KC = 512

// PackedBF16 is op(B), a k×n float32 matrix, rounded to bfloat16 and
// packed once for GemmPackedBF16. It does not refer to the source after
// PackBF16 returns; it takes about half the memory of a float32 copy, is
// immutable and safe for concurrent use.
type PackedBF16 struct {
	k, n   int
	kcStep int
	slices [][]uint32 // per depth slice of kc: ⌈kc/2⌉ pairs × n rounded up to 32
}

// Dims returns the shape k×n of op(B).
func (p *PackedBF16) Dims() (k, n int) { return p.k, p.n }

// PackBF16 rounds op(B) (k×n; B is n×k when transB) to bfloat16 with
// RoundBF16 and packs it for GemmPackedBF16. B is row-major with leading
// dimension ldb.
func PackBF16(transB bool, k, n int, b []float32, ldb int) *PackedBF16 {
	checkGemm(false, transB, 1, n, k, k, max(k, 1), len(b), ldb, n, max(n, 1))
	p := &PackedBF16{k: k, n: n}
	if k == 0 || n == 0 {
		return p
	}
	p.kcStep = depthStep(k, bf16KC)
	nPad := (n + bf16NR - 1) / bf16NR * bf16NR
	for pc := 0; pc < k; pc += p.kcStep {
		kc := min(p.kcStep, k-pc)
		kp := (kc + 1) / 2
		d := make([]uint32, kp*nPad)
		// Panels are independent: split them across the pool (a language
		// model's output layer has hundreds).
		panels := nPad / bf16NR
		ParallelFor(panels, max(1, (1<<15)/max(kc*bf16NR, 1)), func(lo, hi int) {
			j0, j1 := lo*bf16NR, min(hi*bf16NR, n)
			if transB {
				packBBF16T(d[j0*kp:hi*bf16NR*kp], b, ldb, pc, kc, j0, j1)
			} else {
				packBBF16(d[j0*kp:hi*bf16NR*kp], false, b[j0:], ldb, pc, kc, j1-j0)
			}
		})
		p.slices = append(p.slices, d)
	}
	return p
}

// packBBF16T is packBBF16 for a transposed B (op(B)(p, j) = b[j*ldb+p], the
// PyTorch weight layout) and columns [j0, j1), into dst starting at panel
// j0: each source row j is read once, sequentially, in pairs of depths.
func packBBF16T(dst []uint32, b []float32, ldb, pc, kc, j0, j1 int) {
	kp := (kc + 1) / 2
	even := kc &^ 1
	for jp := j0; jp < j1; jp += bf16NR {
		w := min(bf16NR, j1-jp)
		d := dst[(jp-j0)*kp : (jp-j0+bf16NR)*kp]
		for j := 0; j < w; j++ {
			row := b[(jp+j)*ldb+pc:][:kc]
			q := 0
			for p := 0; p < even; p += 2 {
				d[q*bf16NR+j] = uint32(toBF16(row[p])) | uint32(toBF16(row[p+1]))<<16
				q++
			}
			if even < kc {
				d[q*bf16NR+j] = uint32(toBF16(row[even]))
			}
		}
		if w < bf16NR {
			for q := 0; q < kp; q++ {
				clear(d[q*bf16NR+w : (q+1)*bf16NR])
			}
		}
	}
}

// packBBF16 packs the kc×n block of op(B) at depth pc into dst as column
// panels 32 wide: panel j0 (a multiple of 32) starts at j0*kp and holds
// pair (q, j) at q*32 + j−j0, the bf16 roundings of op(B)(pc+2q, j) and
// op(B)(pc+2q+1, j). The pair past an odd kc and the columns past n are
// zero.
func packBBF16(dst []uint32, trans bool, b []float32, ldb, pc, kc, n int) {
	kp := (kc + 1) / 2
	at := func(p, j int) float32 {
		if p >= kc {
			return 0
		}
		if trans {
			return b[j*ldb+pc+p]
		}
		return b[(pc+p)*ldb+j]
	}
	for j0 := 0; j0 < n; j0 += bf16NR {
		w := min(bf16NR, n-j0)
		d := dst[j0*kp : (j0+bf16NR)*kp]
		for q := 0; q < kp; q++ {
			dq := d[q*bf16NR : (q+1)*bf16NR]
			for j := 0; j < w; j++ {
				dq[j] = bf16Pair(at(2*q, j0+j), at(2*q+1, j0+j))
			}
			clear(dq[w:])
		}
	}
}

// packABF16 rounds the mc×kc block of A (row-major, not transposed) at
// (ic, pc) to bf16 and packs it into dst as row panels of mr rows: panel r
// starts at r*mr*kp and stores pair (i, q) at q*h+i, where h is the
// panel's row count and kp = ⌈kc/2⌉; the pair past an odd kc is zero.
// With AVX512_BF16 it converts with VCVTNE2PS2BF16 and transposes with the
// float32 packing kernels, through tmp (see packABF16SIMD); either way the
// packed words are the same.
func packABF16(dst, tmp []uint32, a []float32, lda, ic, mc, pc, kc, mr int) []uint32 {
	tmp, ok := packABF16SIMD(dst, tmp, a, lda, ic, mc, pc, kc, mr)
	if !ok {
		packABF16Go(dst, a, lda, ic, mc, pc, kc, mr)
	}
	return tmp
}

// packABF16Go is the portable packABF16.
func packABF16Go(dst []uint32, a []float32, lda, ic, mc, pc, kc, mr int) {
	kp := (kc + 1) / 2
	for ir := 0; ir < mc; ir += mr {
		h := min(mr, mc-ir)
		d := dst[ir*kp : ir*kp+h*kp]
		for i := 0; i < h; i++ {
			src := a[(ic+ir+i)*lda+pc:][:kc]
			q := 0
			for ; 2*q+1 < kc; q++ {
				d[q*h+i] = bf16Pair(src[2*q], src[2*q+1])
			}
			if q < kp {
				d[q*h+i] = uint32(toBF16(src[kc-1]))
			}
		}
	}
}

// bf16Row rounds src to bf16 pairs in dst (len(dst) = ⌈len(src)/2⌉),
// element 2q in the low half of dst[q]; an odd last pair has a zero high
// half.
func bf16Row(dst []uint32, src []float32) {
	q := 0
	for ; 2*q+1 < len(src); q++ {
		dst[q] = bf16Pair(src[2*q], src[2*q+1])
	}
	if q < len(dst) {
		dst[q] = uint32(toBF16(src[len(src)-1]))
	}
}

// GemmPackedBF16 computes C = alpha·A·op(B) + beta·C with op(B) rounded to
// bfloat16 and packed by PackBF16. A is m×k float32, row-major with
// leading dimension lda, and is rounded to bf16 (RoundBF16) while it is
// packed, before alpha is applied; C is m×n float32 with leading dimension
// ldc, for the k and n of pb. The products of the rounded inputs are
// accumulated in float32 and the sum is multiplied by alpha in float32.
// When beta is zero, C is not read. Large products run on the shared
// worker pool (see Threads). Like Gemm it is batch-invariant: row i of C
// does not depend on m, on the other rows of A or on the threads.
//
// Compared with the exact product of the unrounded inputs, each term has a
// relative error of up to about 2⁻⁸ (see the package's notes on bfloat16
// products): use it for inference only, and only where that accuracy has
// been measured to be enough. Without AVX512_BF16 (see HasBF16) the same
// rounded product is computed by slow portable code; the results of the
// two paths agree to float32 summation error, not bit for bit.
func GemmPackedBF16(m int, alpha float32, a []float32, lda int, pb *PackedBF16, beta float32, c []float32, ldc int) {
	gemmPackedBF16(bf16Default, 0, m, alpha, a, lda, pb, beta, c, ldc)
}

// GemmPackedBF16Threads is GemmPackedBF16 on at most threads threads (the
// caller and threads−1 pool workers); threads ≤ 0 means the default,
// Threads().
func GemmPackedBF16Threads(threads, m int, alpha float32, a []float32, lda int, pb *PackedBF16, beta float32, c []float32, ldc int) {
	gemmPackedBF16(bf16Default, threads, m, alpha, a, lda, pb, beta, c, ldc)
}

// bf16Default is the bf16 implementation chosen for this CPU.
var bf16Default = bf16Impls()[0]

// bf16Args is one bf16 product; the tasks of a parallel call share it.
type bf16Args struct {
	impl   *bf16Impl
	m      int
	a      []float32
	lda    int
	pb     *PackedBF16
	beta   float32
	c      []float32
	ldc    int
	splitN bool // parallel parts split the columns (else the rows)
	step   int  // part size along the split side
}

// bf16Buf holds the packing buffers of one task.
type bf16Buf struct {
	a, tmp []uint32
	tile   []float32
}

var bf16BufPool = sync.Pool{New: func() any { return new(bf16Buf) }}

// gemmPackedBF16 is GemmPackedBF16 with implementation im on up to threads
// threads (≤ 0: the pool's default).
func gemmPackedBF16(im *bf16Impl, threads int, m int, alpha float32, a []float32, lda int, pb *PackedBF16, beta float32, c []float32, ldc int) {
	k, n := pb.k, pb.n
	checkGemm(false, false, m, n, k, len(a), lda, n*k, max(n, 1), len(c), ldc)
	if m == 0 || n == 0 {
		return
	}
	if alpha == 0 || k == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	if len(pb.slices) == 0 {
		panic(fmt.Sprintf("kernel: GemmPackedBF16 with an unpacked %d×%d B", k, n))
	}
	if threads <= 0 {
		threads = Threads()
	}
	if alpha != 1 {
		// The kernels accumulate from beta·C, which leaves no place for
		// alpha: compute the plain product and scale it.
		t := getPackBuf[float32](m * n)
		gemmPackedBF16(im, threads, m, 1, a, lda, pb, 0, t, n)
		for i := 0; i < m; i++ {
			ci, ti := c[i*ldc:i*ldc+n], t[i*n:(i+1)*n]
			for j, v := range ti {
				if beta == 0 {
					ci[j] = alpha * v
				} else {
					ci[j] = alpha*v + beta*ci[j]
				}
			}
		}
		putPackBuf(t)
		return
	}
	g := &bf16Args{impl: im, m: m, a: a, lda: lda, pb: pb, beta: beta, c: c, ldc: ldc}
	parts := 1
	if threads > 1 && 2*float64(m)*float64(n)*float64(k) >= parallelFlops {
		// As in the float32 GEMM: split the longer side of C in whole
		// micro-tiles.
		mb := (m + im.mr - 1) / im.mr
		nb := (n + bf16NR - 1) / bf16NR
		if nb >= mb || mb < 2 {
			g.splitN, parts = true, min(threads, nb)
		} else {
			parts = min(threads, mb)
		}
	}
	if parts <= 1 {
		buf := bf16BufPool.Get().(*bf16Buf)
		g.block(0, m, 0, n, buf)
		bf16BufPool.Put(buf)
		return
	}
	unit, size := im.mr, m
	if g.splitN {
		unit, size = bf16NR, n
	}
	units := (size + unit - 1) / unit
	g.step = (units + parts - 1) / parts * unit
	parallel((size+g.step-1)/g.step, threads, g)
}

// task runs part i of a parallel product.
func (g *bf16Args) task(i int) {
	lo := i * g.step
	buf := bf16BufPool.Get().(*bf16Buf)
	if g.splitN {
		g.block(0, g.m, lo, min(lo+g.step, g.pb.n), buf)
	} else {
		g.block(lo, min(lo+g.step, g.m), 0, g.pb.n, buf)
	}
	bf16BufPool.Put(buf)
}

// block computes rows [i0,i1) and columns [j0,j1) of C (j0 a multiple of
// 32): depth slices of the packed B outside, blocks of mc rows of A
// (rounded and packed here) inside.
func (g *bf16Args) block(i0, i1, j0, j1 int, buf *bf16Buf) {
	im, pb := g.impl, g.pb
	buf.tile = grow(buf.tile, im.mr*bf16NR)
	for s, pc := 0, 0; pc < pb.k; s, pc = s+1, pc+pb.kcStep {
		kc := min(pb.kcStep, pb.k-pc)
		kp := (kc + 1) / 2
		bs := pb.slices[s][j0*kp:]
		beta := g.beta
		if pc > 0 {
			beta = 1
		}
		for ic := i0; ic < i1; ic += im.mc {
			mc := min(im.mc, i1-ic)
			if cap(buf.a) < kp*mc {
				buf.a = make([]uint32, kp*mc)
			}
			buf.a = buf.a[:kp*mc]
			buf.tmp = packABF16(buf.a, buf.tmp, g.a, g.lda, ic, mc, pc, kc, im.mr)
			g.macro(buf, bs, ic, mc, j0, j1-j0, kp, beta)
		}
	}
}

// macro multiplies the packed mc×kp block of A by the packed kp×nc block
// of B (bs) into C[ic:ic+mc, jc:jc+nc], the short last row panel several
// panels at a time where a wide kernel exists (as the float32 macro).
func (g *bf16Args) macro(buf *bf16Buf, bs []uint32, ic, mc, jc, nc, kp int, beta float32) {
	im := g.impl
	mr := im.mr
	full := mc / mr * mr
	for jr := 0; jr < nc; jr += bf16NR {
		for ir := 0; ir < full; ir += mr {
			g.tile(buf, bs, ic, ir, mr, jc, jr, min(bf16NR, nc-jr), kp, beta, im.kernels[mr], 1)
		}
	}
	if full == mc {
		return
	}
	h := mc - full
	var wide bf16Kernel
	q := 1
	if h < len(im.wide) && im.wide[h] != nil {
		wide, q = im.wide[h], im.wideQ[h]
	}
	for jr := 0; jr < nc; {
		if wide != nil && jr+q*bf16NR <= nc {
			g.tile(buf, bs, ic, full, h, jc, jr, q*bf16NR, kp, beta, wide, q)
			jr += q * bf16NR
			continue
		}
		g.tile(buf, bs, ic, full, h, jc, jr, min(bf16NR, nc-jr), kp, beta, im.kernels[h], 1)
		jr += bf16NR
	}
}

// tile runs kern (h rows, q panels) on rows ir… of the packed A block and
// the panels from column jr of bs into the w columns of C at (ic+ir,
// jc+jr); a right-edge tile (w < 32, q = 1) goes through scratch.
func (g *bf16Args) tile(buf *bf16Buf, bs []uint32, ic, ir, h, jc, jr, w, kp int, beta float32, kern bf16Kernel, q int) {
	ap := &buf.a[ir*kp]
	bp := &bs[jr*kp]
	off := (ic+ir)*g.ldc + jc + jr
	if w == q*bf16NR {
		kern(kp, ap, bp, &g.c[off], g.ldc, beta)
		return
	}
	if beta != 0 {
		loadTile(buf.tile, bf16NR, g.c[off:], g.ldc, h, w)
	}
	kern(kp, ap, bp, &buf.tile[0], bf16NR, beta)
	storeTile(g.c[off:], g.ldc, buf.tile, bf16NR, h, w)
}

// The portable bf16 micro-kernels: h×32 tiles (h ≤ 4) computed four
// columns at a time, summing the two exact products of each depth pair in
// float32 in depth order onto beta·C.

const bf16GoMR = 4

// bf16GoKernel returns the portable micro-kernel for h rows.
func bf16GoKernel(h int) bf16Kernel {
	return func(kp int, a, b *uint32, c *float32, ldc int, beta float32) {
		as := unsafe.Slice(a, h*kp)
		bs := unsafe.Slice(b, bf16NR*kp)
		cs := unsafe.Slice(c, (h-1)*ldc+bf16NR)
		for j0 := 0; j0 < bf16NR; j0 += 4 {
			var acc [bf16GoMR][4]float32
			for i := 0; i < h; i++ {
				r := &acc[i]
				r[0], r[1], r[2], r[3] = loadRow(cs[i*ldc+j0:i*ldc+j0+4:i*ldc+j0+4], beta)
			}
			for q := 0; q < kp; q++ {
				bq := bs[q*bf16NR+j0 : q*bf16NR+j0+4 : q*bf16NR+j0+4]
				l0, l1, l2, l3 := bf16Lo(bq[0]), bf16Lo(bq[1]), bf16Lo(bq[2]), bf16Lo(bq[3])
				u0, u1, u2, u3 := bf16Hi(bq[0]), bf16Hi(bq[1]), bf16Hi(bq[2]), bf16Hi(bq[3])
				aq := as[q*h : q*h+h : q*h+h]
				for i, w := range aq {
					al, au := bf16Lo(w), bf16Hi(w)
					r := &acc[i]
					// Each product of two bf16 values is exact in
					// float32, so fusing these into FMAs changes
					// nothing.
					r[0] = r[0] + al*l0 + au*u0
					r[1] = r[1] + al*l1 + au*u1
					r[2] = r[2] + al*l2 + au*u2
					r[3] = r[3] + al*l3 + au*u3
				}
			}
			for i := 0; i < h; i++ {
				copy(cs[i*ldc+j0:i*ldc+j0+4], acc[i][:])
			}
		}
	}
}

// bf16GoImpl is the portable bf16 implementation.
var bf16GoImpl = &bf16Impl{
	name: "go", mr: bf16GoMR,
	kernels: []bf16Kernel{nil, bf16GoKernel(1), bf16GoKernel(2), bf16GoKernel(3), bf16GoKernel(4)},
	mc:      64,
}
