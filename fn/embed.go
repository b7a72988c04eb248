package fn

import (
	"fmt"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/tensor"
)

// EmbedID looks up rows of the embedding matrix W (shape (V, D)) for the
// ids and returns them as a (len(ids), D) matrix. An id equal to
// ignoreLabel gives a zero row and no gradient (pass -1 when every id is
// real); any other id outside [0, V) panics. The gradient of W is the
// scatter-add of the output gradient rows.
func EmbedID(ids []int, W *Variable, ignoreLabel int) *Variable {
	return autograd.Apply1(&embedID{ids: ids, ignore: ignoreLabel}, W)
}

type embedID struct {
	ids    []int
	ignore int
}

func (f *embedID) Forward(in []*tensor.Tensor) []*tensor.Tensor {
	w := in[0]
	if w.NDim() != 2 {
		panic(fmt.Sprintf("fn: EmbedID with W of shape %v; want (vocabulary, dim)", w.Shape()))
	}
	v, d := w.Dim(0), w.Dim(1)
	y := newLike(w, len(f.ids), d)
	for i, id := range f.ids {
		if id != f.ignore && (id < 0 || id >= v) {
			panic(fmt.Sprintf("fn: EmbedID id %d at position %d outside [0, %d) for W %v", id, i, v, w.Shape()))
		}
	}
	tensor.Dispatch(w, gather[float32], gather[float64])(y, w, f.ids, f.ignore, d)
	return one(y)
}

func (f *embedID) Backward(in, _, gy []*tensor.Tensor, _ []bool) []*tensor.Tensor {
	w := in[0]
	gw := newLike(w, w.Shape()...)
	f.scatter(gw, gy[0])
	return one(gw)
}

// BackwardInto adds the rows of the output's gradient straight into
// into[0] (the table's Grad): no table-sized temporary.
func (f *embedID) BackwardInto(in, out, gy, into []*tensor.Tensor, need []bool) []*tensor.Tensor {
	if into[0] == nil {
		return f.Backward(in, out, gy, need)
	}
	f.scatter(into[0], gy[0])
	return []*tensor.Tensor{nil}
}

// scatter adds row i of g into row ids[i] of gw.
func (f *embedID) scatter(gw, g *tensor.Tensor) {
	d := gw.Dim(1)
	tensor.Dispatch(gw, scatterAdd[float32], scatterAdd[float64])(gw, g, f.ids, f.ignore, d)
}

// gather copies row ids[i] of w into row i of y (rows of d values),
// leaving rows whose id is ignore (or negative) zero; T is the tensors'
// element type (see tensor.Dispatch).
func gather[T float32 | float64](yt, wt *tensor.Tensor, ids []int, ignore, d int) {
	y, w := tensor.Values[T](yt), tensor.Values[T](wt)
	for i, id := range ids {
		if id == ignore || id < 0 {
			continue
		}
		copy(y[i*d:(i+1)*d], w[id*d:(id+1)*d])
	}
}

// scatterAdd adds row i of gy into row ids[i] of gw (rows of d values),
// skipping ids equal to ignore and negative ids; T is the tensors' element
// type (see tensor.Dispatch).
func scatterAdd[T float32 | float64](gwt, gyt *tensor.Tensor, ids []int, ignore, d int) {
	gw, gy := tensor.Values[T](gwt), tensor.Values[T](gyt)
	for i, id := range ids {
		if id == ignore || id < 0 {
			continue
		}
		dst, src := gw[id*d:(id+1)*d], gy[i*d:(i+1)*d]
		for j, v := range src {
			dst[j] += v
		}
	}
}
