//go:build !amd64 || purego

package kernel

// packA32 reports false: this build packs A with the portable packAGo.
func packA32(dst []float32, trans bool, a []float32, lda, ic, mc, pc, kc, mr int, alpha float32) bool {
	return false
}
