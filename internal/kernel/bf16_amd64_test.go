//go:build amd64 && !purego

package kernel

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestBF16MatchesHardware checks toBF16 against VCVTNE2PS2BF16 bit for
// bit: every sign, exponent and top mantissa bits (all 2¹⁶ upper halves)
// with lower halves just below, at and above the rounding tie, at the
// extremes and at random.
func TestBF16MatchesHardware(t *testing.T) {
	if !hasBF16 {
		t.Skip("no AVX512_BF16")
	}
	r := rand.New(rand.NewPCG(9, 10))
	lows := []uint32{0, 1, 0x7ffe, 0x7fff, 0x8000, 0x8001, 0xfffe, 0xffff}
	src := make([]float32, 0, 1<<16*(len(lows)+2))
	for hi := uint32(0); hi < 1<<16; hi++ {
		for _, lo := range lows {
			src = append(src, math.Float32frombits(hi<<16|lo))
		}
		src = append(src, math.Float32frombits(hi<<16|r.Uint32()&0xffff), math.Float32frombits(hi<<16|r.Uint32()&0xffff))
	}
	src = src[:len(src)&^31]
	dst := make([]uint32, len(src)/2)
	cvtBF16AVX512(&dst[0], &src[0], len(src))
	for i, x := range src {
		hw := uint16(dst[i/2] >> (16 * (i % 2)))
		if sw := toBF16(x); sw != hw {
			t.Fatalf("toBF16(%#08x) = %#04x, VCVTNE2PS2BF16 gives %#04x", math.Float32bits(x), sw, hw)
		}
	}
}
