package kernel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestGemmPackedMatchesGemm: the product with B packed in advance equals
// the single-threaded Gemm bit for bit, for both transposes of A and B,
// shapes that take the packed, small and one-row paths, and sub-matrices,
// on one thread or two (a split of C does not change a bit).
func TestGemmPackedMatchesGemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	fill := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return v
	}
	for _, sh := range [][3]int{{20, 2600, 650}, {1, 64, 33}, {3, 5, 7}, {33, 65, 129}, {64, 2048, 512}, {200, 40, 600}} {
		m, n, k := sh[0], sh[1], sh[2]
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				t.Run(fmt.Sprintf("%dx%dx%d/tA%v/tB%v", m, n, k, ta, tb), func(t *testing.T) {
					lda, ldb, ldc := k+3, n+2, n+1
					if ta {
						lda = m + 3
					}
					if tb {
						ldb = k + 2
					}
					ar, br := m, k
					if ta {
						ar = k
					}
					if tb {
						br = n
					}
					a, b := fill(ar*lda), fill(br*ldb)
					c0 := fill(m * ldc)
					want, got := slices.Clone(c0), slices.Clone(c0)
					GemmThreads(1, ta, tb, m, n, k, 1.5, a, lda, b, ldb, 0.5, want, ldc)
					pb := PackB(tb, k, n, b, ldb, m)
					GemmPacked(ta, m, 1.5, a, lda, pb, 0.5, got, ldc)
					if !slices.Equal(want, got) {
						t.Fatal("GemmPacked differs from Gemm")
					}
					for _, threads := range []int{1, 2} {
						got := slices.Clone(c0)
						GemmPackedThreads(threads, ta, m, 1.5, a, lda, pb, 0.5, got, ldc)
						if !slices.Equal(want, got) {
							t.Fatalf("GemmPackedThreads(%d) differs from Gemm", threads)
						}
					}
				})
			}
		}
	}
	// float64 too.
	a, b, c := []float64{1, 2, 3, 4}, []float64{5, 6, 7, 8}, make([]float64, 4)
	GemmPacked(false, 2, 1, a, 2, PackB(false, 2, 2, b, 2, 2), 0, c, 2)
	if !slices.Equal(c, []float64{19, 22, 43, 50}) {
		t.Fatalf("float64 GemmPacked = %v", c)
	}
}

