package kernel

import (
	"math/rand/v2"
	"testing"
)

func BenchmarkPackB(b *testing.B) {
	const k, n = 256, 2600
	src := make([]float32, n*650)
	dst := make([]float32, k*(n+32))
	for _, trans := range []bool{false, true} {
		name := "N"
		if trans {
			name = "T"
		}
		b.Run(name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if trans {
					packB(dst, true, src, 650, 0, k, 0, n, 32)
				} else {
					packB(dst, false, src, n, 0, k, 0, n, 32)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*k*n), "ns/elem")
		})
	}
}

// BenchmarkPackA packs all of op(A) block by block as the GEMM does (mc =
// 168, mr = 14, depth slices from depthStep with kc ≤ 512), with the
// portable packAGo and with packA (the SIMD kernels where the CPU has
// them). The shapes are the language-model products it was tuned for, A
// being the 400×10000 output-layer gradient gy: "N" is dh = gy·W (op(A) =
// gy, M=400, K=10000) and "T" is dW = gyᵀ·h (op(A) = gyᵀ, M=10000, K=400);
// the "L2" shapes pack one cache-resident 336×256 block.
func BenchmarkPackA(b *testing.B) {
	benchPackA(b, 14, 14*12, 512, []packImpl{{"go", packAGo[float32]}, {"simd", packA[float32]}})
}

// packImpl is a packing function under benchmark.
type packImpl struct {
	name string
	pack func(dst []float32, trans bool, a []float32, lda, ic, mc, pc, kc, mr int, alpha float32)
}

// benchPackA runs the shapes of BenchmarkPackA with the blocking mr, mcMax
// and kcMax for each implementation.
func benchPackA(b *testing.B, mr, mcMax, kcMax int, impls []packImpl) {
	shapes := []struct {
		name     string
		trans    bool
		m, k     int // op(A) is m×k
		lda      int
		kcMax    int
		srcElems int
	}{
		{"N/M=400/K=10000", false, 400, 10000, 10000, kcMax, 400 * 10000},
		{"T/M=10000/K=400", true, 10000, 400, 10000, kcMax, 400 * 10000},
		{"N/L2/M=336/K=256", false, 336, 256, 1000, 256, 1000 * 1000},
		{"T/L2/M=336/K=256", true, 336, 256, 1000, 256, 1000 * 1000},
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, sh := range shapes {
		src := randSlice[float32](r, sh.srcElems)
		kcStep := depthStep(sh.k, sh.kcMax)
		dst := make([]float32, kcStep*mcMax)
		for _, impl := range impls {
			b.Run(sh.name+"/"+impl.name, func(b *testing.B) {
				for b.Loop() {
					for pc := 0; pc < sh.k; pc += kcStep {
						kc := min(kcStep, sh.k-pc)
						for ic := 0; ic < sh.m; ic += mcMax {
							impl.pack(dst, sh.trans, src, sh.lda, ic, min(mcMax, sh.m-ic), pc, kc, mr, 1)
						}
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*sh.m*sh.k), "ns/elem")
			})
		}
	}
}
