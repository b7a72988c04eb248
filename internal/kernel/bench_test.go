package kernel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// gemmShape is a benchmarked product C(m×n) = A(m×k)·B.
type gemmShape struct {
	name    string
	m, n, k int
	transB  bool
}

// benchShapes are the square sizes and the LSTM shapes (M rows of a batch
// or of batch×time, N = 4H fused gates, K = H; the weights are stored
// PyTorch-style as 4H×H, hence transB).
func benchShapes() []gemmShape {
	var s []gemmShape
	for _, n := range []int{64, 128, 256, 512, 1024, 2048} {
		s = append(s, gemmShape{fmt.Sprintf("square/%d", n), n, n, n, false})
	}
	for _, h := range []int{200, 512, 650, 1024} {
		for _, m := range []int{1, 20, 64, 1000} {
			s = append(s, gemmShape{fmt.Sprintf("lstm/M=%d/H=%d", m, h), m, 4 * h, h, true})
		}
	}
	return s
}

func benchGemm(b *testing.B, sh gemmShape, threads int, im *gemmImpl[float32]) {
	r := rand.New(rand.NewPCG(1, 2))
	a := randSlice[float32](r, sh.m*sh.k)
	bm := randSlice[float32](r, sh.k*sh.n)
	c := make([]float32, sh.m*sh.n)
	ldb := sh.n
	if sh.transB {
		ldb = sh.k
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		gemmRun(im, threads, false, false, sh.transB, sh.m, sh.n, sh.k, 1, a, sh.k, bm, ldb, 0, c, sh.n)
	}
	flops := 2 * float64(sh.m) * float64(sh.n) * float64(sh.k) * float64(b.N)
	b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func BenchmarkSgemm(b *testing.B) {
	for _, sh := range benchShapes() {
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/threads=%d", sh.name, threads), func(b *testing.B) {
				benchGemm(b, sh, threads, sgemmImpl)
			})
		}
	}
}

// BenchmarkSgemmImpls compares the micro-kernel families on one thread.
func BenchmarkSgemmImpls(b *testing.B) {
	for _, im := range sgemmImpls() {
		for _, n := range []int{256, 1024} {
			b.Run(fmt.Sprintf("%s/%d", im.name, n), func(b *testing.B) {
				benchGemm(b, gemmShape{m: n, n: n, k: n}, 1, im)
			})
		}
	}
}

func BenchmarkDgemm(b *testing.B) {
	for _, n := range []int{64, 256} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 2))
			a := randSlice[float64](r, n*n)
			bm := randSlice[float64](r, n*n)
			c := make([]float64, n*n)
			for i := 0; i < b.N; i++ {
				GemmThreads(1, false, false, n, n, n, 1, a, n, bm, n, 0, c, n)
			}
			b.ReportMetric(2*float64(n*n*n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

var sinkF32 float32

const vecLen = 4096

func vecInput() []float32 {
	r := rand.New(rand.NewPCG(3, 4))
	x := make([]float32, vecLen)
	for i := range x {
		x[i] = float32(r.Float64()*16 - 8)
	}
	return x
}

func benchVec(b *testing.B, f func(dst, x []float32)) {
	x := vecInput()
	dst := make([]float32, len(x))
	b.SetBytes(int64(4 * len(x)))
	for i := 0; i < b.N; i++ {
		f(dst, x)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(x)), "ns/elem")
}

// The scalar baselines: a plain loop over math.Exp in float64.
func scalarSigmoid(dst, x []float32) {
	for i, v := range x {
		dst[i] = float32(1 / (1 + math.Exp(-float64(v))))
	}
}

func scalarTanh(dst, x []float32) {
	for i, v := range x {
		e := math.Exp(2 * float64(v))
		dst[i] = float32((e - 1) / (e + 1))
	}
}

func scalarExp(dst, x []float32) {
	for i, v := range x {
		dst[i] = float32(math.Exp(float64(v)))
	}
}

func BenchmarkSigmoid(b *testing.B) {
	b.Run("kernel", func(b *testing.B) { benchVec(b, Sigmoid[float32]) })
	b.Run("scalar-math.Exp", func(b *testing.B) { benchVec(b, scalarSigmoid) })
}

func BenchmarkTanh(b *testing.B) {
	b.Run("kernel", func(b *testing.B) { benchVec(b, Tanh[float32]) })
	b.Run("scalar-math.Exp", func(b *testing.B) { benchVec(b, scalarTanh) })
}

func BenchmarkExp(b *testing.B) {
	b.Run("kernel", func(b *testing.B) { benchVec(b, Exp[float32]) })
	b.Run("scalar-math.Exp", func(b *testing.B) { benchVec(b, scalarExp) })
}

func BenchmarkAxpy(b *testing.B) {
	x := vecInput()
	y := make([]float32, len(x))
	b.SetBytes(int64(8 * len(x)))
	for i := 0; i < b.N; i++ {
		Axpy(0.5, x, y)
	}
}

func BenchmarkDot(b *testing.B) {
	x := vecInput()
	b.SetBytes(int64(8 * len(x)))
	for i := 0; i < b.N; i++ {
		sinkF32 += Dot(x, x)
	}
}
