package kernel

import "testing"

func BenchmarkPackB(b *testing.B) {
	const k, n = 256, 2600
	src := make([]float32, n*650)
	dst := make([]float32, k*(n+32))
	for _, trans := range []bool{false, true} {
		name := "N"
		if trans {
			name = "T"
		}
		b.Run(name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if trans {
					packB(dst, true, src, 650, 0, k, 0, n, 32)
				} else {
					packB(dst, false, src, n, 0, k, 0, n, 32)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*k*n), "ns/elem")
		})
	}
}

func BenchmarkPackA(b *testing.B) {
	const k, m = 256, 336
	src := make([]float32, 1000*1000)
	dst := make([]float32, k*m)
	for _, trans := range []bool{false, true} {
		b.Run(map[bool]string{false: "N", true: "T"}[trans], func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				packA(dst, trans, src, 1000, 0, m, 0, k, 14, 1)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*k*m), "ns/elem")
		})
	}
}
