package initializer

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/kioku-ml/kioku/internal/testutil"
	"github.com/kioku-ml/kioku/tensor"
)

func TestFans(t *testing.T) {
	tests := []struct {
		shape         []int
		fanIn, fanOut int
	}{
		{[]int{3, 5}, 5, 3},         // Linear weight (out, in)
		{[]int{20, 10}, 10, 20},     // recurrent weight (4H, I)
		{[]int{8, 4, 3}, 12, 24},    // conv1d (out, in, k)
		{[]int{6, 2, 3, 5}, 30, 90}, // conv2d (out, in, kh, kw)
	}
	for _, tc := range tests {
		in, out := Fans(tc.shape)
		if in != tc.fanIn || out != tc.fanOut {
			t.Errorf("Fans(%v) = %d, %d; want %d, %d", tc.shape, in, out, tc.fanIn, tc.fanOut)
		}
	}
}

// moments returns the mean and (population) variance of t's elements.
func moments(t *tensor.Tensor) (mean, variance float64) {
	v := t.Values()
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	for _, x := range v {
		variance += (x - mean) * (x - mean)
	}
	return mean, variance / float64(len(v))
}

// TestDistributions checks empirical moments against the intended ones.
// With n = 40,000 draws the standard error of the mean is σ/200 and that
// of the variance about σ²·√(2/n) ≈ σ²/141 for normals (less for
// uniforms); the tolerances are five standard errors.
func TestDistributions(t *testing.T) {
	const rows, cols = 200, 200 // fanIn = fanOut = 200
	tests := []struct {
		name     string
		fill     func(*tensor.Tensor, *tensor.RNG)
		mean     float64
		variance float64
		bound    float64 // if > 0, |x| ≤ bound (about the mean)
	}{
		{"Uniform", func(x *tensor.Tensor, g *tensor.RNG) { Uniform(x, g, -1, 3) }, 1, 16.0 / 12, 2},
		{"Normal", func(x *tensor.Tensor, g *tensor.RNG) { Normal(x, g, 0.5, 2) }, 0.5, 4, 0},
		{"GlorotUniform", func(x *tensor.Tensor, g *tensor.RNG) { GlorotUniform(x, g, 1) }, 0, 2.0 / 400, math.Sqrt(6.0 / 400)},
		{"GlorotUniformTanh", func(x *tensor.Tensor, g *tensor.RNG) { GlorotUniform(x, g, GainTanh) }, 0, GainTanh * GainTanh * 2 / 400, GainTanh * math.Sqrt(6.0/400)},
		{"GlorotNormal", func(x *tensor.Tensor, g *tensor.RNG) { GlorotNormal(x, g, 1) }, 0, 2.0 / 400, 0},
		{"HeUniform", func(x *tensor.Tensor, g *tensor.RNG) { HeUniform(x, g, GainReLU, FanIn) }, 0, 2.0 / 200, math.Sqrt(6.0 / 200)},
		{"HeNormal", func(x *tensor.Tensor, g *tensor.RNG) { HeNormal(x, g, GainReLU, FanOut) }, 0, 2.0 / 200, 0},
		{"TorchLinearDefault", func(x *tensor.Tensor, g *tensor.RNG) { HeUniform(x, g, GainLeakyReLU(math.Sqrt(5)), FanIn) }, 0, 1.0 / (3 * 200), 1 / math.Sqrt(200)},
	}
	for _, tc := range tests {
		for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
			t.Run(fmt.Sprintf("%s/%v", tc.name, dt), func(t *testing.T) {
				x := tensor.New(dt, rows, cols)
				tc.fill(x, tensor.NewRNG(7))
				mean, variance := moments(x)
				n := float64(x.Size())
				sd := math.Sqrt(tc.variance)
				if math.Abs(mean-tc.mean) > 5*sd/math.Sqrt(n) {
					t.Errorf("mean %.5g; want %.5g ± %.2g", mean, tc.mean, 5*sd/math.Sqrt(n))
				}
				if tol := 5 * tc.variance * math.Sqrt(2/n); math.Abs(variance-tc.variance) > tol {
					t.Errorf("variance %.5g; want %.5g ± %.2g", variance, tc.variance, tol)
				}
				if tc.bound > 0 {
					for i := 0; i < x.Size(); i++ {
						if math.Abs(x.AtFlat(i)-tc.mean) > tc.bound*(1+1e-6) {
							t.Fatalf("element %d = %v outside %v ± %v", i, x.AtFlat(i), tc.mean, tc.bound)
						}
					}
				}
			})
		}
	}
}

