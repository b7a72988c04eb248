//go:build amd64 && !purego

package kernel

// sumSquaresSIMD returns the float32 sum-of-squares kernels this CPU can
// run, by name, with the signature of sumSquares32.
func sumSquaresSIMD() map[string]func(acc *[sumSqLanes]float64, x []float32) {
	m := map[string]func(acc *[sumSqLanes]float64, x []float32){}
	if hasAVX512 {
		m["avx512"] = func(acc *[sumSqLanes]float64, x []float32) {
			if len(x) > 0 {
				sumSquaresAVX512(acc, &x[0], len(x))
			}
		}
	}
	if hasAVX2 {
		m["avx2"] = func(acc *[sumSqLanes]float64, x []float32) {
			if len(x) > 0 {
				sumSquaresAVX2(acc, &x[0], len(x))
			}
		}
	}
	return m
}
