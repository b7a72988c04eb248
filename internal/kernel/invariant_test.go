package kernel_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/kioku-ml/kioku/internal/kernel"
)

// invariantProduct computes C (m×n) = A·op(W) [+ bias] for the m rows of a
// (row-major, k columns) with one of the inference products.
type invariantProduct func(m int, a []float32, c []float32)

// invariantVariant is one way inference multiplies activations by
// weights: precision, prepacking, bias and threads.
type invariantVariant struct {
	name string
	// make returns the product for weights w (n×k, or k×n when !transB)
	// and bias (nil: none).
	make func(n, k int, w, bias []float32) invariantProduct
}

// fillBias writes the bias into every row of c (the recurrent op's way of
// adding it: then beta = 1).
func fillBias(c, bias []float32, m, n int) float32 {
	if bias == nil {
		return 0
	}
	for i := 0; i < m; i++ {
		copy(c[i*n:(i+1)*n], bias)
	}
	return 1
}

func invariantVariants() []invariantVariant {
	var vs []invariantVariant
	for _, threads := range []int{1, 2} {
		for _, transB := range []bool{true, false} {
			vs = append(vs, invariantVariant{
				name: fmt.Sprintf("f32/transB=%v/threads=%d", transB, threads),
				make: func(n, k int, w, bias []float32) invariantProduct {
					return func(m int, a, c []float32) {
						beta := fillBias(c, bias, m, n)
						ldb := k
						if !transB {
							ldb = n
						}
						kernel.GemmThreads(threads, false, transB, m, n, k, 1, a, k, w, ldb, beta, c, n)
					}
				},
			})
		}
		vs = append(vs, invariantVariant{
			name: fmt.Sprintf("f32-packed/threads=%d", threads),
			make: func(n, k int, w, bias []float32) invariantProduct {
				return func(m int, a, c []float32) {
					// Packed for m rows, as the recurrent op packs for its batch.
					pb := kernel.PackB(true, k, n, w, k, m)
					defer pb.Release()
					beta := fillBias(c, bias, m, n)
					kernel.GemmPackedThreads(threads, false, m, 1, a, k, pb, beta, c, n)
				}
			},
		})
		vs = append(vs, invariantVariant{
			name: fmt.Sprintf("bf16-packed/threads=%d", threads),
			make: func(n, k int, w, bias []float32) invariantProduct {
				pb := kernel.PackBF16(true, k, n, w, k)
				return func(m int, a, c []float32) {
					beta := fillBias(c, bias, m, n)
					kernel.GemmPackedBF16Threads(threads, m, 1, a, k, pb, beta, c, n)
				}
			},
		})
	}
	vs = append(vs, invariantVariant{
		name: "f32-GemmBias",
		make: func(n, k int, w, bias []float32) invariantProduct {
			return func(m int, a, c []float32) {
				if bias == nil {
					kernel.Gemm(false, true, m, n, k, 1, a, k, w, k, 0, c, n)
					return
				}
				kernel.GemmBias(false, true, m, n, k, 1, a, k, w, k, bias, c, n)
			}
		},
	})
	return vs
}

func randSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64())
	}
	return s
}

