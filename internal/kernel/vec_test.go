package kernel

import (
	"math"
	"math/rand/v2"
	"testing"
)

const minNormal32 = 0x1p-126

// denseInputs returns float32 values spread over every binade: a stride
// through all bit patterns (both signs, subnormals, up to ±MaxFloat32), the
// special values, and a fine grid over [−110, 110].
func denseInputs(stride uint32) []float32 {
	var xs []float32
	for b := uint64(0); b < 0x7f800000; b += uint64(stride) {
		v := math.Float32frombits(uint32(b))
		xs = append(xs, v, -v)
	}
	xs = append(xs, 0, float32(math.Copysign(0, -1)), math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32,
		minNormal32, -minNormal32, math.MaxFloat32, -math.MaxFloat32,
		float32(math.Inf(1)), float32(math.Inf(-1)),
		88.72283, 88.72284, 88.7, 89, 89.5, -87.33654, -87.4, -103.97, -103.98, -104, -104.5, 0.625, -0.625,
		0.62499994, 0.6250001, 9, 9.1, -9.1, 17, 44, 45, -45)
	for i := -110 * 1024; i < 110*1024; i++ {
		xs = append(xs, float32(i)/1024+float32(i%7)*1e-5)
	}
	return xs
}

// checkUnary compares f32 with the float64 function ref on xs: relative
// error ≤ 1e-6, or ≤ one subnormal step when the exact result is
// subnormal; overflowing results must be +Inf (or MaxFloat32 at the edge);
// NaN must give NaN.
func checkUnary(t *testing.T, name string, f32 func(dst, x []float32), ref func(float64) float64, xs []float32) {
	t.Helper()
	got := make([]float32, len(xs))
	f32(got, xs)
	worst, worstX := 0.0, float32(0)
	fails := 0
	for i, x := range xs {
		g := float64(got[i])
		w := ref(float64(x))
		ok := true
		switch {
		case math.IsNaN(w):
			ok = math.IsNaN(g)
		case math.IsInf(float64(float32(w)), 0):
			ok = g == float64(float32(w)) || math.Abs(g-w) <= 1e-6*math.Abs(w)
		case math.Abs(w) < minNormal32:
			ok = math.Abs(g-w) <= 0x1p-149
		default:
			rel := math.Abs(g-w) / math.Abs(w)
			if rel > worst {
				worst, worstX = rel, x
			}
			ok = rel <= 1e-6
		}
		if !ok {
			fails++
			if fails <= 5 {
				t.Errorf("%s(%g) = %g, want %g", name, x, g, w)
			}
		}
	}
	if fails > 5 {
		t.Errorf("%s: %d failures in all", name, fails)
	}
	t.Logf("%s: max relative error %.3g at x=%g over %d inputs", name, worst, worstX, len(xs))
}

func tanhRef(x float64) float64 { return math.Tanh(x) }

func TestVecTranscendental(t *testing.T) {
	stride := uint32(1237)
	if testing.Short() || raceEnabled {
		stride = 40009
	}
	xs := denseInputs(stride)
	// Also test unaligned tails and in-place use.
	checkUnary(t, "Exp", Exp[float32], math.Exp, xs)
	checkUnary(t, "Sigmoid", Sigmoid[float32], sigmoid64, xs)
	checkUnary(t, "Tanh", Tanh[float32], tanhRef, xs)
	grid := xs[len(xs)-220*1024:] // the fine grid over [−110, 110]
	for n := 0; n <= 19; n++ {
		in := append([]float32(nil), grid[100000+n*37:100000+n*38]...)
		checkUnary(t, "Tanh in place", func(dst, x []float32) { copy(dst, x); Tanh(dst, dst) }, tanhRef, in)
	}
	// The portable versions are the float64 path rounded once.
	checkUnary(t, "expGo", expGo[float32], math.Exp, grid)
	checkUnary(t, "sigmoidGo", sigmoidGo[float32], sigmoid64, grid)
	checkUnary(t, "tanhGo", tanhGo[float32], tanhRef, grid)
	// Float64 entry points.
	x64 := []float64{-800, -30, -1, -1e-300, 0, 1e-10, 0.5, 3, 30, 800, math.Inf(1), math.Inf(-1)}
	d64 := make([]float64, len(x64))
	Sigmoid(d64, x64)
	for i, x := range x64 {
		if w := sigmoid64(x); d64[i] != w {
			t.Errorf("Sigmoid[float64](%g) = %g, want %g", x, d64[i], w)
		}
	}
	Tanh(d64, x64)
	for i, x := range x64 {
		if w := math.Tanh(x); d64[i] != w {
			t.Errorf("Tanh[float64](%g) = %g, want %g", x, d64[i], w)
		}
	}
}

