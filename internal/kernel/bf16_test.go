package kernel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestRoundBF16 checks the float32 → bfloat16 rounding on chosen bit
// patterns: ties to even, carries into the exponent, overflow to Inf, Inf,
// NaN (quieted), signed zeros and subnormals (flushed to signed zero).
func TestRoundBF16(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   uint32
		want uint16
	}{
		{"one", 0x3f800000, 0x3f80},
		{"below half", 0x3f807fff, 0x3f80},
		{"tie to even (down)", 0x3f808000, 0x3f80},
		{"above half", 0x3f808001, 0x3f81},
		{"tie to even (up)", 0x3f818000, 0x3f82},
		{"odd, below half", 0x3f817fff, 0x3f81},
		{"negative tie to even", 0xbf808000, 0xbf80},
		{"negative tie up", 0xbf818000, 0xbf82},
		{"carry into exponent", 0x3fffffff, 0x4000},
		{"largest finite stays", 0x7f7f7fff, 0x7f7f},
		{"largest float32 overflows", 0x7f7fffff, 0x7f80},
		{"-largest float32 overflows", 0xff7fffff, 0xff80},
		{"+Inf", 0x7f800000, 0x7f80},
		{"-Inf", 0xff800000, 0xff80},
		{"quiet NaN", 0x7fc00000, 0x7fc0},
		{"NaN payload kept", 0x7fd5a5a5, 0x7fd5},
		{"signalling NaN quieted", 0x7f800001, 0x7fc0},
		{"negative NaN", 0xff812345, 0xffc1},
		{"+0", 0x00000000, 0x0000},
		{"-0", 0x80000000, 0x8000},
		{"smallest subnormal", 0x00000001, 0x0000},
		{"largest subnormal", 0x007fffff, 0x0000},
		{"negative subnormal", 0x807fffff, 0x8000},
		{"smallest normal", 0x00800000, 0x0080},
		{"near smallest normal rounds up", 0x00ffffff, 0x0100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := math.Float32frombits(tc.in)
			if got := toBF16(x); got != tc.want {
				t.Fatalf("toBF16(%#08x) = %#04x, want %#04x", tc.in, got, tc.want)
			}
			r := RoundBF16(x)
			if rb := math.Float32bits(r); rb != uint32(tc.want)<<16 {
				t.Fatalf("RoundBF16(%#08x) has bits %#08x, want %#08x", tc.in, rb, uint32(tc.want)<<16)
			}
			if math.IsNaN(float64(x)) != math.IsNaN(float64(r)) {
				t.Fatalf("RoundBF16(%g) = %g: NaN-ness changed", x, r)
			}
		})
	}
}

// TestRoundBF16Nearest checks on random normal float32 values that
// RoundBF16 picks the nearer of the two neighbouring bf16 values, and the
// one with an even last bit on a tie.
func TestRoundBF16Nearest(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 1<<20; i++ {
		b := r.Uint32()
		if i%8 == 0 {
			b = b&^0xffff | 0x8000 // a tie
		}
		x := math.Float32frombits(b)
		if e := b & 0x7f800000; e == 0 || e == 0x7f800000 || (b&^0xffff+0x10000)&0x7f800000 == 0x7f800000 {
			continue // not normal, or rounding up overflows (see TestRoundBF16)
		}
		down := math.Float32frombits(b &^ 0xffff)
		up := math.Float32frombits(b&^0xffff + 0x10000)
		dd := math.Abs(float64(x) - float64(down))
		du := math.Abs(float64(x) - float64(up))
		want := down
		if du < dd || du == dd && (b>>16)&1 == 1 {
			want = up
		}
		if got := RoundBF16(x); got != want {
			t.Fatalf("RoundBF16(%#08x) = %#08x, want %#08x", b, math.Float32bits(got), math.Float32bits(want))
		}
	}
}

// bf16Case is one product C = alpha·A·op(B) + beta·C checked against the
// float64 reference of the rounded inputs.
type bf16Case struct {
	m, n, k     int
	transB      bool
	pad         int // added to lda, ldb and ldc
	alpha, beta float32
}

func (tc bf16Case) String() string {
	return fmt.Sprintf("m=%d,n=%d,k=%d,tB=%v,pad=%d,alpha=%g,beta=%g", tc.m, tc.n, tc.k, tc.transB, tc.pad, tc.alpha, tc.beta)
}

