package kernel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// packCase is one packA call: the block of op(A) at (ic, pc) of size
// mc×kc, in a source whose leading dimension exceeds the row width by pad.
type packCase struct {
	trans              bool
	mr, mc, kc, ic, pc int
	pad                int
	alpha              float32
}

func (c packCase) String() string {
	return fmt.Sprintf("trans=%v,mr=%d,mc=%d,kc=%d,ic=%d,pc=%d,pad=%d,alpha=%g", c.trans, c.mr, c.mc, c.kc, c.ic, c.pc, c.pad, c.alpha)
}

// source returns a row-major A holding op(A) of at least (ic+mc)×(pc+kc),
// and its leading dimension, filled with random values and some special
// ones (signed zeros, infinities, NaNs with payloads, subnormals).
func (c packCase) source(r *rand.Rand) ([]float32, int) {
	rows, cols := c.ic+c.mc, c.pc+c.kc
	if c.trans {
		rows, cols = cols, rows
	}
	lda := cols + c.pad
	a := make([]float32, (rows-1)*lda+cols)
	specials := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)),
		math.Float32frombits(0x7fc12345), math.Float32frombits(0xff812345), 1e-42, -3e-39, math.MaxFloat32}
	for i := range a {
		if r.IntN(50) == 0 {
			a[i] = specials[r.IntN(len(specials))]
		} else {
			a[i] = float32(r.NormFloat64())
		}
	}
	return a, lda
}

// checkPack runs packA and packAGo on one case and requires the packed
// blocks to be bit for bit the same, and dst past the block to stay
// untouched. The SIMD path must run whenever the CPU has one for c.mr.
func checkPack(t *testing.T, c packCase, a []float32, lda int) {
	t.Helper()
	checkPackWith(t, c, a, lda, func(dst []float32, trans bool, a []float32, lda, ic, mc, pc, kc, mr int, alpha float32) {
		if !packA32(dst, trans, a, lda, ic, mc, pc, kc, mr, alpha) {
			if hasAVX512 || hasAVX2 && mr <= 8 {
				t.Fatalf("%v: packA32 declined on a CPU with AVX-512 or AVX2", c)
			}
			packA(dst, trans, a, lda, ic, mc, pc, kc, mr, alpha)
		}
	})
}

// checkPackWith is checkPack for the packing function pack.
func checkPackWith(t *testing.T, c packCase, a []float32, lda int, pack func(dst []float32, trans bool, a []float32, lda, ic, mc, pc, kc, mr int, alpha float32)) {
	t.Helper()
	n := c.mc * c.kc
	got := make([]float32, n+40)
	want := make([]float32, n)
	for i := range got {
		got[i] = sentinel
	}
	pack(got, c.trans, a, lda, c.ic, c.mc, c.pc, c.kc, c.mr, c.alpha)
	packAGo(want, c.trans, a, lda, c.ic, c.mc, c.pc, c.kc, c.mr, c.alpha)
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%v: dst[%d] = %g (%#08x), want %g (%#08x)", c, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
		}
	}
	for i := n; i < len(got); i++ {
		if got[i] != sentinel {
			t.Fatalf("%v: dst[%d] past the block changed to %g", c, i, got[i])
		}
	}
}

// TestPackA compares the float32 packA (AVX-512 where the CPU has it)
// with the portable packAGo: every panel height from 1 to mr (through mc),
// depths around multiples of 16, offsets, padded leading dimensions and
// scaling.
func TestPackA(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	mrs := []int{14, 16, 6, 4, 1}
	kcs := []int{1, 2, 7, 15, 16, 17, 31, 32, 33, 63, 100, 504}
	eachPackCase(mrs, kcs, func(c packCase) {
		a, lda := c.source(r)
		checkPack(t, c, a, lda)
	})
}

// eachPackCase calls f for the packA cases of panel heights mrs and
// depths kcs: both layouts, every row count mc from 1 to 2·mr+3, and
// offsets, padded leading dimensions and scalings varied with mc and the
// depth.
func eachPackCase(mrs, kcs []int, f func(packCase)) {
	alphas := []float32{1, 0.5, -1.25, 3.1}
	for _, trans := range []bool{false, true} {
		for _, mr := range mrs {
			for mc := 1; mc <= 2*mr+3; mc++ {
				for ki, kc := range kcs {
					f(packCase{
						trans: trans, mr: mr, mc: mc, kc: kc,
						ic: (mc + ki) % 5, pc: (mc * ki) % 7, pad: (mc + 2*ki) % 4,
						alpha: alphas[(mc+ki)%len(alphas)],
					})
				}
			}
		}
	}
}

// TestPackALarge checks the shapes of the language-model GEMMs that the
// packing kernels were written for, with the GEMM's blocking.
func TestPackALarge(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, c := range []packCase{
		{trans: false, mr: 14, mc: 168, kc: 504, ic: 224, pc: 504 * 3, pad: 10000 - 504*4},
		{trans: false, mr: 14, mc: 400 - 336, kc: 424, ic: 336, pc: 10000 - 424, pad: 3},
		{trans: true, mr: 14, mc: 168, kc: 400, ic: 9800 - 168, pc: 0, pad: 200},
		{trans: true, mr: 14, mc: 10000 - 9996, kc: 400, ic: 9996, pc: 0, pad: 0, alpha: 0.25},
		{trans: false, mr: 6, mc: 144, kc: 256, ic: 6, pc: 16, pad: 1, alpha: -2},
	} {
		if c.alpha == 0 {
			c.alpha = 1
		}
		a, lda := c.source(r)
		checkPack(t, c, a, lda)
	}
}

// TestPackAFloat64 checks that float64 still packs correctly (it always
// takes the portable path).
func TestPackAFloat64(t *testing.T) {
	const lda = 9
	a := make([]float64, 7*lda)
	for i := range a {
		a[i] = float64(i)
	}
	dst := make([]float64, 5*3)
	packA(dst, false, a, lda, 1, 5, 2, 3, 4, 2)
	// Panel 0 (rows 1…4) then panel 1 (row 5), element (i,p) at p*h+i.
	want := []float64{
		2 * 11, 2 * 20, 2 * 29, 2 * 38, 2 * 12, 2 * 21, 2 * 30, 2 * 39, 2 * 13, 2 * 22, 2 * 31, 2 * 40,
		2 * 47, 2 * 48, 2 * 49,
	}
	for i := range want {
		if dst[i] != want[i] {
			t.Fatalf("float64 packA: dst = %v, want %v", dst, want)
		}
	}
}
