package kernel

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkGemmPackedBF16 compares the bf16 product with the float32
// GemmPacked at the LSTM shapes (M rows of a batch or of batch×time, N = 4H
// fused gates, K = H, the weights stored 4H×H as in PyTorch), on one and
// two threads. The two variants of each shape run next to each other;
// compare the GFLOP/s (2·M·N·K per call) of the "f32" and "bf16" lines.
// Run it with -cpu 2 so the pool has a second thread.
func BenchmarkGemmPackedBF16(b *testing.B) {
	shapes := [][3]int{{1, 1024, 256}, {100, 1024, 256}, {1, 2048, 512}, {20, 2048, 512}, {50, 2048, 512}, {64, 2048, 512}, {3200, 2048, 512}, {20, 2600, 650}}
	for _, sh := range shapes {
		m, n, k := sh[0], sh[1], sh[2]
		r := rand.New(rand.NewPCG(1, 2))
		a := randSlice[float32](r, m*k)
		w := randSlice[float32](r, n*k)
		c := make([]float32, m*n)
		p32 := PackB(true, k, n, w, k, m)
		p16 := PackBF16(true, k, n, w, k)
		flops := 2 * float64(m) * float64(n) * float64(k)
		for _, threads := range []int{1, 2} {
			name := fmt.Sprintf("M=%d/N=%d/K=%d/threads=%d", m, n, k, threads)
			b.Run(name+"/f32", func(b *testing.B) {
				for b.Loop() {
					gemmPacked(threads, false, m, 1, a, k, p32, 0, c, n)
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
			b.Run(name+"/bf16", func(b *testing.B) {
				for b.Loop() {
					gemmPackedBF16(bf16Default, threads, m, 1, a, k, p16, 0, c, n)
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
