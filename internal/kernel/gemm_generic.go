package kernel

// gemmGeneric is the unpacked GEMM used for tiny products, where packing
// costs more than it saves: it scales C by beta once and then adds
// alpha·op(A)·op(B) row by row, with the innermost loop running along a row
// of B or C so that memory is read sequentially in the common cases.
func gemmGeneric[T Float](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	scaleC(m, n, beta, c, ldc)
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
