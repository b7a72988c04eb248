//go:build linux && amd64 && !purego

package kernel

import "testing"

// TestPackAAVX2Guarded is TestPackAGuarded for the AVX2 kernels.
func TestPackAAVX2Guarded(t *testing.T) {
	if !hasAVX2 {
		t.Skip("no AVX2")
	}
	for _, mr := range []int{6, 8} {
		testPackGuarded(t, mr, func(c packCase, a []float32, lda int) { checkPackWith(t, c, a, lda, packA32AVX2) })
	}
}