// bf16Cases covers edge rows (m = 1, m not a multiple of mr = 14 or 4),
// edge columns (n not a multiple of 32), odd depths (a zero-padded pair)
// and several depth slices (k > 512, an odd last slice), alpha and beta,
// and leading dimensions larger than the rows.
var bf16Cases = []bf16Case{
	{m: 1, n: 1, k: 1, alpha: 1},
	{m: 1, n: 32, k: 2, alpha: 1},
	{m: 1, n: 2048, k: 512, transB: true, alpha: 1},
	{m: 1, n: 100, k: 77, pad: 3, alpha: 1.5, beta: 0.5},
	{m: 2, n: 33, k: 3, alpha: 1, beta: 1},
	{m: 3, n: 31, k: 8, pad: 1, alpha: -2, beta: 1},
	{m: 5, n: 64, k: 9, transB: true, alpha: 1},
	{m: 13, n: 65, k: 31, alpha: 0.25, beta: -1},
	{m: 14, n: 32, k: 64, alpha: 1},
	{m: 15, n: 96, k: 127, pad: 5, transB: true, alpha: 1, beta: 0.5},
	{m: 20, n: 2600, k: 650, transB: true, alpha: 1},
	{m: 29, n: 70, k: 511, pad: 2, alpha: 1.5, beta: 2},
	{m: 50, n: 200, k: 1025, transB: true, pad: 1, alpha: 1, beta: 1},
	{m: 64, n: 2048, k: 512, transB: true, alpha: 1},
	{m: 200, n: 40, k: 600, alpha: 0.5},
	{m: 181, n: 33, k: 13, pad: 7, alpha: 1, beta: 0.75},
	{m: 4, n: 5, k: 6, alpha: 0, beta: 0.5},
}

// refBF16 returns the float64 product of the bf16-rounded inputs and, per
// element, the sum of the magnitudes of its terms (the scale of its
// rounding error).
func refBF16(tc bf16Case, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) (want, scale []float64) {
	want = make([]float64, tc.m*tc.n)
	scale = make([]float64, tc.m*tc.n)
	for i := 0; i < tc.m; i++ {
		for j := 0; j < tc.n; j++ {
			var s, abs float64
			for p := 0; p < tc.k; p++ {
				var bv float32
				if tc.transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				t := float64(RoundBF16(a[i*lda+p])) * float64(RoundBF16(bv))
				s += t
				abs += math.Abs(t)
			}
			v := float64(tc.alpha) * s
			abs *= math.Abs(float64(tc.alpha))
			if tc.beta != 0 {
				cv := float64(tc.beta) * float64(c[i*ldc+j])
				v += cv
				abs += math.Abs(cv)
			}
			want[i*tc.n+j], scale[i*tc.n+j] = v, abs
		}
	}
	return want, scale
}

// bf16Operands returns random A, B and C for tc with their leading
// dimensions; C has one extra row, and its padding holds sentinel, or NaN
// everywhere when beta is zero (it must not be read).
func bf16Operands(tc bf16Case, seed uint64) (a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	r := rand.New(rand.NewPCG(seed, 11))
	lda, ldb, ldc = tc.k+tc.pad, tc.n+tc.pad, tc.n+tc.pad
	br := tc.k
	if tc.transB {
		ldb, br = tc.k+tc.pad, tc.n
	}
	a = randSlice[float32](r, max(tc.m*lda, 1))
	b = randSlice[float32](r, max(br*ldb, 1))
	c = make([]float32, (tc.m+1)*ldc)
	for i := range c {
		c[i] = sentinel
		if i/ldc < tc.m && i%ldc < tc.n {
			if tc.beta == 0 {
				c[i] = float32(math.NaN())
			} else {
				c[i] = float32(r.Float64()*2 - 1)
			}
		}
	}
	return
}

// TestGemmPackedBF16 checks every bf16 implementation, on one and two
// threads, against the float64 product of the rounded inputs: each element
// within 1e-5 of the sum of the magnitudes of its terms (float32
// accumulation error), C's padding untouched and NaN in C ignored when
// beta is zero.
func TestGemmPackedBF16(t *testing.T) {
	for ci, tc := range bf16Cases {
		a, lda, b, ldb, c0, ldc := bf16Operands(tc, uint64(ci))
		want, scale := refBF16(tc, a, lda, b, ldb, c0, ldc)
		pb := PackBF16(tc.transB, tc.k, tc.n, b, ldb)
		for _, im := range bf16Impls() {
			for _, threads := range []int{1, 2} {
				t.Run(fmt.Sprintf("%s/%v/threads=%d", im.name, tc, threads), func(t *testing.T) {
					c := slices.Clone(c0)
					gemmPackedBF16(im, threads, tc.m, tc.alpha, a, lda, pb, tc.beta, c, ldc)
					checkBF16Result(t, tc, c, ldc, want, scale, 1e-5)
				})
			}
		}
	}
}