func TestVecSaturation(t *testing.T) {
	var xs []float32
	for x := float32(20); x < 1e6; x *= 1.37 {
		xs = append(xs, x)
	}
	xs = append(xs, math.MaxFloat32, float32(math.Inf(1)))
	s := make([]float32, len(xs))
	th := make([]float32, len(xs))
	neg := make([]float32, len(xs))
	for i, x := range xs {
		neg[i] = -x
	}
	Sigmoid(s, xs)
	Tanh(th, xs)
	for i, x := range xs {
		if s[i] != 1 || th[i] != 1 {
			t.Errorf("Sigmoid(%g) = %g, Tanh = %g, want exactly 1", x, s[i], th[i])
		}
	}
	Tanh(th, neg)
	for i, x := range neg {
		if th[i] != -1 {
			t.Errorf("Tanh(%g) = %g, want exactly -1", x, th[i])
		}
	}
	Sigmoid(s, neg)
	for i, x := range neg {
		if x < -110 && s[i] != 0 {
			t.Errorf("Sigmoid(%g) = %g, want exactly 0", x, s[i])
		}
	}
	for _, v := range []float32{9.5, 12, 15} {
		var d [1]float32
		Tanh(d[:], []float32{v})
		if d[0] != 1 {
			t.Errorf("Tanh(%g) = %g, want exactly 1", v, d[0])
		}
	}
	nan := float32(math.NaN())
	in := []float32{nan, nan, nan, nan, nan, nan, nan, nan, nan}
	out := make([]float32, len(in))
	for _, f := range []func(dst, x []float32){Exp[float32], Sigmoid[float32], Tanh[float32]} {
		f(out, in)
		for i, v := range out {
			if v == v {
				t.Errorf("NaN input %d gave %g", i, v)
			}
		}
	}
	var e [3]float32
	Exp(e[:], []float32{float32(math.Inf(-1)), float32(math.Inf(1)), 0})
	if e[0] != 0 || !math.IsInf(float64(e[1]), 1) || e[2] != 1 {
		t.Errorf("Exp(-Inf, +Inf, 0) = %v", e)
	}
}

// TestVecBLAS checks the BLAS-1 style routines on every length up to 100
// (so all vector/tail splits run) against float64 sums.
func TestVecBLAS(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for n := 0; n <= 100; n++ {
		a := randSlice[float32](r, n)
		b := randSlice[float32](r, n)
		for i := range b {
			b[i] += 3 // keep Div well away from zero
		}
		dst := make([]float32, n)
		check := func(op string, want func(i int) float64) {
			t.Helper()
			for i := range dst {
				w := want(i)
				if math.Abs(float64(dst[i])-w) > 1e-6*math.Max(1, math.Abs(w)) {
					t.Fatalf("%s n=%d: [%d] = %g, want %g", op, n, i, dst[i], w)
				}
			}
		}
		Add(dst, a, b)
		check("Add", func(i int) float64 { return float64(a[i]) + float64(b[i]) })
		Sub(dst, a, b)
		check("Sub", func(i int) float64 { return float64(a[i]) - float64(b[i]) })
		Mul(dst, a, b)
		check("Mul", func(i int) float64 { return float64(a[i]) * float64(b[i]) })
		Div(dst, a, b)
		check("Div", func(i int) float64 { return float64(a[i]) / float64(b[i]) })
		copy(dst, b)
		Axpy(-0.75, a, dst)
		check("Axpy", func(i int) float64 { return float64(b[i]) - 0.75*float64(a[i]) })
		copy(dst, a)
		Scale(1.5, dst)
		check("Scale", func(i int) float64 { return 1.5 * float64(a[i]) })
		var s, d float64
		for i := range a {
			s += float64(a[i])
			d += float64(a[i]) * float64(b[i])
		}
		if got := Sum(a); math.Abs(float64(got)-s) > 1e-5*float64(n+1) {
			t.Errorf("Sum n=%d = %g, want %g", n, got, s)
		}
		if got := Dot(a, b); math.Abs(float64(got)-d) > 1e-5*float64(n+1)*4 {
			t.Errorf("Dot n=%d = %g, want %g", n, got, d)
		}
		a64 := make([]float64, n)
		for i := range a64 {
			a64[i] = float64(a[i])
		}
		if got := Sum(a64); math.Abs(got-s) > 1e-12*float64(n+1) {
			t.Errorf("Sum[float64] n=%d = %g, want %g", n, got, s)
		}
	}
}

func TestVecPanics(t *testing.T) {
	for name, f := range map[string]func(){
		"Add":     func() { Add(make([]float32, 3), make([]float32, 3), make([]float32, 2)) },
		"Axpy":    func() { Axpy(1, make([]float32, 3), make([]float32, 4)) },
		"Dot":     func() { Dot(make([]float64, 3), make([]float64, 4)) },
		"Sigmoid": func() { Sigmoid(make([]float32, 3), make([]float32, 4)) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s with mismatched lengths did not panic", name)
				}
			}()
			f()
		}()
	}
}

func TestShiftAndMax(t *testing.T) {
	for _, n := range []int{1, 7, 8, 9, 31, 32, 33, 100, 1027} {
		x := make([]float32, n)
		x64 := make([]float64, n)
		for i := range x {
			x[i] = float32(math.Sin(float64(i)*1.7) * 100)
			x64[i] = float64(x[i])
		}
		want := x[0]
		for _, v := range x {
			want = max(want, v)
		}
		if got := Max(x); got != want {
			t.Errorf("n=%d: Max = %v, want %v", n, got, want)
		}
		if got := Max(x64); got != float64(want) {
			t.Errorf("n=%d: float64 Max = %v, want %v", n, got, want)
		}
		y := append([]float32(nil), x...)
		Shift(float32(-2.5), y)
		for i := range y {
			if y[i] != x[i]-2.5 {
				t.Fatalf("n=%d: Shift[%d] = %v, want %v", n, i, y[i], x[i]-2.5)
			}
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("Max of an empty slice did not panic")
		}
	}()
	Max([]float32{})
}
