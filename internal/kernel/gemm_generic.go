package kernel

// gemmGeneric is the portable GEMM: it scales C by beta once and then adds
// alpha·op(A)·op(B) row by row, with the innermost loop running along a row
// of B or C so that memory is read sequentially in the common cases.
func gemmGeneric[T Float](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	for i := 0; i < m; i++ {
		ci := c[i*ldc : i*ldc+n]
		switch beta {
		case 0:
			clear(ci)
		case 1:
		default:
			for j := range ci {
				ci[j] *= beta
			}
		}
	}
	if alpha == 0 || k == 0 {
		return
	}
	for i := 0; i < m; i++ {
		ci := c[i*ldc : i*ldc+n]
		if !transB {
			for p := 0; p < k; p++ {
				var aip T
				if transA {
					aip = a[p*lda+i]
				} else {
					aip = a[i*lda+p]
				}
				if aip == 0 {
					continue
				}
				aip *= alpha
				bp := b[p*ldb : p*ldb+n]
				for j, v := range bp {
					ci[j] += aip * v
				}
			}
			continue
		}
		for j := 0; j < n; j++ {
			bj := b[j*ldb : j*ldb+k]
			var s T
			if transA {
				for p, v := range bj {
					s += a[p*lda+i] * v
				}
			} else {
				ai := a[i*lda : i*lda+k]
				for p, v := range bj {
					s += ai[p] * v
				}
			}
			ci[j] += alpha * s
		}
	}
}

func sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	gemmGeneric(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func dgemm(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	gemmGeneric(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}