// checkBF16Result compares C with the reference to within tol times each
// element's scale and checks that C's padding is untouched.
func checkBF16Result(t *testing.T, tc bf16Case, c []float32, ldc int, want, scale []float64, tol float64) {
	t.Helper()
	for i := range c {
		row, col := i/ldc, i%ldc
		if row >= tc.m || col >= tc.n {
			if c[i] != sentinel {
				t.Fatalf("padding C[%d,%d] = %g was overwritten", row, col, c[i])
			}
			continue
		}
		w, s := want[row*tc.n+col], scale[row*tc.n+col]
		if d := math.Abs(float64(c[i]) - w); !(d <= tol*s+1e-30) {
			t.Fatalf("C[%d,%d] = %g, want %g (error %.3g, %.3g of the sum of |terms| %g)", row, col, c[i], w, d, d/s, s)
		}
	}
}

// TestGemmPackedBF16Paths checks that the implementations agree with each
// other (they differ only in the order of float32 additions) to within 1e-6
// of the sum of |terms|, through the exported entry points too.
func TestGemmPackedBF16Paths(t *testing.T) {
	impls := bf16Impls()
	for ci, tc := range bf16Cases {
		a, lda, b, ldb, c0, ldc := bf16Operands(tc, uint64(100+ci))
		_, scale := refBF16(tc, a, lda, b, ldb, c0, ldc)
		pb := PackBF16(tc.transB, tc.k, tc.n, b, ldb)
		ref := slices.Clone(c0)
		GemmPackedBF16(tc.m, tc.alpha, a, lda, pb, tc.beta, ref, ldc)
		want := make([]float64, tc.m*tc.n)
		for i := range want {
			want[i] = float64(ref[i/tc.n*ldc+i%tc.n])
		}
		for _, im := range impls {
			c := slices.Clone(c0)
			gemmPackedBF16(im, 1, tc.m, tc.alpha, a, lda, pb, tc.beta, c, ldc)
			t.Run(fmt.Sprintf("%s/%v", im.name, tc), func(t *testing.T) {
				checkBF16Result(t, tc, c, ldc, want, scale, 1e-6)
			})
		}
		c := slices.Clone(c0)
		GemmPackedBF16Threads(1, tc.m, tc.alpha, a, lda, pb, tc.beta, c, ldc)
		t.Run(fmt.Sprintf("Threads1/%v", tc), func(t *testing.T) {
			checkBF16Result(t, tc, c, ldc, want, scale, 1e-6)
		})
	}
}

// TestGemmPackedBF16VsFloat32 measures the accuracy cost of bf16 against
// the float32 GEMM on N(0,1) data at the LSTM shapes. The bound checked is
// the one documented: |C_bf16 − C_f32| ≤ 2⁻⁸·Σ|aᵢₚ·bₚⱼ| (plus float32
// accumulation error); the typical errors are logged (go test -v).
func TestGemmPackedBF16VsFloat32(t *testing.T) {
	for _, sh := range [][3]int{{20, 2048, 512}, {64, 2048, 512}, {20, 2600, 650}} {
		m, n, k := sh[0], sh[1], sh[2]
		t.Run(fmt.Sprintf("%dx%dx%d", m, n, k), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(m), uint64(k)))
			a, w := make([]float32, m*k), make([]float32, n*k)
			for i := range a {
				a[i] = float32(r.NormFloat64())
			}
			for i := range w {
				w[i] = float32(r.NormFloat64())
			}
			c32, c16 := make([]float32, m*n), make([]float32, m*n)
			Gemm(false, true, m, n, k, 1, a, k, w, k, 0, c32, n)
			GemmPackedBF16(m, 1, a, k, PackBF16(true, k, n, w, k), 0, c16, n)
			var maxRel, sumSq, errSq float64
			for i := 0; i < m; i++ {
				for j := 0; j < n; j++ {
					var abs float64
					for p := 0; p < k; p++ {
						abs += math.Abs(float64(a[i*k+p]) * float64(w[j*k+p]))
					}
					d := math.Abs(float64(c16[i*n+j]) - float64(c32[i*n+j]))
					if d > (0x1p-8+float64(k)*0x1p-23)*abs {
						t.Fatalf("C[%d,%d]: bf16 %g, float32 %g: error %.3g of Σ|terms| exceeds 2⁻⁸", i, j, c16[i*n+j], c32[i*n+j], d/abs)
					}
					maxRel = max(maxRel, d/abs)
					sumSq += float64(c32[i*n+j]) * float64(c32[i*n+j])
					errSq += d * d
				}
			}
			t.Logf("bf16 vs float32: RMS error / RMS(C) = %.3g, max error / Σ|terms| = %.3g", math.Sqrt(errSq/sumSq), maxRel)
		})
	}
}

