// Package initializer fills parameter tensors with their initial values:
// constants, uniform and normal draws, Glorot (Xavier) and He (Kaiming)
// scaling, orthogonal matrices (Saxe et al. 2013) and the identity (the
// IRNN of Le et al. 2015).
//
// Every function fills a *tensor.Tensor of either element type in place;
// the random ones draw from an explicit *tensor.RNG, so the same seed gives
// the same values. Fan-in and fan-out are computed as PyTorch's
// torch.nn.init does (see Fans), so a kioku layer initialised with, say,
// GlorotUniform has the same distribution as its PyTorch counterpart.
//
// The package is called initializer because init is reserved in Go.
// Misuse — a tensor with too few dimensions for a fan-based rule, a
// negative standard deviation, lo > hi — panics with a message naming the
// shape, like the rest of kioku's tensor code; these are programming
// errors, not bad input.
//
// To initialise one block of a parameter — for example each gate's block
// of a recurrent weight matrix — pass a view of it: tensor.Slice shares
// storage with its source, so
//
//	for k := 0; k < 4; k++ {
//		initializer.Orthogonal(whh.Slice(k*H, (k+1)*H), rng, 1)
//	}
//
// makes each H×H block of a (4H, H) matrix orthogonal.
package initializer

import (
	"fmt"
	"math"

	"github.com/kioku-ml/kioku/tensor"
)

// Gains for the common nonlinearities, as PyTorch's
// torch.nn.init.calculate_gain gives them: the factor by which the
// standard deviation of the weights is scaled to keep the variance of the
// activations steady through the nonlinearity.
const (
	// GainLinear is the gain for the identity (and convolutions): 1.
	GainLinear = 1.0
	// GainSigmoid is the gain for the logistic sigmoid: 1.
	GainSigmoid = 1.0
	// GainTanh is the gain for tanh: 5/3.
	GainTanh = 5.0 / 3
	// GainReLU is the gain for the ReLU: √2 (He et al. 2015).
	GainReLU = math.Sqrt2
)

// GainLeakyReLU returns √(2/(1+slope²)), the gain for a leaky ReLU with the
// given negative slope. PyTorch's default Linear initialisation is He
// uniform with GainLeakyReLU(√5), which is U(−1/√fanIn, 1/√fanIn).
func GainLeakyReLU(slope float64) float64 { return math.Sqrt(2 / (1 + slope*slope)) }

// FanMode selects which fan a He initialisation normalises by.
type FanMode uint8

const (
	// FanIn preserves the variance of the activations in the forward
	// pass (PyTorch's default mode='fan_in').
	FanIn FanMode = iota
	// FanOut preserves the variance of the gradients in the backward
	// pass.
	FanOut
)

// String returns "fan_in" or "fan_out".
func (m FanMode) String() string {
	if m == FanOut {
		return "fan_out"
	}
	return "fan_in"
}

// Fans returns the fan-in and fan-out of a weight of the given shape as
// PyTorch computes them: for a shape (out, in, k₁, k₂, …) the receptive
// field r = k₁·k₂·…, fanIn = in·r and fanOut = out·r. A matrix (out, in),
// in PyTorch's layout for Linear and recurrent weights, has fanIn = in and
// fanOut = out. It panics for fewer than two dimensions, where fans are
// undefined.
func Fans(shape []int) (fanIn, fanOut int) {
	if len(shape) < 2 {
		panic(fmt.Sprintf("initializer: fan-in and fan-out need at least 2 dimensions, got shape %v", shape))
	}
	r := 1
	for _, d := range shape[2:] {
		r *= d
	}
	return shape[1] * r, shape[0] * r
}

// Constant sets every element of t to v.
func Constant(t *tensor.Tensor, v float64) { t.Fill(v) }

// Zeros sets every element of t to 0.
func Zeros(t *tensor.Tensor) { t.Zero() }

// Ones sets every element of t to 1.
func Ones(t *tensor.Tensor) { t.Fill(1) }

