package kernel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestGemmImplsBatchInvariant checks batch invariance on every float32
// implementation this CPU runs (AVX-512, AVX2, portable Go) and on the
// small-blocking variants that cut the depth, rows and columns into many
// blocks: row i of an m-row product equals the one-row product of that
// row, bit for bit. Between implementations with FMAs the bits agree too
// (an FMA rounds once, whatever the vector width).
func TestGemmImplsBatchInvariant(t *testing.T) {
	impls := sgemmImpls()
	for _, im := range sgemmImpls() {
		impls = append(impls, smallBlocks(im))
	}
	var fmaRef []float32 // the first FMA implementation's one-row products
	for _, im := range impls {
		for _, sh := range []struct{ n, k int }{{33, 19}, {100, 300}, {64, 600}} {
			t.Run(fmt.Sprintf("%s/n=%d/k=%d", im.name, sh.n, sh.k), func(t *testing.T) {
				n, k := sh.n, sh.k
				rng := rand.New(rand.NewPCG(uint64(n), uint64(k)))
				const maxM = 31
				x, w := make([]float32, maxM*k), make([]float32, n*k)
				for i := range x {
					x[i] = float32(rng.NormFloat64())
				}
				for i := range w {
					w[i] = float32(rng.NormFloat64())
				}
				ref := make([]float32, maxM*n)
				for i := 0; i < maxM; i++ {
					gemmRun(im, 1, false, false, true, 1, n, k, 1, x[i*k:], k, w, k, 0, ref[i*n:], n)
				}
				if im.fma && n == 100 {
					if fmaRef == nil {
						fmaRef = ref
					} else if !bitsEqual(ref, fmaRef) {
						t.Errorf("one-row products differ from the first FMA implementation's")
					}
				}
				c := make([]float32, maxM*n)
				for _, m := range []int{2, 3, 4, 5, 7, 13, 14, 15, 29, 31} {
					for _, threads := range []int{1, 2} {
						gemmRun(im, threads, false, false, true, m, n, k, 1, x, k, w, k, 0, c, n)
						if !bitsEqual(c[:m*n], ref[:m*n]) {
							t.Fatalf("m=%d threads=%d: rows differ from the one-row products", m, threads)
						}
					}
				}
			})
		}
	}
}

func bitsEqual(a, b []float32) bool {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return len(a) == len(b)
}
