package kernel

import "unsafe"

// The portable micro-kernels: 4×4 tiles in plain Go, used for float64
// always and for float32 on CPUs without AVX2+FMA or under the purego tag.

const goMR, goNR = 4, 4

// goKernel4x4 is the full 4×4 portable micro-kernel with its sixteen
// accumulators in locals.
func goKernel4x4[T Float](k int, a, b, c *T, ldc int, beta T) {
	as := unsafe.Slice(a, 4*k)
	bs := unsafe.Slice(b, 4*k)
	cs := unsafe.Slice(c, 3*ldc+4)
	c00, c01, c02, c03 := loadRow(cs[0:4:4], beta)
	c10, c11, c12, c13 := loadRow(cs[ldc:ldc+4:ldc+4], beta)
	c20, c21, c22, c23 := loadRow(cs[2*ldc:2*ldc+4:2*ldc+4], beta)
	c30, c31, c32, c33 := loadRow(cs[3*ldc:3*ldc+4:3*ldc+4], beta)
	for p := 0; p < k; p++ {
		ap := as[4*p : 4*p+4 : 4*p+4]
		bp := bs[4*p : 4*p+4 : 4*p+4]
		a0, a1, a2, a3 := ap[0], ap[1], ap[2], ap[3]
		b0, b1, b2, b3 := bp[0], bp[1], bp[2], bp[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
	}
	storeRow(cs[0:4:4], c00, c01, c02, c03)
	storeRow(cs[ldc:ldc+4:ldc+4], c10, c11, c12, c13)
	storeRow(cs[2*ldc:2*ldc+4:2*ldc+4], c20, c21, c22, c23)
	storeRow(cs[3*ldc:3*ldc+4:3*ldc+4], c30, c31, c32, c33)
}

// loadRow returns the starting values of four accumulators, beta·c (as
// the assembly kernels, c unread when beta is zero and unscaled when it is
// one).
func loadRow[T Float](c []T, beta T) (v0, v1, v2, v3 T) {
	switch beta {
	case 0:
		return 0, 0, 0, 0
	case 1:
		return c[0], c[1], c[2], c[3]
	}
	return beta * c[0], beta * c[1], beta * c[2], beta * c[3]
}

func storeRow[T Float](c []T, v0, v1, v2, v3 T) {
	c[0], c[1], c[2], c[3] = v0, v1, v2, v3
}

// goKernelRows returns the portable micro-kernel for an h×4 edge tile
// (h < 4).
func goKernelRows[T Float](h int) microKernel[T] {
	return func(k int, a, b, c *T, ldc int, beta T) {
		as := unsafe.Slice(a, h*k)
		bs := unsafe.Slice(b, 4*k)
		cs := unsafe.Slice(c, (h-1)*ldc+4)
		var acc [goMR][goNR]T
		for i := 0; i < h; i++ {
			r := &acc[i]
			r[0], r[1], r[2], r[3] = loadRow(cs[i*ldc:i*ldc+4:i*ldc+4], beta)
		}
		for p := 0; p < k; p++ {
			bp := bs[4*p : 4*p+4 : 4*p+4]
			for i := 0; i < h; i++ {
				ai := as[p*h+i]
				acc[i][0] += ai * bp[0]
				acc[i][1] += ai * bp[1]
				acc[i][2] += ai * bp[2]
				acc[i][3] += ai * bp[3]
			}
		}
		for i := 0; i < h; i++ {
			storeRow(cs[i*ldc:i*ldc+4:i*ldc+4], acc[i][0], acc[i][1], acc[i][2], acc[i][3])
		}
	}
}

func newGoImpl[T Float]() *gemmImpl[T] {
	return &gemmImpl[T]{
		name: "go", mr: goMR, nr: goNR,
		kernels: []microKernel[T]{nil, goKernelRows[T](1), goKernelRows[T](2), goKernelRows[T](3), goKernel4x4[T]},
		kc:      256, mc: 64, nc: 1024,
	}
}

var (
	goImpl32 = newGoImpl[float32]()
	goImpl64 = newGoImpl[float64]()
)