// Uniform fills t with values drawn from U(lo, hi). It panics if lo > hi.
func Uniform(t *tensor.Tensor, rng *tensor.RNG, lo, hi float64) {
	if !(lo <= hi) {
		panic(fmt.Sprintf("initializer: Uniform bounds [%v, %v) for shape %v", lo, hi, t.Shape()))
	}
	t.RandUniform(rng, lo, hi)
}

// Normal fills t with values drawn from N(mean, std²). It panics if std is
// negative.
func Normal(t *tensor.Tensor, rng *tensor.RNG, mean, std float64) {
	if !(std >= 0) {
		panic(fmt.Sprintf("initializer: Normal standard deviation %v for shape %v", std, t.Shape()))
	}
	t.RandNormal(rng, mean, std)
}

// GlorotUniform fills t from U(−a, a) with a = gain·√(6/(fanIn+fanOut)),
// the initialisation of Glorot & Bengio (2010), "Understanding the
// difficulty of training deep feedforward neural networks" (PyTorch's
// xavier_uniform_). Its variance is gain²·2/(fanIn+fanOut).
func GlorotUniform(t *tensor.Tensor, rng *tensor.RNG, gain float64) {
	fanIn, fanOut := Fans(t.Shape())
	a := gain * math.Sqrt(6/float64(fanIn+fanOut))
	t.RandUniform(rng, -a, a)
}

// GlorotNormal fills t from N(0, σ²) with σ = gain·√(2/(fanIn+fanOut))
// (Glorot & Bengio 2010; PyTorch's xavier_normal_).
func GlorotNormal(t *tensor.Tensor, rng *tensor.RNG, gain float64) {
	fanIn, fanOut := Fans(t.Shape())
	t.RandNormal(rng, 0, gain*math.Sqrt(2/float64(fanIn+fanOut)))
}

// fan returns the fan selected by mode.
func fan(t *tensor.Tensor, mode FanMode) int {
	fanIn, fanOut := Fans(t.Shape())
	if mode == FanOut {
		return fanOut
	}
	return fanIn
}

// HeUniform fills t from U(−b, b) with b = gain·√(3/fan), the fan chosen
// by mode: the initialisation of He et al. (2015), "Delving deep into
// rectifiers" (PyTorch's kaiming_uniform_). Its variance is gain²/fan; for
// the ReLU pass GainReLU.
func HeUniform(t *tensor.Tensor, rng *tensor.RNG, gain float64, mode FanMode) {
	b := gain * math.Sqrt(3/float64(fan(t, mode)))
	t.RandUniform(rng, -b, b)
}

// HeNormal fills t from N(0, σ²) with σ = gain/√fan, the fan chosen by
// mode (He et al. 2015; PyTorch's kaiming_normal_).
func HeNormal(t *tensor.Tensor, rng *tensor.RNG, gain float64, mode FanMode) {
	t.RandNormal(rng, 0, gain/math.Sqrt(float64(fan(t, mode))))
}

// Identity sets the matrix t to scale·I: scale on the main diagonal and 0
// elsewhere. A non-square matrix gets ones on the diagonal of its leading
// square block, as torch.nn.init.eye_ does. Le et al. (2015), "A simple way
// to initialize recurrent networks of rectified linear units", start the
// recurrent weights of a ReLU RNN (the IRNN) this way, with scale 1 or a
// smaller value for long tasks. It panics unless t has two dimensions.
func Identity(t *tensor.Tensor, scale float64) {
	if t.NDim() != 2 {
		panic(fmt.Sprintf("initializer: Identity needs a matrix, got shape %v", t.Shape()))
	}
	t.Zero()
	for i := 0; i < min(t.Dim(0), t.Dim(1)); i++ {
		t.Set(scale, i, i)
	}
}

