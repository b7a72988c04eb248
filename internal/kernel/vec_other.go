//go:build !amd64 || purego

package kernel

func exp32(dst, x []float32)               { expGo(dst, x) }
func sigmoid32(dst, x []float32)           { sigmoidGo(dst, x) }
func tanh32(dst, x []float32)              { tanhGo(dst, x) }
func axpy32(alpha float32, x, y []float32) { axpyGo(alpha, x, y) }
func scale32(alpha float32, x []float32)   { scaleGo(alpha, x) }
func add32(dst, a, b []float32)            { addGo(dst, a, b) }
func sub32(dst, a, b []float32)            { subGo(dst, a, b) }
func mul32(dst, a, b []float32)            { mulGo(dst, a, b) }
func div32(dst, a, b []float32)            { divGo(dst, a, b) }
func sum32(x []float32) float32            { return sumGo(x) }
func shift32(c float32, x []float32)       { shiftGo(c, x) }
func max32(x []float32) float32            { return maxGo(x) }
func dot32(x, y []float32) float32         { return dotGo(x, y) }

func sumSquares32(acc *[sumSqLanes]float64, x []float32) { sumSquaresGo(acc, x) }

func dot4(x, b []float32, ldb int, out *[4]float32) bool { return false }

func lstmBackwardCols(d, dh, dc, act, ct, cp []float32, h int) int { return 0 }

func packBT(dst, src []float32, ldb, kc, nr int) int { return 0 }

func packBN(dst, src []float32, ldb, kc, nr int) bool { return false }
