//go:build !amd64 || purego

package kernel

// hasBF16 is false: this build has only the portable bf16 kernels.
const hasBF16 = false

// bf16Impls lists the bf16 implementations this build can run.
func bf16Impls() []*bf16Impl {
	return []*bf16Impl{bf16GoImpl}
}

// packABF16SIMD reports false: this build packs with packABF16Go.
func packABF16SIMD(dst, tmp []uint32, a []float32, lda, ic, mc, pc, kc, mr int) ([]uint32, bool) {
	return tmp, false
}
