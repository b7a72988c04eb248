package modelio

import (
	"fmt"
	"strconv"

	"github.com/kioku-ml/kioku/modelio/safetensors"
)

// NonFiniteError reports a tensor that holds NaN or ±Inf. Loading one is
// an error unless LoadOptions.AllowNonFinite or
// Checkpoint.AllowNonFinite says otherwise: a model with such a weight
// computes NaN, and optimizer moments with one poison the weights at the
// next step.
type NonFiniteError struct {
	// File is the file the tensor came from, when known.
	File string
	// Tensor is the tensor's name.
	Tensor string
	// Index is the flat (row-major) index of the first non-finite
	// element, and Shape the tensor's shape.
	Index int
	Shape []int
	// Value is the element: NaN, +Inf or -Inf.
	Value float64
}

// Error names the tensor, the value and the element's index, flat and
// by dimension: `tensor "rnn.weight_hh_l0" holds NaN at element 17 ([0
// 17] of [24 6])`.
func (e *NonFiniteError) Error() string {
	s := "modelio: "
	if e.File != "" {
		s += e.File + ": "
	}
	return s + e.describe()
}

// describe is Error without the package and file.
func (e *NonFiniteError) describe() string {
	return fmt.Sprintf("tensor %s holds %v at element %d (%v of %v); allow non-finite values to load it anyway",
		strconv.Quote(e.Tensor), e.Value, e.Index, unravel(e.Index, e.Shape), shapeString(e.Shape))
}

// unravel returns the multi-index of flat index i in a row-major tensor
// of the given shape.
func unravel(i int, shape []int) []int {
	idx := make([]int, len(shape))
	for d := len(shape) - 1; d >= 0; d-- {
		if shape[d] > 0 {
			idx[d] = i % shape[d]
			i /= shape[d]
		}
	}
	return idx
}

// checkFinite returns a *NonFiniteError for a tensor with a NaN or ±Inf
// element, or nil.
func checkFinite(file, name string, t *safetensors.Tensor) *NonFiniteError {
	i, v, bad := t.FirstNonFinite()
	if !bad {
		return nil
	}
	return &NonFiniteError{File: file, Tensor: name, Index: i, Shape: t.Shape(), Value: v}
}
