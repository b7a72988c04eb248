package kernel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/kioku-ml/kioku/internal/testutil"
)

// refGemm is the naive triple loop in float64.
func refGemm[T Float](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) []float64 {
	out := make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				var av, bv T
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += float64(av) * float64(bv)
			}
			v := float64(alpha) * s
			if beta != 0 {
				v += float64(beta) * float64(c[i*ldc+j])
			}
			out[i*n+j] = v
		}
	}
	return out
}

func randSlice[T Float](r *rand.Rand, n int) []T {
	s := make([]T, n)
	for i := range s {
		s[i] = T(r.Float64()*2 - 1)
	}
	return s
}

// gemmCase describes one product; pad is added to every leading dimension
// so the matrices are sub-matrices of larger arrays.
type gemmCase struct {
	transA, transB bool
	m, n, k, pad   int
	alpha, beta    float64
}

func (tc gemmCase) String() string {
	return fmt.Sprintf("tA=%v,tB=%v,m=%d,n=%d,k=%d,pad=%d,alpha=%g,beta=%g", tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.pad, tc.alpha, tc.beta)
}

const sentinel = -12345.5

// runGemmCase checks one product with run against the reference, including
// that C's padding is untouched and that beta = 0 ignores NaN in C.
func runGemmCase[T Float](t testing.TB, tc gemmCase, seed uint64, run func(transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int)) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 7))
	ar, ac := tc.m, tc.k
	if tc.transA {
		ar, ac = tc.k, tc.m
	}
	br, bc := tc.k, tc.n
	if tc.transB {
		br, bc = tc.n, tc.k
	}
	lda, ldb, ldc := ac+tc.pad, bc+tc.pad, tc.n+tc.pad
	a := randSlice[T](r, max(ar*lda, 1))
	b := randSlice[T](r, max(br*ldb, 1))
	// One extra row of C past the sub-matrix must stay untouched too.
	c := make([]T, (tc.m+1)*ldc)
	for i := range c {
		c[i] = sentinel
	}
	for i := 0; i < tc.m; i++ {
		for j := 0; j < tc.n; j++ {
			if tc.beta == 0 {
				c[i*ldc+j] = T(math.NaN())
			} else {
				c[i*ldc+j] = T(r.Float64()*2 - 1)
			}
		}
	}
	want := refGemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, T(tc.alpha), a, lda, b, ldb, T(tc.beta), c, ldc)
	run(tc.transA, tc.transB, tc.m, tc.n, tc.k, T(tc.alpha), a, lda, b, ldb, T(tc.beta), c, ldc)
	eps := 1e-12
	if is32[T]() {
		eps = 2e-6
	}
	for i := 0; i <= tc.m; i++ {
		for j := 0; j < ldc; j++ {
			got := float64(c[i*ldc+j])
			if j >= tc.n || i == tc.m {
				if got != sentinel {
					t.Fatalf("%v: C[%d,%d] outside the sub-matrix changed to %g", tc, i, j, got)
				}
				continue
			}
			w := want[i*tc.n+j]
			// Error bound: k terms of magnitude ≤ |alpha|, plus beta·C.
			tol := eps * (float64(tc.k)*math.Abs(tc.alpha) + math.Abs(tc.beta) + 1) * 4
			if !(math.Abs(got-w) <= tol) {
				t.Fatalf("%v: C[%d,%d] = %g, want %g (tol %g)", tc, i, j, got, w, tol)
			}
		}
	}
}

var gemmSizes = []int{1, 2, 3, 7, 15, 16, 17, 31, 33, 63, 65, 127, 129}

