//go:build !amd64 || purego

package kernel

// packA32 reports false: this build packs A with the portable packAGo.
func packA32(dst []float32, trans bool, a []float32, lda, ic, mc, pc, kc, mr int, alpha float32) bool {
	return false
}

// hasGemvT is false: this build has no one-row kernel for a transposed B.
const hasGemvT = false

// gemvT32 is never called in this build.
func gemvT32(c, x, w []float32, ldw, k int) { panic("kernel: gemvT32 without AVX-512") }