// TestGemmPackedBF16Panics checks the argument checks.
func TestGemmPackedBF16Panics(t *testing.T) {
	pb := PackBF16(false, 4, 8, make([]float32, 32), 8)
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"short B", func() { PackBF16(false, 4, 8, make([]float32, 31), 8) }},
		{"small ldb", func() { PackBF16(true, 4, 8, make([]float32, 32), 3) }},
		{"short A", func() { GemmPackedBF16(2, 1, make([]float32, 7), 4, pb, 0, make([]float32, 16), 8) }},
		{"short C", func() { GemmPackedBF16(2, 1, make([]float32, 8), 4, pb, 0, make([]float32, 15), 8) }},
		{"small ldc", func() { GemmPackedBF16(2, 1, make([]float32, 8), 4, pb, 0, make([]float32, 16), 7) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			tc.f()
		})
	}
	if k, n := pb.Dims(); k != 4 || n != 8 {
		t.Fatalf("Dims() = %d, %d", k, n)
	}
}

// TestPackABF16 checks that packABF16 (SIMD where the CPU has it) packs
// exactly what the portable packABF16Go does, special values included,
// for panel heights up to 14 and depths around the 32-float conversion
// blocks.
func TestPackABF16(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	specials := []uint32{0x7fc00000, 0x7f800001, 0xff800000, 0x00000001, 0x80400000, 0x3f808000, 0x3f818000, 0x7f7fffff, 0x80000000}
	for _, mr := range []int{1, 4, 13, 14} {
		for _, mc := range []int{1, mr, 2*mr + 3} {
			for _, kc := range []int{1, 2, 31, 32, 33, 63, 64, 65, 100, 512} {
				t.Run(fmt.Sprintf("mr=%d/mc=%d/kc=%d", mr, mc, kc), func(t *testing.T) {
					ic, pc, lda := 1, 3, kc+5
					a := make([]float32, (ic+mc)*lda)
					for i := range a {
						if r.IntN(8) == 0 {
							a[i] = math.Float32frombits(specials[r.IntN(len(specials))])
						} else {
							a[i] = float32(r.NormFloat64())
						}
					}
					kp := (kc + 1) / 2
					want, got := make([]uint32, mc*kp), make([]uint32, mc*kp)
					for i := range got {
						got[i] = 0xdeadbeef
					}
					packABF16Go(want, a, lda, ic, mc, pc, kc, mr)
					packABF16(got, nil, a, lda, ic, mc, pc, kc, mr)
					if !slices.Equal(want, got) {
						for j := range want {
							if want[j] != got[j] {
								t.Fatalf("word %d = %#08x, want %#08x", j, got[j], want[j])
							}
						}
					}
				})
			}
		}
	}
}

// TestPackBF16TransposedMatchesGeneric checks the row-wise, parallel pack
// of a transposed B against the element-by-element packBBF16, bit for bit,
// for odd depths, partial panels and depth offsets.
func TestPackBF16TransposedMatchesGeneric(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, tc := range []struct{ k, n, ldb int }{{1, 1, 1}, {3, 5, 4}, {7, 33, 7}, {512, 64, 512}, {1100, 70, 1103}, {200, 10000, 200}} {
		b := randSlice[float32](r, tc.n*tc.ldb)
		got := PackBF16(true, tc.k, tc.n, b, tc.ldb)
		step := depthStep(tc.k, bf16KC)
		nPad := (tc.n + bf16NR - 1) / bf16NR * bf16NR
		for s, pc := 0, 0; pc < tc.k; s, pc = s+1, pc+step {
			kc := min(step, tc.k-pc)
			want := make([]uint32, (kc+1)/2*nPad)
			packBBF16(want, true, b, tc.ldb, pc, kc, tc.n)
			if !slices.Equal(got.slices[s], want) {
				t.Fatalf("k=%d n=%d ldb=%d: slice %d differs from the generic pack", tc.k, tc.n, tc.ldb, s)
			}
		}
	}
}

// BenchmarkPackBF16 times rounding and packing a weight matrix stored as
// PyTorch does (N×K, used transposed): an LSTM's W_hh and a language
// model's output layer.
func BenchmarkPackBF16(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, sh := range [][2]int{{2048, 512}, {10000, 200}, {10000, 650}} {
		n, k := sh[0], sh[1]
		w := randSlice[float32](r, n*k)
		b.Run(fmt.Sprintf("N=%d/K=%d", n, k), func(b *testing.B) {
			for b.Loop() {
				PackBF16(true, k, n, w, k)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n*k), "ns/elem")
		})
	}
}
