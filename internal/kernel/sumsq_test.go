package kernel

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// exactSumSquares is Σ x[i]² in 512-bit binary floating point: exact for
// the inputs of these tests, whose squares are exact in float64 and span
// far fewer than 512 bits of exponent.
func exactSumSquares[T Float](x []T) float64 {
	s := new(big.Float).SetPrec(512)
	var sq big.Float
	sq.SetPrec(512)
	for _, v := range x {
		f := big.NewFloat(float64(v)).SetPrec(512)
		sq.Mul(f, f)
		s.Add(s, &sq)
	}
	r, _ := s.Float64()
	return r
}

// sumSqBound is the documented relative error bound of SumSquares.
func sumSqBound(n int, is32 bool) float64 {
	k := float64((n+sumSqLanes-1)/sumSqLanes + 4)
	if !is32 {
		k++
	}
	return k * 0x1p-53
}

// sumSquaresWith is SumSquares for float32 with blocks in place of
// sumSquares32.
func sumSquaresWith(blocks func(acc *[sumSqLanes]float64, x []float32), x []float32) float64 {
	var acc [sumSqLanes]float64
	n := len(x) &^ (sumSqLanes - 1)
	blocks(&acc, x[:n])
	for j, v := range x[n:] {
		acc[j] += float64(v) * float64(v)
	}
	for w := sumSqLanes / 2; w >= 1; w /= 2 {
		for j := 0; j < w; j++ {
			acc[j] += acc[j+w]
		}
	}
	return acc[0]
}

// sumSquaresBlocks returns the float32 block kernels this build and CPU
// can run, by name: the portable loop and the SIMD ones.
func sumSquaresBlocks() map[string]func(acc *[sumSqLanes]float64, x []float32) {
	m := sumSquaresSIMD()
	if m == nil {
		m = map[string]func(acc *[sumSqLanes]float64, x []float32){}
	}
	m["go"] = sumSquaresGo[float32]
	return m
}

// sumSquaresPaths returns SumSquares of x and the same sum through every
// block kernel, by name.
func sumSquaresPaths(x []float32) map[string]float64 {
	out := map[string]float64{"SumSquares": SumSquares(x)}
	for name, f := range sumSquaresBlocks() {
		out[name] = sumSquaresWith(f, x)
	}
	return out
}

// TestSumSquares checks SumSquares against the exact sum within the
// documented bound, on every length up to 100 and on large inputs whose
// float32 squares would overflow or underflow, and that all paths return
// the same bits.
func TestSumSquares(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	type tc struct {
		name string
		x    []float32
	}
	gen := func(n int, f func() float64) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(f())
		}
		return x
	}
	cases := []tc{}
	for n := 0; n <= 100; n++ {
		cases = append(cases, tc{"normal", gen(n, r.NormFloat64)})
	}
	cases = append(cases,
		tc{"normal-large", gen(1<<20+13, r.NormFloat64)},
		tc{"1e20", gen(100003, func() float64 { return 1e20 * (r.Float64()*2 - 1) })},
		tc{"3e38", gen(4099, func() float64 { return 3.4e38 * r.Float64() })},
		tc{"tiny", gen(999, func() float64 { return 1e-30 * r.NormFloat64() })},
		tc{"mixed", gen(1<<16+31, func() float64 { return math.Pow(10, 70*r.Float64()-35) * r.NormFloat64() })},
		tc{"gradient-like", gen(1<<18, func() float64 { return 1e-4 * r.NormFloat64() * math.Exp(3*r.NormFloat64()) })},
	)
	for _, c := range cases {
		want := exactSumSquares(c.x)
		paths := sumSquaresPaths(c.x)
		got := paths["SumSquares"]
		if math.IsInf(got, 0) || math.Abs(got-want) > sumSqBound(len(c.x), true)*want {
			t.Errorf("%s n=%d: SumSquares = %.17g, want %.17g (relative error %.3g, bound %.3g)",
				c.name, len(c.x), got, want, math.Abs(got-want)/want, sumSqBound(len(c.x), true))
		}
		for name, v := range paths {
			if math.Float64bits(v) != math.Float64bits(got) {
				t.Errorf("%s n=%d: path %s = %.17g, SumSquares = %.17g", c.name, len(c.x), name, v, got)
			}
		}
	}
}

// TestSumSquaresSpecial checks NaN, infinities and the float64 version.
func TestSumSquaresSpecial(t *testing.T) {
	for _, n := range []int{1, 31, 32, 33, 100} {
		for _, pos := range []int{0, n / 2, n - 1} {
			for _, v := range []float32{float32(math.NaN()), float32(math.Inf(-1)), float32(math.Inf(1))} {
				x := make([]float32, n)
				for i := range x {
					x[i] = 1
				}
				x[pos] = v
				for name, got := range sumSquaresPaths(x) {
					if math.IsNaN(float64(v)) != math.IsNaN(got) || !math.IsNaN(got) && !math.IsInf(got, 1) {
						t.Errorf("n=%d x[%d]=%v: %s = %v", n, pos, v, name, got)
					}
				}
			}
		}
	}
	r := rand.New(rand.NewPCG(13, 14))
	for _, n := range []int{0, 1, 33, 10007} {
		x := make([]float64, n)
		for i := range x {
			x[i] = r.NormFloat64() * 1e100
		}
		// Squares of float64 round: compare with the exact sum of the
		// exact squares.
		want := exactSumSquares(x)
		if got := SumSquares(x); math.Abs(got-want) > sumSqBound(n, false)*want {
			t.Errorf("float64 n=%d: SumSquares = %.17g, want %.17g", n, got, want)
		}
	}
	if got := SumSquares([]float32{3, 4}); got != 25 {
		t.Errorf("SumSquares(3, 4) = %v", got)
	}
}

// BenchmarkSumSquares compares SumSquares (the SIMD path where the CPU has
// one) and each of its block kernels with the plain sequential float64
// loop it replaces, on a 2M-element gradient (the 10000×200 output layer,
// beyond L2) and a 64K one (in L2).
func BenchmarkSumSquares(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{2_000_000, 1 << 16} {
		x := randSlice[float32](r, n)
		impls := []struct {
			name string
			f    func([]float32) float64
		}{
			{"loop", func(x []float32) float64 {
				var s float64
				for _, v := range x {
					s += float64(v) * float64(v)
				}
				return s
			}},
			{"SumSquares", SumSquares[float32]},
		}
		blocks := sumSquaresBlocks()
		for _, name := range []string{"go", "avx2", "avx512"} {
			if f, ok := blocks[name]; ok {
				impls = append(impls, struct {
					name string
					f    func([]float32) float64
				}{name, func(x []float32) float64 { return sumSquaresWith(f, x) }})
			}
		}
		for _, im := range impls {
			b.Run(fmt.Sprintf("n=%d/%s", n, im.name), func(b *testing.B) {
				b.SetBytes(int64(4 * n))
				for b.Loop() {
					im.f(x)
				}
			})
		}
	}
}
