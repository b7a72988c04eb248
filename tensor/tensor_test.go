package tensor

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/kioku-ml/kioku/internal/testutil"
)

func TestNewShapeAndSize(t *testing.T) {
	tests := []struct {
		dtype DType
		shape []int
		size  int
	}{
		{Float32, nil, 1},
		{Float32, []int{3}, 3},
		{Float64, []int{2, 3, 4}, 24},
		{Float64, []int{0, 5}, 0},
	}
	for _, tc := range tests {
		x := New(tc.dtype, tc.shape...)
		if x.Size() != tc.size || x.NDim() != len(tc.shape) || x.DType() != tc.dtype {
			t.Errorf("New(%v, %v): size %d ndim %d dtype %v", tc.dtype, tc.shape, x.Size(), x.NDim(), x.DType())
		}
	}
}

func TestAtSetRowMajor(t *testing.T) {
	x := FromFloat64([]float64{0, 1, 2, 3, 4, 5}, 2, 3)
	if got := x.At(1, 2); got != 5 {
		t.Fatalf("At(1,2) = %v, want 5", got)
	}
	x.Set(9, 0, 1)
	if x.Float64s()[1] != 9 {
		t.Fatalf("Set(9, 0, 1) wrote %v", x.Float64s())
	}
}

func TestReshapeSharesStorage(t *testing.T) {
	x := FromFloat32([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	y := x.Reshape(3, -1)
	if !slices.Equal(y.Shape(), []int{3, 2}) {
		t.Fatalf("Reshape(3,-1) shape %v", y.Shape())
	}
	y.Set(42, 2, 1)
	if x.At(1, 2) != 42 {
		t.Fatal("Reshape does not share storage")
	}
}

func TestSliceAndIndexAreViews(t *testing.T) {
	x := FromFloat64([]float64{0, 1, 2, 3, 4, 5, 6, 7}, 4, 2)
	s := x.Slice(1, 3)
	if !slices.Equal(s.Shape(), []int{2, 2}) || s.At(0, 0) != 2 || s.At(1, 1) != 5 {
		t.Fatalf("Slice(1,3) = %v", s)
	}
	r := x.Index(3)
	if !slices.Equal(r.Shape(), []int{2}) || r.At(1) != 7 {
		t.Fatalf("Index(3) = %v", r)
	}
	r.Fill(-1)
	if x.At(3, 0) != -1 {
		t.Fatal("Index does not share storage")
	}
	// Appending to a view's storage must not clobber the parent.
	s2 := x.Slice(0, 1).Float64s()
	_ = append(s2, 100)
	if x.At(1, 0) == 100 {
		t.Fatal("Slice capacity lets append overwrite the parent")
	}
}

func TestTranspose(t *testing.T) {
	x := FromFloat32([]float32{0, 1, 2, 3, 4, 5}, 2, 3)
	y := x.Transpose()
	want := []float32{0, 3, 1, 4, 2, 5}
	if !slices.Equal(y.Shape(), []int{3, 2}) || !slices.Equal(y.Float32s(), want) {
		t.Fatalf("Transpose = %v, want [3 2] %v", y, want)
	}
	// A 3-D permutation checked against At.
	z := New(Float64, 2, 3, 4)
	for i := range z.Size() {
		z.SetFlat(i, float64(i))
	}
	p := z.Transpose(2, 0, 1)
	if !slices.Equal(p.Shape(), []int{4, 2, 3}) {
		t.Fatalf("shape %v", p.Shape())
	}
	for a := 0; a < 2; a++ {
		for b := 0; b < 3; b++ {
			for c := 0; c < 4; c++ {
				if p.At(c, a, b) != z.At(a, b, c) {
					t.Fatalf("p[%d,%d,%d] = %v, want %v", c, a, b, p.At(c, a, b), z.At(a, b, c))
				}
			}
		}
	}
}

func TestCloneCopyFillAsType(t *testing.T) {
	x := FromFloat32([]float32{1, 2, 3}, 3)
	c := x.Clone()
	c.Fill(7)
	if x.At(0) != 1 {
		t.Fatal("Clone shares storage")
	}
	x.CopyFrom(c)
	if !Equal(x, c) {
		t.Fatal("CopyFrom did not copy")
	}
	d := x.AsType(Float64)
	if d.DType() != Float64 || d.At(2) != 7 {
		t.Fatalf("AsType = %v", d)
	}
	x.Zero()
	if x.Sum() != 0 {
		t.Fatal("Zero left values")
	}
}

func TestOps(t *testing.T) {
	for _, dt := range []DType{Float32, Float64} {
		x := New(dt, 4)
		y := New(dt, 4)
		for i := range 4 {
			x.SetFlat(i, float64(i+1))
			y.SetFlat(i, 1)
		}
		x.Axpy(2, y) // 3 4 5 6
		x.Scale(0.5) // 1.5 2 2.5 3
		if got := x.Sum(); got != 9 {
			t.Errorf("%v Sum = %v, want 9", dt, got)
		}
		if got := x.Dot(y); got != 9 {
			t.Errorf("%v Dot = %v, want 9", dt, got)
		}
		if got := x.SumSquares(); got != 1.5*1.5+4+2.5*2.5+9 {
			t.Errorf("%v SumSquares = %v", dt, got)
		}
		if got := x.MaxAbs(); got != 3 {
			t.Errorf("%v MaxAbs = %v", dt, got)
		}
	}
}

func TestAllClose(t *testing.T) {
	a := FromFloat64([]float64{1, 2}, 2)
	b := FromFloat32([]float32{1, 2.0001}, 2)
	if !AllClose(a, b, 1e-3, 0) || AllClose(a, b, 1e-6, 0) {
		t.Fatal("AllClose tolerance wrong")
	}
	if AllClose(a, FromFloat64([]float64{math.NaN(), 2}, 2), 1, 1) {
		t.Fatal("AllClose accepts NaN")
	}
}

func TestRNGDeterministicAndState(t *testing.T) {
	a, b := NewRNG(7), NewRNG(7)
	x, y := New(Float32, 100), New(Float32, 100)
	x.RandNormal(a, 0, 1)
	y.RandNormal(b, 0, 1)
	if !Equal(x, y) {
		t.Fatal("same seed, different values")
	}
	st, err := a.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	want := a.Uint64()
	var c RNG
	if err := c.UnmarshalBinary(st); err != nil {
		t.Fatal(err)
	}
	if got := c.Uint64(); got != want {
		t.Fatalf("restored RNG gives %d, want %d", got, want)
	}
	if err := c.UnmarshalBinary([]byte("junk")); err == nil {
		t.Fatal("UnmarshalBinary accepted junk")
	}
}

func TestRandUniformRange(t *testing.T) {
	x := New(Float64, 10000)
	x.RandUniform(NewRNG(1), -2, 3)
	mean := x.Sum() / 10000
	for _, v := range x.Float64s() {
		if v < -2 || v >= 3 {
			t.Fatalf("value %v outside [-2, 3)", v)
		}
	}
	if math.Abs(mean-0.5) > 0.05 {
		t.Fatalf("mean %v, want ≈ 0.5", mean)
	}
}

func TestMisusePanicsNameShapes(t *testing.T) {
	tests := []struct {
		name string
		f    func()
		want string
	}{
		{"reshape", func() { New(Float32, 2, 3).Reshape(4, 2) }, "[2 3]"},
		{"index", func() { New(Float32, 2, 3).At(2, 0) }, "[2 3]"},
		{"slice", func() { New(Float32, 2, 3).Slice(1, 3) }, "[2 3]"},
		{"dtype", func() { New(Float64, 2).Float32s() }, "[2]"},
		{"wrap", func() { FromFloat32(make([]float32, 5), 2, 3) }, "[2 3]"},
		{"transpose", func() { New(Float32, 2, 3).Transpose(0, 0) }, "[2 3]"},
		{"copy", func() { New(Float32, 2, 3).CopyFrom(New(Float32, 5)) }, "[5]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := testutil.Recover(tc.f)
			if r == nil {
				t.Fatal("no panic")
			}
			if !strings.Contains(r.(string), tc.want) {
				t.Fatalf("panic %q does not name %s", r, tc.want)
			}
		})
	}
}

func TestDropoutAndBernoulliMasks(t *testing.T) {
	for _, dt := range []DType{Float32, Float64} {
		m := New(dt, 10001)
		m.FillDropoutMask(NewRNG(3), 0.3)
		zeros := 0
		for i := range m.Size() {
			switch v := m.AtFlat(i); {
			case v == 0:
				zeros++
			case math.Abs(v-1/0.7) > 1e-6:
				t.Fatalf("mask value %v", v)
			}
		}
		if f := float64(zeros) / 10001; math.Abs(f-0.3) > 0.02 {
			t.Fatalf("%v dropped fraction %v", dt, f)
		}
		b := New(dt, 10001)
		b.FillBernoulli(NewRNG(4), 0.2)
		if s := b.Sum() / 10001; math.Abs(s-0.2) > 0.02 {
			t.Fatalf("%v Bernoulli mean %v", dt, s)
		}
	}
	a, b := New(Float32, 7), New(Float32, 7)
	a.FillDropoutMask(NewRNG(1), 0.5)
	b.FillDropoutMask(NewRNG(1), 0.5)
	if !Equal(a, b) {
		t.Fatal("same seed, different masks")
	}
}

// TestLargeElementwise checks Axpy, Scale and SumSquares on tensors large
// enough to be split across the worker pool (odd sizes, so the last block
// is partial) against element-by-element float64 arithmetic.
func TestLargeElementwise(t *testing.T) {
	for _, dt := range []DType{Float32, Float64} {
		for _, n := range []int{parallelGrain - 1, 3*parallelGrain + 17} {
			x, y := New(dt, n), New(dt, n)
			x.RandNormal(NewRNG(1), 0, 1)
			y.RandNormal(NewRNG(2), 0, 1)
			want := 0.0
			for i := 0; i < n; i++ {
				v := x.AtFlat(i)
				want += v * v
			}
			if got := x.SumSquares(); math.Abs(got-want) > 1e-12*want {
				t.Errorf("%v n=%d: SumSquares %v, want %v", dt, n, got, want)
			}
			z := y.Clone()
			z.Axpy(-0.5, x)
			z.Scale(3)
			for i := 0; i < n; i++ {
				w := 3 * (y.AtFlat(i) - 0.5*x.AtFlat(i))
				if math.Abs(z.AtFlat(i)-w) > 1e-5*(1+math.Abs(w)) {
					t.Fatalf("%v n=%d: element %d = %v, want %v", dt, n, i, z.AtFlat(i), w)
				}
			}
			z.Zero()
			for i := 0; i < n; i++ {
				if z.AtFlat(i) != 0 {
					t.Fatalf("%v n=%d: element %d = %v after Zero", dt, n, i, z.AtFlat(i))
				}
			}
		}
	}
}

// TestValues checks that Values shares the storage of either element type
// and panics on a mismatched type.
func TestValues(t *testing.T) {
	a := New(Float32, 2, 3)
	v32 := Values[float32](a)
	v32[4] = 7
	if len(v32) != 6 || a.At(1, 1) != 7 {
		t.Fatalf("Values[float32] does not share the storage: %v", a)
	}
	b := New(Float64, 3)
	Values[float64](b)[2] = -1
	if b.At(2) != -1 {
		t.Fatal("Values[float64] does not share the storage")
	}
	if Values[float32](nil) != nil {
		t.Error("Values of a nil tensor is not nil")
	}
	for _, f := range []func(){
		func() { Values[float64](a) },
		func() { Values[float32](b) },
	} {
		if testutil.Recover(f) == nil {
			t.Error("Values with a mismatched element type did not panic")
		}
	}
}

// TestCheckDTypes checks that mixed element types panic with a message
// naming the operation, the types and the shapes.
func TestCheckDTypes(t *testing.T) {
	a, b := New(Float32, 2), New(Float32, 3)
	if n := testing.AllocsPerRun(10, func() { CheckDTypes("pkg", "op", a, b) }); n != 0 {
		t.Errorf("CheckDTypes of agreeing types allocates %v times", n)
	}
	defer func() {
		msg, _ := recover().(string)
		for _, want := range []string{"pkg: op mixes", "float32", "float64", "[2]", "[3 1]"} {
			if !strings.Contains(msg, want) {
				t.Errorf("panic %q does not contain %q", msg, want)
			}
		}
	}()
	CheckDTypes("pkg", "op", New(Float32, 2), New(Float32, 2), New(Float64, 3, 1))
}

// scaleBy multiplies t's values by k (a generic function for TestDispatch).
func scaleBy[T float32 | float64](t *Tensor, k T) {
	for i, v := range Values[T](t) {
		Values[T](t)[i] = v * k
	}
}

// TestDispatch checks that Dispatch picks the instantiation of a tensor's
// element type.
func TestDispatch(t *testing.T) {
	for _, dt := range []DType{Float32, Float64} {
		x := New(dt, 3)
		x.Fill(1.5)
		scale := Dispatch(x, func(t *Tensor) { scaleBy[float32](t, 2) }, func(t *Tensor) { scaleBy[float64](t, 2) })
		scale(x)
		if x.At(2) != 3 {
			t.Errorf("%v: Dispatch ran the wrong instantiation: %v", dt, x)
		}
	}
}