// TestGemmBatchInvariant checks that the products inference runs are
// batch-invariant: row i of an m-row product is bit for bit the one-row
// product of that row, for every m up to 70, whatever rows surround it
// and wherever it sits, for shapes around the tile widths (32 columns,
// 4 panels), the depth slices (256, 512) and the thread split, in
// float32 and bfloat16, packed and not, with and without a bias.
func TestGemmBatchInvariant(t *testing.T) {
	shapes := []struct{ n, k int }{
		{1, 1}, {5, 7}, {33, 16}, {32, 256}, {127, 257}, {128, 200},
		{160, 512}, {129, 513}, {300, 650}, {31, 1100}, {1000, 64},
	}
	const maxM = 70
	ms := make([]int, 0, maxM)
	for m := 1; m <= maxM; m++ {
		if testing.Short() && m > 5 && m%14 > 1 && m != maxM {
			continue
		}
		ms = append(ms, m)
	}
	for _, v := range invariantVariants() {
		for _, sh := range shapes {
			for _, withBias := range []bool{false, true} {
				name := fmt.Sprintf("%s/n=%d/k=%d/bias=%v", v.name, sh.n, sh.k, withBias)
				t.Run(name, func(t *testing.T) {
					n, k := sh.n, sh.k
					rng := rand.New(rand.NewPCG(uint64(n), uint64(k)))
					w := randSlice(rng, n*k)
					var bias []float32
					if withBias {
						bias = randSlice(rng, n)
					}
					prod := v.make(n, k, w, bias)
					x := randSlice(rng, maxM*k)     // the rows under test
					other := randSlice(rng, maxM*k) // rows around them
					// ref[i] is row i of x multiplied alone.
					ref := make([]float32, maxM*n)
					for i := 0; i < maxM; i++ {
						prod(1, x[i*k:(i+1)*k], ref[i*n:(i+1)*n])
					}
					a := make([]float32, maxM*k)
					c := make([]float32, maxM*n)
					check := func(m int, how string, rowOf func(r int) int) {
						for r := 0; r < m; r++ {
							i := rowOf(r)
							if i < 0 {
								continue
							}
							for j := 0; j < n; j++ {
								got, want := c[r*n+j], ref[i*n+j]
								if math.Float32bits(got) != math.Float32bits(want) {
									t.Fatalf("m=%d (%s): row %d (x row %d) column %d = %x, alone %x (%g vs %g)",
										m, how, r, i, j, math.Float32bits(got), math.Float32bits(want), got, want)
								}
							}
						}
					}
					for _, m := range ms {
						// The first m rows of x, in order.
						prod(m, x[:m*k], c[:m*n])
						check(m, "in order", func(r int) int { return r })
						// Reversed, so each row sits elsewhere in the tiles.
						for r := 0; r < m; r++ {
							copy(a[r*k:(r+1)*k], x[(m-1-r)*k:(m-r)*k])
						}
						prod(m, a[:m*k], c[:m*n])
						check(m, "reversed", func(r int) int { return m - 1 - r })
						// Every third row among other random rows.
						for r := 0; r < m; r++ {
							src := other
							if r%3 == 0 {
								src = x
							}
							copy(a[r*k:(r+1)*k], src[r*k:(r+1)*k])
						}
						prod(m, a[:m*k], c[:m*n])
						check(m, "among other rows", func(r int) int {
							if r%3 == 0 {
								return r
							}
							return -1
						})
					}
				})
			}
		}
	}
}

// TestGemmThreadInvariant checks that one and two threads give the same
// bits on products large enough to be split.
func TestGemmThreadInvariant(t *testing.T) {
	for _, sh := range []struct{ m, n, k int }{{64, 2048, 512}, {20, 2600, 650}, {300, 200, 1000}, {3, 4096, 256}} {
		rng := rand.New(rand.NewPCG(1, uint64(sh.m)))
		a, w := randSlice(rng, sh.m*sh.k), randSlice(rng, sh.n*sh.k)
		c1, c2 := make([]float32, sh.m*sh.n), make([]float32, sh.m*sh.n)
		kernel.GemmThreads(1, false, true, sh.m, sh.n, sh.k, 1, a, sh.k, w, sh.k, 0, c1, sh.n)
		kernel.GemmThreads(2, false, true, sh.m, sh.n, sh.k, 1, a, sh.k, w, sh.k, 0, c2, sh.n)
		for i := range c1 {
			if math.Float32bits(c1[i]) != math.Float32bits(c2[i]) {
				t.Fatalf("%v: element %d: 1 thread %g, 2 threads %g", sh, i, c1[i], c2[i])
			}
		}
	}
}
