//go:build !amd64 || purego

package kernel

const (
	hasAVX2   = false
	hasAVX512 = false
)

// sgemmImpls lists the float32 GEMM implementations this build can run,
// fastest first.
func sgemmImpls() []*gemmImpl[float32] {
	return []*gemmImpl[float32]{goImpl32}
}
