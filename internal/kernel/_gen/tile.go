package main

import (
	"bytes"
	"fmt"
)

// tileSpec is one micro-kernel: mr rows of C by q panels of nr columns,
// float32 FMAs or (bf16) VDPBF16PS on depth pairs.
//
// Every kernel computes each element of its tile as one chain of
// multiply-adds in depth order, starting from beta·C (from zero when beta
// is ±0, from C itself when beta is 1): the accumulators are loaded from C
// before the loop, not added to it afterwards. A product cut into depth
// slices therefore gives the same bits as one uncut chain, whatever the
// slice boundaries, the tile height or the number of rows of C: this is
// what makes the products batch-invariant (docs/architecture.md, "Batch
// invariance"). Short tiles, whose single chain per accumulator would be
// latency-bound, take several panels at once (q > 1) instead of splitting
// the depth over two accumulator sets, which would change the order.
type tileSpec struct {
	name   string // function name
	reg    string // "Z" or "Y"
	nregs  int    // vector registers: 32 or 16
	vec    int    // float32 lanes per register
	nr     int    // columns per panel
	mr, q  int    // rows, panels
	bf16   bool   // VDPBF16PS on bf16 pairs (k counts pairs)
	unroll int    // depth steps per loop iteration, a power of two
}

func genTile(w *bytes.Buffer, t tileSpec) {
	p := func(format string, args ...any) { fmt.Fprintf(w, "\t"+format+"\n", args...) }
	r := func(i int) string { return fmt.Sprintf("%s%d", t.reg, i) }
	nv := t.nr / t.vec
	vb := t.vec * 4 // bytes per vector
	pb := t.nr * 4  // bytes per packed row of a panel
	na := t.mr * nv * t.q
	acc := func(row, panel, v int) int { return row*nv*t.q + panel*nv + v }
	aReg := []string{r(t.nregs - 2), r(t.nregs - 1)}
	bRegs := na+t.q*nv <= t.nregs-2
	if !bRegs && t.bf16 {
		panic("bf16 kernel without B registers")
	}
	bReg := func(panel, v int) int { return na + panel*nv + v }
	idx := []string{"", "(BX*1)", "(BX*2)", "(R11*1)"}
	tag := fmt.Sprintf("%dw%d", t.mr, t.q)
	op := "k"
	if t.bf16 {
		op = "kp"
	}
	fmt.Fprintf(w, "\n// func %s(%s int, a, b, c *float32, ldc int, beta float32)\n", t.name, op)
	fmt.Fprintf(w, "TEXT ·%s(SB), NOSPLIT, $0-44\n", t.name)
	p("MOVQ %s+0(FP), CX", op)
	p("MOVQ a+8(FP), SI")
	p("MOVQ b+16(FP), DI")
	p("MOVQ c+24(FP), R8")
	p("MOVQ ldc+32(FP), R9")
	p("SHLQ $2, R9")
	if t.q > 1 {
		// BX is the distance between panels: k packed rows.
		p("MOVQ CX, BX")
		p("SHLQ $%d, BX", log2(pb))
		if t.q > 3 {
			p("LEAQ (BX)(BX*2), R11")
		}
	}
	// The accumulators start from beta·C.
	forC := func(f func(a int, off int)) {
		p("MOVQ R8, R10")
		for i := 0; i < t.mr; i++ {
			for q := 0; q < t.q; q++ {
				for v := 0; v < nv; v++ {
					f(acc(i, q, v), q*pb+v*vb)
				}
			}
			if i < t.mr-1 {
				p("ADDQ R9, R10")
			}
		}
	}
	p("MOVL beta+40(FP), AX")
	p("TESTL $0x7fffffff, AX")
	p("JZ zero%s", tag)
	p("CMPL AX, $0x3f800000")
	p("JNE scale%s", tag)
	forC(func(a, off int) { p("VMOVUPS %d(R10), %s", off, r(a)) })
	p("JMP start%s", tag)
	fmt.Fprintf(w, "scale%s:\n", tag)
	p("VBROADCASTSS beta+40(FP), %s", aReg[0])
	forC(func(a, off int) { p("VMULPS %d(R10), %s, %s", off, aReg[0], r(a)) })
	p("JMP start%s", tag)
	fmt.Fprintf(w, "zero%s:\n", tag)
	// C is only written: prefetch the rows the store will touch.
	p("MOVQ R8, R10")
	for i := 0; i < t.mr; i++ {
		for q := 0; q < t.q; q++ {
			p("PREFETCHT0 %d(R10)", q*pb)
			p("PREFETCHT0 %d(R10)", q*pb+pb-4)
		}
		if i < t.mr-1 {
			p("ADDQ R9, R10")
		}
	}
	for i := 0; i < na; i++ {
		if t.reg == "Z" {
			p("VPXORD %s, %s, %s", r(i), r(i), r(i))
		} else {
			p("VXORPS %s, %s, %s", r(i), r(i), r(i))
		}
	}
	fmt.Fprintf(w, "start%s:\n", tag)
	p("MOVQ CX, DX")
	p("SHRQ $%d, DX", log2(t.unroll))
	p("ANDQ $%d, CX", t.unroll-1)
	p("TESTQ DX, DX")
	p("JZ tail%s", tag)
	fmt.Fprintf(w, "loop%s:\n", tag)
	step := func(u int) {
		bAt := func(q, v int) string { return fmt.Sprintf("%d(DI)%s", u*pb+v*vb, idx[q]) }
		if bRegs {
			for q := 0; q < t.q; q++ {
				for v := 0; v < nv; v++ {
					p("VMOVUPS %s, %s", bAt(q, v), r(bReg(q, v)))
				}
			}
		}
		for i := 0; i < t.mr; i++ {
			a := aReg[i%2]
			p("VBROADCASTSS %d(SI), %s", (u*t.mr+i)*4, a)
			for q := 0; q < t.q; q++ {
				for v := 0; v < nv; v++ {
					switch {
					case t.bf16:
						vdpbf16ps(w, acc(i, q, v), bReg(q, v), regNum(a))
					case bRegs:
						p("VFMADD231PS %s, %s, %s", r(bReg(q, v)), a, r(acc(i, q, v)))
					default:
						p("VFMADD231PS %s, %s, %s", bAt(q, v), a, r(acc(i, q, v)))
					}
				}
			}
		}
	}
	p("PREFETCHT0 %d(SI)", t.unroll*t.mr*4*4)
	for u := 0; u < t.unroll; u++ {
		step(u)
	}
	p("ADDQ $%d, SI", t.unroll*t.mr*4)
	p("ADDQ $%d, DI", t.unroll*pb)
	p("DECQ DX")
	p("JNZ loop%s", tag)
	fmt.Fprintf(w, "tail%s:\n", tag)
	p("TESTQ CX, CX")
	p("JZ store%s", tag)
	fmt.Fprintf(w, "tailloop%s:\n", tag)
	step(0)
	p("ADDQ $%d, SI", t.mr*4)
	p("ADDQ $%d, DI", pb)
	p("DECQ CX")
	p("JNZ tailloop%s", tag)
	fmt.Fprintf(w, "store%s:\n", tag)
	forC(func(a, off int) { p("VMOVUPS %s, %d(R10)", r(a), off) })
	p("VZEROUPPER")
	p("RET")
}

// regNum is the number of a register named like "Z30".
func regNum(s string) int {
	var n int
	fmt.Sscanf(s[1:], "%d", &n)
	return n
}

// wideQ is the number of panels the wide kernel for mr rows takes (0: no
// wide kernel): enough accumulators to hide the multiply-add latency.
func wideQ(mr int) int {
	switch mr {
	case 1:
		return 4
	case 2, 3:
		return 2
	}
	return 0
}