func TestSameSeedSameValues(t *testing.T) {
	fills := map[string]func(*tensor.Tensor, *tensor.RNG){
		"Uniform":    func(x *tensor.Tensor, g *tensor.RNG) { Uniform(x, g, -1, 1) },
		"Normal":     func(x *tensor.Tensor, g *tensor.RNG) { Normal(x, g, 0, 1) },
		"Glorot":     func(x *tensor.Tensor, g *tensor.RNG) { GlorotNormal(x, g, 1) },
		"He":         func(x *tensor.Tensor, g *tensor.RNG) { HeUniform(x, g, 1, FanIn) },
		"Orthogonal": func(x *tensor.Tensor, g *tensor.RNG) { Orthogonal(x, g, 1) },
	}
	for name, fill := range fills {
		a, b, c := tensor.Zeros(6, 4), tensor.Zeros(6, 4), tensor.Zeros(6, 4)
		fill(a, tensor.NewRNG(42))
		fill(b, tensor.NewRNG(42))
		fill(c, tensor.NewRNG(43))
		if !tensor.Equal(a, b) {
			t.Errorf("%s: same seed gave different values", name)
		}
		if tensor.Equal(a, c) {
			t.Errorf("%s: different seeds gave the same values", name)
		}
	}
}

// gram returns x·xᵀ (rows set) or xᵀ·x of the row-major m×n matrix x.
func gram(x []float64, m, n int, rows bool) [][]float64 {
	inner, outer := m, n
	at := func(i, p int) float64 { return x[p*n+i] } // column i, row p
	if rows {
		inner, outer = n, m
		at = func(i, p int) float64 { return x[i*n+p] } // row i, column p
	}
	g := make([][]float64, outer)
	for i := range g {
		g[i] = make([]float64, outer)
		for j := range g[i] {
			for p := 0; p < inner; p++ {
				g[i][j] += at(i, p) * at(j, p)
			}
		}
	}
	return g
}

func TestOrthogonal(t *testing.T) {
	shapes := [][]int{{1, 1}, {5, 5}, {64, 64}, {7, 3}, {3, 7}, {20, 5}, {4, 2, 3}, {6, 2, 2}, {3, 4, 5}}
	for _, shape := range shapes {
		for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
			for _, gain := range []float64{1, 2} {
				name := fmt.Sprintf("%v/%v/gain%v", shape, dt, gain)
				x := tensor.New(dt, shape...)
				Orthogonal(x, tensor.NewRNG(3), gain)
				m := shape[0]
				n := x.Size() / m
				v := x.Values()
				for i := range v {
					v[i] /= gain
				}
				// Tall or square: orthonormal columns; wide: orthonormal rows.
				g := gram(v, m, n, m < n)
				for i := range g {
					for j := range g[i] {
						want := 0.0
						if i == j {
							want = 1
						}
						if math.Abs(g[i][j]-want) > 1e-5 {
							t.Fatalf("%s: Gram matrix [%d][%d] = %v; want %v", name, i, j, g[i][j], want)
						}
					}
				}
			}
		}
	}
}

// With the sign correction Q is Haar-distributed: the mean of each entry
// over many draws is 0 and its variance is 1/n. Without the correction
// Householder QR makes every diagonal entry of Q negative on average.
func TestOrthogonalSignCorrection(t *testing.T) {
	const n, draws = 4, 4000
	rng := tensor.NewRNG(11)
	x := tensor.New(tensor.Float64, n, n)
	var diagSum, sq float64
	for range draws {
		Orthogonal(x, rng, 1)
		for i := 0; i < n; i++ {
			diagSum += x.At(i, i)
			sq += x.At(i, i) * x.At(i, i)
		}
	}
	cnt := float64(n * draws)
	if mean := diagSum / cnt; math.Abs(mean) > 5*math.Sqrt(1.0/n/cnt) {
		t.Errorf("mean diagonal entry %v; want 0 (Haar)", mean)
	}
	if v := sq / cnt; math.Abs(v-1.0/n) > 0.02 {
		t.Errorf("mean squared diagonal entry %v; want %v", v, 1.0/n)
	}
}