// Orthogonal fills t with a random (semi-)orthogonal matrix scaled by
// gain, as proposed by Saxe et al. (2013), "Exact solutions to the
// nonlinear dynamics of learning in deep linear neural networks", and
// implemented by PyTorch's orthogonal_:
//
//  1. view t as a matrix of rows = t.Dim(0) and cols = the product of the
//     remaining dimensions;
//  2. draw a rows×cols matrix A of standard normal values, transposed to
//     cols×rows when rows < cols, so that it is tall;
//  3. factor A = QR (Householder reflections, in float64) and multiply
//     column j of Q by the sign of R_jj, which makes Q uniformly (Haar)
//     distributed;
//  4. write gain·Q (transposed back for a wide t) into t.
//
// A tall or square result has orthonormal columns (QᵀQ = I), a wide one
// orthonormal rows (QQᵀ = I). It panics for fewer than two dimensions.
func Orthogonal(t *tensor.Tensor, rng *tensor.RNG, gain float64) {
	if t.NDim() < 2 {
		panic(fmt.Sprintf("initializer: Orthogonal needs at least 2 dimensions, got shape %v", t.Shape()))
	}
	if t.Size() == 0 {
		return
	}
	rows := t.Dim(0)
	cols := t.Size() / rows
	a := make([]float64, rows*cols)
	for i := range a {
		a[i] = rng.NormFloat64()
	}
	m, n := rows, cols
	wide := rows < cols
	if wide {
		at := make([]float64, len(a))
		tensor.Permute(at, a, []int{rows, cols}, []int{1, 0})
		a, m, n = at, cols, rows
	}
	q := orthonormalQ(a, m, n)
	if wide {
		qt := make([]float64, len(q))
		tensor.Permute(qt, q, []int{m, n}, []int{1, 0})
		q = qt
	}
	for i, v := range q {
		t.SetFlat(i, gain*v)
	}
}

// orthonormalQ returns the m×n factor Q (m ≥ n, row-major) of the QR
// factorisation of the m×n matrix a, with column j multiplied by the sign
// of R_jj (a zero R_jj counts as positive). a is overwritten.
//
// It uses Householder reflections: step k reflects column k below the
// diagonal onto a multiple of e_k with H_k = I − β·v·vᵀ; then
// Q = H₀H₁…H_{n−1}·I[:, :n] is formed by applying the reflections to the
// first n columns of the identity in reverse order.
func orthonormalQ(a []float64, m, n int) []float64 {
	vs := make([][]float64, n) // Householder vectors, vs[k] of length m−k
	betas := make([]float64, n)
	signs := make([]float64, n) // sign of R_kk
	for k := 0; k < n; k++ {
		var norm float64
		for i := k; i < m; i++ {
			norm = math.Hypot(norm, a[i*n+k])
		}
		signs[k] = 1
		if norm == 0 {
			continue // column already zero below the diagonal: H_k = I
		}
		alpha := -norm // R_kk; opposite sign to a_kk avoids cancellation
		if a[k*n+k] < 0 {
			alpha = norm
		}
		v := make([]float64, m-k)
		for i := k; i < m; i++ {
			v[i-k] = a[i*n+k]
		}
		v[0] -= alpha
		var vv float64
		for _, x := range v {
			vv += x * x
		}
		if vv == 0 {
			continue
		}
		vs[k], betas[k] = v, 2/vv
		applyReflector(a, n, k, k, v, betas[k])
		if alpha < 0 {
			signs[k] = -1
		}
	}
	q := make([]float64, m*n)
	for j := 0; j < n; j++ {
		q[j*n+j] = 1
	}
	for k := n - 1; k >= 0; k-- {
		if vs[k] != nil {
			applyReflector(q, n, k, 0, vs[k], betas[k])
		}
	}
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			q[i*n+j] *= signs[j]
		}
	}
	return q
}

// applyReflector applies H = I − β·v·vᵀ to rows k… and columns j0… of the
// row-major matrix x with n columns; v has one entry per row from k on.
func applyReflector(x []float64, n, k, j0 int, v []float64, beta float64) {
	for j := j0; j < n; j++ {
		var s float64
		for i, vi := range v {
			s += vi * x[(k+i)*n+j]
		}
		s *= beta
		for i, vi := range v {
			x[(k+i)*n+j] -= s * vi
		}
	}
}
