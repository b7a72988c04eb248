//go:build !amd64 || purego

package kernel

// sumSquaresSIMD returns no kernels: this build has only the portable loop.
func sumSquaresSIMD() map[string]func(acc *[sumSqLanes]float64, x []float32) { return nil }