// The Householder QR reproduces the matrix it factors: Q·R = A with R =
// Qᵀ·A upper triangular with a non-negative diagonal.
func TestOrthonormalQFactors(t *testing.T) {
	const m, n = 6, 4
	rng := tensor.NewRNG(5)
	a := make([]float64, m*n)
	for i := range a {
		a[i] = rng.NormFloat64()
	}
	orig := append([]float64(nil), a...)
	q := orthonormalQ(a, m, n)
	// R = Qᵀ·A
	r := make([]float64, n*n)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			for k := 0; k < m; k++ {
				r[i*n+j] += q[k*n+i] * orig[k*n+j]
			}
		}
	}
	for i := 0; i < n; i++ {
		if r[i*n+i] <= 0 {
			t.Errorf("R[%d][%d] = %v; want > 0", i, i, r[i*n+i])
		}
		for j := 0; j < i; j++ {
			if math.Abs(r[i*n+j]) > 1e-12 {
				t.Errorf("R[%d][%d] = %v; want 0", i, j, r[i*n+j])
			}
		}
	}
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for k := 0; k < n; k++ {
				s += q[i*n+k] * r[k*n+j]
			}
			if math.Abs(s-orig[i*n+j]) > 1e-12 {
				t.Fatalf("(QR)[%d][%d] = %v; want %v", i, j, s, orig[i*n+j])
			}
		}
	}
}

func TestIdentity(t *testing.T) {
	for _, shape := range [][]int{{3, 3}, {2, 4}, {4, 2}} {
		x := tensor.New(tensor.Float32, shape...)
		x.Fill(9)
		Identity(x, 0.5)
		for i := 0; i < shape[0]; i++ {
			for j := 0; j < shape[1]; j++ {
				want := 0.0
				if i == j {
					want = 0.5
				}
				if x.At(i, j) != want {
					t.Errorf("%v: [%d][%d] = %v; want %v", shape, i, j, x.At(i, j), want)
				}
			}
		}
	}
}

func TestConstants(t *testing.T) {
	x := tensor.New(tensor.Float64, 2, 3)
	Constant(x, 2.5)
	if x.Sum() != 15 {
		t.Errorf("Constant: sum %v", x.Sum())
	}
	Ones(x)
	if x.Sum() != 6 {
		t.Errorf("Ones: sum %v", x.Sum())
	}
	Zeros(x)
	if x.MaxAbs() != 0 {
		t.Errorf("Zeros: max %v", x.MaxAbs())
	}
}

func TestGains(t *testing.T) {
	if math.Abs(GainLeakyReLU(0)-GainReLU) > 1e-15 {
		t.Errorf("GainLeakyReLU(0) = %v; want √2", GainLeakyReLU(0))
	}
	if got := GainLeakyReLU(math.Sqrt(5)); math.Abs(got-1/math.Sqrt(3)) > 1e-15 {
		t.Errorf("GainLeakyReLU(√5) = %v; want 1/√3", got)
	}
}

func TestMisusePanics(t *testing.T) {
	rng := tensor.NewRNG(1)
	tests := []struct {
		name string
		f    func()
		msg  string
	}{
		{"Fans1D", func() { Fans([]int{5}) }, "[5]"},
		{"Glorot1D", func() { GlorotUniform(tensor.Zeros(4), rng, 1) }, "[4]"},
		{"He0D", func() { HeNormal(tensor.Zeros(), rng, 1, FanIn) }, "[]"},
		{"Orthogonal1D", func() { Orthogonal(tensor.Zeros(3), rng, 1) }, "[3]"},
		{"Identity3D", func() { Identity(tensor.Zeros(2, 2, 2), 1) }, "[2 2 2]"},
		{"UniformBounds", func() { Uniform(tensor.Zeros(2), rng, 1, 0) }, "[1, 0)"},
		{"NormalStd", func() { Normal(tensor.Zeros(2), rng, 0, -1) }, "-1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := testutil.Recover(tc.f)
			if r == nil {
				t.Fatal("no panic")
			}
			if s := fmt.Sprint(r); !strings.Contains(s, tc.msg) {
				t.Errorf("panic %q does not mention %q", s, tc.msg)
			}
		})
	}
}

func TestOrthogonalEmpty(t *testing.T) {
	x := tensor.Zeros(0, 3)
	Orthogonal(x, tensor.NewRNG(1), 1) // no panic, nothing to fill
}
