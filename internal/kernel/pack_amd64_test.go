//go:build amd64 && !purego

package kernel

import (
	"math/rand/v2"
	"testing"
)

// TestPackAAVX2 checks the AVX2 pack kernels, which packA uses only on
// CPUs without AVX-512, against packAGo on the shapes of TestPackA.
func TestPackAAVX2(t *testing.T) {
	if !hasAVX2 {
		t.Skip("no AVX2")
	}
	r := rand.New(rand.NewPCG(9, 10))
	kcs := []int{1, 2, 7, 8, 9, 15, 16, 17, 33, 100, 256}
	eachPackCase([]int{6, 8, 4, 1, 3}, kcs, func(c packCase) {
		a, lda := c.source(r)
		checkPackWith(t, c, a, lda, packA32AVX2)
	})
}

// BenchmarkPackAAVX2 is BenchmarkPackA with the AVX2 GEMM's blocking (mr =
// 6, mc = 144, kc ≤ 256), comparing packAGo with the AVX2 kernels.
func BenchmarkPackAAVX2(b *testing.B) {
	if !hasAVX2 {
		b.Skip("no AVX2")
	}
	benchPackA(b, 6, 6*24, 256, []packImpl{{"go", packAGo[float32]}, {"avx2", packA32AVX2}})
}