func BenchmarkGemmPackedLSTMStep(b *testing.B) {
	const m, n, k = 20, 2600, 650
	a, w, c := make([]float32, m*k), make([]float32, n*k), make([]float32, m*n)
	b.Run("Gemm", func(b *testing.B) {
		for b.Loop() {
			Gemm(false, true, m, n, k, 1, a, k, w, k, 1, c, n)
		}
		b.ReportMetric(2*m*n*k*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
	pb := PackB(true, k, n, w, k, m)
	b.Run("GemmPacked", func(b *testing.B) {
		for b.Loop() {
			GemmPacked(false, m, 1, a, k, pb, 1, c, n)
		}
		b.ReportMetric(2*m*n*k*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
}

// TestGemmBias: the product with a bias row equals filling C with the bias
// and multiplying with beta = 1, on every path (one row, small, blocked
// with right-edge tiles, several depth slices, split along the depth,
// parallel): bit for bit on one thread.
func TestGemmBias(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	fill := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return v
	}
	for _, sh := range [][3]int{{1, 70, 33}, {3, 5, 7}, {33, 65, 129}, {400, 1000, 200}, {50, 300, 1100}, {40, 30, 3000}} {
		m, n, k := sh[0], sh[1], sh[2]
		for _, tb := range []bool{false, true} {
			t.Run(fmt.Sprintf("%dx%dx%d/tB%v", m, n, k, tb), func(t *testing.T) {
				lda, ldb, ldc := k+1, n+3, n+2
				if tb {
					ldb = k + 3
				}
				br := k
				if tb {
					br = n
				}
				a, b, bias := fill(m*lda), fill(br*ldb), fill(n)
				want, got := fill(m*ldc), fill(m*ldc)
				copy(got, want) // the padding between rows must survive
				for i := 0; i < m; i++ {
					copy(want[i*ldc:i*ldc+n], bias)
				}
				GemmThreads(1, false, tb, m, n, k, 0.5, a, lda, b, ldb, 1, want, ldc)
				GemmBias(false, tb, m, n, k, 0.5, a, lda, b, ldb, bias, got, ldc)
				tol := float32(0)
				if splitDepth(m, n, k, false) || splitDepth(m, n, k, true) {
					tol = 1e-4 // the parts are summed in another order
				}
				for i := range want {
					if d := got[i] - want[i]; d > tol || d < -tol {
						t.Fatalf("element %d: GemmBias %v, fill and Gemm %v", i, got[i], want[i])
					}
				}
			})
		}
	}
	c := []float64{9, 9, 9, 9}
	GemmBias(false, false, 2, 2, 2, 1, []float64{1, 2, 3, 4}, 2, []float64{5, 6, 7, 8}, 2, []float64{1, -1}, c, 2)
	if !slices.Equal(c, []float64{20, 21, 44, 49}) {
		t.Fatalf("float64 GemmBias = %v", c)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("GemmBias with a short bias did not panic")
		}
	}()
	GemmBias(false, false, 2, 2, 2, 1, []float64{1, 2, 3, 4}, 2, []float64{5, 6, 7, 8}, 2, []float64{1}, c, 2)
}

// TestPackBRelease: packings reuse released panels (here poisoned with
// NaN) without reading them — the product stays bit for bit Gemm's, edge
// panels included — and a released packing refuses to multiply.
func TestPackBRelease(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const m, n, k = 10, 1000, 300 // n is not a multiple of the panel width
	a, b := make([]float32, m*k), make([]float32, n*k)
	for i := range a {
		a[i] = float32(rng.NormFloat64())
	}
	for i := range b {
		b[i] = float32(rng.NormFloat64())
	}
	want := make([]float32, m*n)
	GemmThreads(1, false, true, m, n, k, 1, a, k, b, k, 0, want, n)
	for range 3 {
		poison := make([]float32, 2*n*k)
		for i := range poison {
			poison[i] = float32(math.NaN())
		}
		putPackBuf(poison)
		pb := PackB(true, k, n, b, k, m)
		got := make([]float32, m*n)
		GemmPacked(false, m, 1, a, k, pb, 0, got, n)
		if !slices.Equal(got, want) {
			t.Fatal("a packing into recycled panels differs from Gemm")
		}
		pb.Release()
		func() {
			defer func() {
				if recover() == nil {
					t.Fatal("GemmPacked with a released packing did not panic")
				}
			}()
			GemmPacked(false, m, 1, a, k, pb, 0, got, n)
		}()
	}
}

// BenchmarkGemmOneRow times one-row products, the recurrent step and the
// output layer of batch-1 inference: on weights packed in advance
// (GemmPacked, the recurrent op's W_hh) and unpacked (Gemm, B transposed
// as in x·Wᵀ), on one thread.
func BenchmarkGemmOneRow(b *testing.B) {
	for _, sh := range []struct{ n, k int }{{1024, 256}, {2048, 512}, {2600, 650}, {10000, 200}} {
		a, w, c := make([]float32, sh.k), make([]float32, sh.n*sh.k), make([]float32, sh.n)
		for i := range w {
			w[i] = float32(i%7) - 3
		}
		for i := range a {
			a[i] = float32(i%5) - 2
		}
		flops := 2 * float64(sh.n) * float64(sh.k)
		b.Run(fmt.Sprintf("Packed/%dx%d", sh.n, sh.k), func(b *testing.B) {
			pb := PackB(true, sh.k, sh.n, w, sh.k, 1)
			for b.Loop() {
				GemmPackedThreads(1, false, 1, 1, a, sh.k, pb, 0, c, sh.n)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		b.Run(fmt.Sprintf("Unpacked/%dx%d", sh.n, sh.k), func(b *testing.B) {
			for b.Loop() {
				GemmThreads(1, false, true, 1, sh.n, sh.k, 1, a, sh.k, w, sh.k, 0, c, sh.n)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
