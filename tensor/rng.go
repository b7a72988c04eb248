package tensor

import (
	"fmt"
	"math/rand/v2"
)

// RNG is an explicit, seeded source of randomness. Every random operation in
// kioku takes one, so the same seed gives the same run. An RNG is not safe
// for concurrent use; give each goroutine its own (see Split).
//
// Its state can be saved and restored with MarshalBinary and UnmarshalBinary,
// so a resumed training run draws the same numbers as an uninterrupted one.
type RNG struct {
	src *rand.PCG
	r   *rand.Rand
}

// NewRNG returns a generator seeded with seed.
func NewRNG(seed uint64) *RNG {
	src := rand.NewPCG(seed, 0x6b696f6b75) // second word: "kioku"
	return &RNG{src: src, r: rand.New(src)}
}

// Split returns a new generator seeded from this one, for handing to another
// goroutine or component without sharing state.
func (g *RNG) Split() *RNG {
	src := rand.NewPCG(g.r.Uint64(), g.r.Uint64())
	return &RNG{src: src, r: rand.New(src)}
}

// Uint64 returns a uniformly distributed 64-bit value.
func (g *RNG) Uint64() uint64 { return g.r.Uint64() }

// Float64 returns a uniform value in [0, 1).
func (g *RNG) Float64() float64 { return g.r.Float64() }

// NormFloat64 returns a standard normal value.
func (g *RNG) NormFloat64() float64 { return g.r.NormFloat64() }

// IntN returns a uniform value in [0, n). It panics if n <= 0.
func (g *RNG) IntN(n int) int { return g.r.IntN(n) }

// Perm returns a random permutation of 0..n-1.
func (g *RNG) Perm(n int) []int { return g.r.Perm(n) }

// Shuffle permutes n elements with swap, as rand.Shuffle does.
func (g *RNG) Shuffle(n int, swap func(i, j int)) { g.r.Shuffle(n, swap) }

// MarshalBinary returns the generator's state.
func (g *RNG) MarshalBinary() ([]byte, error) { return g.src.MarshalBinary() }

// UnmarshalBinary restores a state returned by MarshalBinary.
func (g *RNG) UnmarshalBinary(data []byte) error {
	if g.src == nil {
		g.src = &rand.PCG{}
		g.r = rand.New(g.src)
	}
	return g.src.UnmarshalBinary(data)
}

// RandUniform fills t with values drawn uniformly from [lo, hi).
func (t *Tensor) RandUniform(g *RNG, lo, hi float64) {
	for i := 0; i < t.Size(); i++ {
		t.SetFlat(i, lo+(hi-lo)*g.Float64())
	}
}

// RandNormal fills t with values drawn from N(mean, std²).
func (t *Tensor) RandNormal(g *RNG, mean, std float64) {
	for i := 0; i < t.Size(); i++ {
		t.SetFlat(i, mean+std*g.NormFloat64())
	}
}

// FillDropoutMask fills t with an inverted-dropout mask: each element is 0
// with probability p and 1/(1−p) otherwise. It draws 32 random bits per
// element (two elements per 64-bit draw), so the probability is exact to
// 2⁻³². p must lie in [0, 1).
func (t *Tensor) FillDropoutMask(g *RNG, p float64) {
	if !(p >= 0 && p < 1) {
		panic(fmt.Sprintf("tensor: dropout probability %v outside [0, 1) for shape %v", p, t.shape))
	}
	thr := uint64(p * (1 << 32))
	if t.dtype == Float64 {
		fillMask(t.f64, g, thr, 1/(1-p), 0)
	} else {
		fillMask(t.f32, g, thr, float32(1/(1-p)), 0)
	}
}

// FillBernoulli fills t with 1 where a draw with probability p succeeds and
// 0 elsewhere (zoneout's keep mask), 32 random bits per element.
func (t *Tensor) FillBernoulli(g *RNG, p float64) {
	if !(p >= 0 && p <= 1) {
		panic(fmt.Sprintf("tensor: probability %v outside [0, 1] for shape %v", p, t.shape))
	}
	thr := uint64(p * (1 << 32))
	if p == 1 {
		t.Fill(1)
		return
	}
	// An element is 1 when its draw is below thr: the complement of a
	// dropout mask with keep value 1.
	if t.dtype == Float64 {
		fillMask(t.f64, g, thr, 0, 1)
	} else {
		fillMask(t.f32, g, thr, 0, 1)
	}
}

// fillMask sets each element to below when a 32-bit draw is < thr, and to
// above otherwise.
func fillMask[T float32 | float64](d []T, g *RNG, thr uint64, above, below T) {
	i := 0
	for ; i+1 < len(d); i += 2 {
		u := g.r.Uint64()
		d[i], d[i+1] = above, above
		if u&0xffffffff < thr {
			d[i] = below
		}
		if u>>32 < thr {
			d[i+1] = below
		}
	}
	if i < len(d) {
		d[i] = above
		if g.r.Uint64()&0xffffffff < thr {
			d[i] = below
		}
	}
}
