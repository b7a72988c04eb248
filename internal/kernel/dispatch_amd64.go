//go:build amd64 && !purego

package kernel

import "golang.org/x/sys/cpu"

var (
	hasAVX2   = cpu.X86.HasAVX2 && cpu.X86.HasFMA
	hasAVX512 = hasAVX2 && cpu.X86.HasAVX512F
)

func asmKernels(ks []func(k int, a, b, c *float32, ldc int, beta float32)) []microKernel[float32] {
	out := make([]microKernel[float32], len(ks))
	for i, k := range ks {
		if k != nil {
			out[i] = k
		}
	}
	return out
}

var (
	avx512Impl = &gemmImpl[float32]{
		name: "avx512", mr: 14, nr: 32, kernels: asmKernels(sgemmAVX512Kernels[:]),
		wide: asmKernels(sgemmAVX512Wide[:]), wideQ: sgemmAVX512WideQ[:], fma: true,
		kc: 512, kcSmall: 256, mc: 14 * 12, nc: 4096,
	}
	avx2Impl = &gemmImpl[float32]{
		name: "avx2", mr: 6, nr: 16, kernels: asmKernels(sgemmAVX2Kernels[:]),
		wide: asmKernels(sgemmAVX2Wide[:]), wideQ: sgemmAVX2WideQ[:], fma: true,
		kc: 256, mc: 6 * 24, nc: 4096,
	}
)

// sgemmImpls lists the float32 GEMM implementations this CPU can run,
// fastest first.
func sgemmImpls() []*gemmImpl[float32] {
	var l []*gemmImpl[float32]
	if hasAVX512 {
		l = append(l, avx512Impl)
	}
	if hasAVX2 {
		l = append(l, avx2Impl)
	}
	return append(l, goImpl32)
}