// implRunner returns a GEMM function using im on threads threads.
func implRunner[T Float](im *gemmImpl[T], threads int) func(transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	return func(transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
		checkGemm(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
		gemmRun(im, threads, false, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	}
}

// splitRunner returns a GEMM function using im on two threads that may
// split the depth (GemmSplitDepth's path).
func splitRunner[T Float](im *gemmImpl[T]) func(transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	return func(transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
		checkGemm(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
		gemmRun(im, 2, true, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	}
}

// smallBlocks returns a copy of im with tiny blocking parameters, so the
// multi-block paths (several kc, mc and nc blocks) run on small matrices.
func smallBlocks[T Float](im *gemmImpl[T]) *gemmImpl[T] {
	s := *im
	s.name += "-small"
	s.kc, s.mc, s.nc = 7, 2*im.mr, 2*im.nr
	return &s
}

func testGemmImpls[T Float](t *testing.T, impls []*gemmImpl[T]) {
	var all []*gemmImpl[T]
	for _, im := range impls {
		all = append(all, im, smallBlocks(im))
	}
	seed := uint64(1)
	for _, im := range all {
		t.Run(im.name, func(t *testing.T) {
			for _, threads := range []int{1, 2} {
				run := implRunner(im, threads)
				for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
					for _, m := range gemmSizes {
						for _, n := range gemmSizes {
							// k sweeps the sizes too, but not in every (m, n).
							ks := []int{gemmSizes[(m+n)%len(gemmSizes)], 33}
							for _, k := range ks {
								seed++
								ab := [][2]float64{{1, 0}, {0.5, 1}, {-1.5, 0.25}}[seed%3]
								tc := gemmCase{tr[0], tr[1], m, n, k, int(seed % 3), ab[0], ab[1]}
								runGemmCase(t, tc, seed, run)
							}
						}
					}
				}
			}
		})
	}
}

func TestGemm32(t *testing.T) { testGemmImpls(t, sgemmImpls()) }

func TestGemm64(t *testing.T) { testGemmImpls(t, []*gemmImpl[float64]{goImpl64}) }

// TestGemmLarge checks 1000-sized products through the public entry point,
// in parallel.
func TestGemmLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("large products skipped in -short mode")
	}
	cases := []gemmCase{
		{false, false, 1000, 1000, 1000, 0, 1, 0},
		{true, true, 1000, 129, 1000, 3, -0.5, 2},
		{false, true, 1000, 1000, 65, 1, 1, 1},
		{true, false, 33, 1000, 1000, 0, 2, 0},
	}
	for i, tc := range cases {
		runGemmCase(t, tc, uint64(i), Gemm[float32])
	}
	runGemmCase(t, gemmCase{false, true, 1000, 300, 1000, 2, 1, 0.5}, 9, Gemm[float64])
}

// TestGemmDepthSplit covers products deep enough to be split along their
// depth across threads (splitDepth): rows or columns as the split side,
// every transpose, alpha and beta, float32 and float64.
func TestGemmDepthSplit(t *testing.T) {
	cases := []gemmCase{
		{false, false, 400, 200, 3000, 1, 1, 0},
		{false, true, 400, 200, 3001, 0, -0.5, 0.5},
		{true, false, 50, 300, 2000, 2, 1.5, 1},
		{true, true, 50, 300, 1999, 1, 1, 0},
	}
	for i, tc := range cases {
		if !splitDepth(tc.m, tc.n, tc.k, (tc.n+sgemmImpl.nr-1)/sgemmImpl.nr >= (tc.m+sgemmImpl.mr-1)/sgemmImpl.mr) {
			t.Fatalf("%v is not split along its depth", tc)
		}
		runGemmCase(t, tc, uint64(20+i), splitRunner(sgemmImpl))
	}
	runGemmCase(t, gemmCase{false, false, 100, 40, 1500, 0, 1, 0.5}, 30, splitRunner(goImpl64))
	runGemmCase(t, cases[0], 40, GemmSplitDepth[float32])
}

// TestGemmSpecial covers alpha = 0, k = 0 and empty shapes.
func TestGemmSpecial(t *testing.T) {
	for _, tc := range []gemmCase{
		{false, false, 5, 6, 0, 1, 1, 0},
		{false, false, 5, 6, 0, 1, 1, 2},
		{false, true, 5, 6, 9, 1, 0, 0},
		{true, false, 5, 6, 9, 1, 0, -1},
		{false, false, 0, 6, 9, 1, 1, 0},
		{false, false, 6, 0, 9, 1, 1, 0},
	} {
		runGemmCase(t, tc, 3, Gemm[float32])
		runGemmCase(t, tc, 3, Gemm[float64])
	}
}

func TestGemmPanics(t *testing.T) {
	for _, f := range []func(){
		func() {
			Gemm(false, false, 2, 2, 2, 1, make([]float32, 3), 2, make([]float32, 4), 2, 0, make([]float32, 4), 2)
		},
		func() {
			Gemm(false, false, 2, 2, 2, 1, make([]float32, 4), 1, make([]float32, 4), 2, 0, make([]float32, 4), 2)
		},
		func() {
			Gemm(false, false, -1, 2, 2, 1, make([]float32, 4), 2, make([]float32, 4), 2, 0, make([]float32, 4), 2)
		},
		func() {
			Gemm(false, true, 2, 2, 3, 1, make([]float64, 6), 3, make([]float64, 5), 3, 0, make([]float64, 4), 2)
		},
	} {
		if testutil.Recover(f) == nil {
			t.Error("bad Gemm arguments did not panic")
		}
	}
}

// TestGemmConcurrent runs parallel products from several goroutines at once.
func TestGemmConcurrent(t *testing.T) {
	concurrently(4, func(g int) {
		for i := 0; i < 3; i++ {
			runGemmCase(t, gemmCase{i%2 == 0, g%2 == 0, 200, 150 + g, 120, 1, 1, 0.5}, uint64(g*10+i), Gemm[float32])
		}
	})
}

// TestGemmNoAlloc checks that steady-state calls reuse their packing
// buffers: a call allocates at most a small task descriptor. The buffers
// sit in a sync.Pool, which has a slot per processor: until the calling
// goroutine has run on every processor a call may still allocate, so the
// test measures a few rounds and needs one clean round.
func TestGemmNoAlloc(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under -race")
	}
	const n = 300
	a := make([]float32, n*n)
	b := make([]float32, n*n)
	c := make([]float32, n*n)
	// A garbage collection empties the buffer pools (as it should), so
	// keep it from running during the measurement.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	for _, threads := range []int{1, 2} {
		call := func() { GemmThreads(threads, false, true, n, n, n, 1, a, n, b, n, 0, c, n) }
		call()
		// The packing buffers alone are about 300 KB; allow the runtime's
		// own occasional small allocations.
		limit := 256.0
		if threads > 1 {
			limit = 1024
		}
		best := math.Inf(1)
		for round := 0; round < 8 && best > limit; round++ {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			const runs = 10
			for i := 0; i < runs; i++ {
				call()
			}
			runtime.ReadMemStats(&after)
			best = min(best, float64(after.TotalAlloc-before.TotalAlloc)/runs)
		}
		if best > limit {
			t.Errorf("GemmThreads(%d, …) allocates %.0f bytes per call, want ≤ %.0f", threads, best, limit)
		}
	}
}

func FuzzGemm(f *testing.F) {
	f.Add(uint8(3), uint8(5), uint8(7), uint8(0), uint8(1), false, false, true)
	f.Add(uint8(33), uint8(17), uint8(65), uint8(3), uint8(0), true, true, false)
	f.Add(uint8(15), uint8(40), uint8(2), uint8(1), uint8(2), true, false, true)
	f.Fuzz(func(t *testing.T, m, n, k, pad, ab uint8, transA, transB, small bool) {
		alphas := [][2]float64{{1, 0}, {0.5, 1}, {-2, 0.5}, {0, 1}}
		tc := gemmCase{transA, transB, int(m % 80), int(n % 80), int(k % 80), int(pad % 4), alphas[ab%4][0], alphas[ab%4][1]}
		for _, im := range sgemmImpls() {
			if small {
				im = smallBlocks(im)
			}
			runGemmCase(t, tc, uint64(m)*31+uint64(n), implRunner(im, 2))
		}
		runGemmCase(t, tc, uint64(k), implRunner(goImpl64, 2))
	})
}
