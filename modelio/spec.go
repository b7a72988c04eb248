package modelio

import (
	"fmt"
	"math"
	"math/bits"
	"slices"

	"github.com/kioku-ml/kioku/tensor"
)

// TensorSpec is the name, shape and element type of a tensor a model
// would have: what a configuration asks for, known before the model is
// built.
type TensorSpec struct {
	Name  string
	Shape []int
	DType tensor.DType
}

// Elements returns the number of elements of the shape, saturating at
// math.MaxInt64 (a configuration may ask for more than can exist).
func (t TensorSpec) Elements() int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n = MulSat(n, int64(d))
	}
	return n
}

// Bytes returns the tensor's size in bytes, saturating.
func (t TensorSpec) Bytes() int64 { return MulSat(t.Elements(), int64(t.DType.Size())) }

// SpecBytes returns the total size in bytes of the tensors, saturating at
// math.MaxInt64.
func SpecBytes(specs []TensorSpec) int64 {
	var n int64
	for _, s := range specs {
		n = AddSat(n, s.Bytes())
	}
	return n
}

// SpecElements returns the total number of elements of the tensors,
// saturating at math.MaxInt64.
func SpecElements(specs []TensorSpec) int64 {
	var n int64
	for _, s := range specs {
		n = AddSat(n, s.Elements())
	}
	return n
}

// MulSat returns a·b for a, b ≥ 0, or math.MaxInt64 if it overflows (or
// either is negative).
func MulSat(a, b int64) int64 {
	if a < 0 || b < 0 {
		return math.MaxInt64
	}
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi != 0 || lo > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(lo)
}

// AddSat returns a+b for a, b ≥ 0, or math.MaxInt64 if it overflows.
func AddSat(a, b int64) int64 {
	if a < 0 || b < 0 || a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// CheckWeights compares the tensors a configuration asks for with those
// of the snapshot's ModelFile, before the model is built: every spec must
// have a tensor of its name, shape and exact element type (F32 for
// Float32, F64 for Float64). A model whose specs pass holds no more
// parameter bytes than the file does, so a configuration of a few hundred
// bytes cannot make the caller allocate more than the file's own size.
// Tensors of the file that no spec names are left for Restore to judge
// (a model's buffers, say). The error is a *CheckpointError naming each
// tensor that is missing or differs, with both shapes.
func (s *Snapshot) CheckWeights(specs []TensorSpec) error {
	var problems []string
	for _, sp := range specs {
		t := s.weights.Tensors[sp.Name]
		switch {
		case t == nil:
			problems = append(problems, fmt.Sprintf("%s asks for a tensor %q %v that %s does not hold", ConfigFile, sp.Name, shapeString(sp.Shape), ModelFile))
		case !slices.Equal(t.Shape(), sp.Shape) || !dtypeFits(t.DType(), sp.DType, true):
			problems = append(problems, fmt.Sprintf("%s asks for tensor %q as %v %v, but %s holds %s %v", ConfigFile, sp.Name, sp.DType, shapeString(sp.Shape), ModelFile, t.DType(), shapeString(t.Shape())))
		}
		if len(problems) == 8 {
			problems = append(problems, "…")
			break
		}
	}
	if problems != nil {
		return &CheckpointError{Dir: s.dir, Problems: problems}
	}
	return nil
}
