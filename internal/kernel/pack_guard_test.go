//go:build linux

package kernel

import (
	"math/rand/v2"
	"os"
	"syscall"
	"testing"
	"unsafe"
)

// guarded returns a float32 slice of length n between two inaccessible
// pages, flush against the following one when atEnd and against the
// preceding one otherwise, so that any read outside it faults.
func guarded(t *testing.T, n int, atEnd bool) []float32 {
	t.Helper()
	page := os.Getpagesize()
	size := (4*n + page - 1) / page * page
	mem, err := syscall.Mmap(-1, 0, size+2*page, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Skipf("mmap: %v", err)
	}
	t.Cleanup(func() { syscall.Munmap(mem) })
	if err := syscall.Mprotect(mem[:page], syscall.PROT_NONE); err != nil {
		t.Skipf("mprotect: %v", err)
	}
	if err := syscall.Mprotect(mem[page+size:], syscall.PROT_NONE); err != nil {
		t.Skipf("mprotect: %v", err)
	}
	off := page
	if atEnd {
		off += size - 4*n
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&mem[off])), n)
}

// TestPackAGuarded packs blocks that touch the first or the last element
// of a source bordered by inaccessible pages: the SIMD kernels' masked
// loads must not read past the panel (a fault would crash the test).
func TestPackAGuarded(t *testing.T) {
	testPackGuarded(t, 14, func(c packCase, a []float32, lda int) { checkPack(t, c, a, lda) })
}

// testPackGuarded runs check on blocks of panels mr tall at the start or
// the end of a guarded source.
func testPackGuarded(t *testing.T, mr int, check func(c packCase, a []float32, lda int)) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, trans := range []bool{false, true} {
		for _, mc := range []int{1, mr - 1, mr, mr + 1, 2*mr + 1} {
			for _, kc := range []int{1, 9, 16, 23, 40} {
				for _, pad := range []int{0, 3} {
					for _, atEnd := range []bool{false, true} {
						for _, alpha := range []float32{1, 0.5} {
							c := packCase{trans: trans, mr: mr, mc: mc, kc: kc, pad: pad, alpha: alpha}
							src, lda := c.source(r)
							a := guarded(t, len(src), atEnd)
							copy(a, src)
							check(c, a, lda)
						}
					}
				}
			}
		}
	}
}
