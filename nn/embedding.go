package nn

import (
	"fmt"
	"iter"
	"math"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/nn/initializer"
	"github.com/kioku-ml/kioku/tensor"
)

// EmbeddingConfig describes an embedding table.
type EmbeddingConfig struct {
	// Vocab is the number of ids and Dim the size of each vector.
	Vocab, Dim int
	// Padding enables PaddingIdx.
	Padding bool
	// PaddingIdx, used when Padding is set, is the id of the padding
	// token: its row starts at zero, it embeds to a zero vector and it
	// never receives a gradient. A negative value counts from the end, as
	// in PyTorch (-1 is Vocab−1).
	PaddingIdx int
	// DType is the parameters' element type (the zero value is Float32).
	DType tensor.DType
}

// Embedding maps integer ids to learned vectors, as PyTorch's nn.Embedding
// and Chainer's L.EmbedID.
type Embedding struct {
	// Weight is the table, of shape (Vocab, Dim), named "weight".
	Weight *autograd.Variable
	// padding is the padding id, or -1 for none.
	padding int
	// ignore is the id fn.EmbedID ignores: padding, or one no int matches.
	ignore int
}

// NewEmbedding returns an embedding table initialised as PyTorch does,
// from N(0, 1), with the padding row, if any, zeroed. It returns an error
// for non-positive sizes, a padding id out of range, an unknown dtype or a
// nil rng.
func NewEmbedding(cfg EmbeddingConfig, rng *tensor.RNG) (*Embedding, error) {
	switch {
	case cfg.Vocab <= 0 || cfg.Dim <= 0:
		return nil, fmt.Errorf("nn: Embedding needs positive sizes, got vocabulary %d, dimension %d", cfg.Vocab, cfg.Dim)
	case cfg.Padding && (cfg.PaddingIdx < -cfg.Vocab || cfg.PaddingIdx >= cfg.Vocab):
		return nil, fmt.Errorf("nn: Embedding padding id %d outside [%d, %d) for a vocabulary of %d", cfg.PaddingIdx, -cfg.Vocab, cfg.Vocab, cfg.Vocab)
	case cfg.DType != tensor.Float32 && cfg.DType != tensor.Float64:
		return nil, fmt.Errorf("nn: Embedding with unknown dtype %v", cfg.DType)
	case rng == nil:
		return nil, fmt.Errorf("nn: Embedding needs an RNG for its initialisation")
	}
	e := &Embedding{Weight: autograd.NewParameter(tensor.New(cfg.DType, cfg.Vocab, cfg.Dim)), padding: -1, ignore: math.MinInt}
	e.Weight.Name = "weight"
	initializer.Normal(e.Weight.Data, rng, 0, 1)
	if cfg.Padding {
		e.padding = cfg.PaddingIdx
		if e.padding < 0 {
			e.padding += cfg.Vocab
		}
		e.ignore = e.padding
		e.Weight.Data.Index(e.padding).Zero()
	}
	return e, nil
}

// PaddingIdx returns the padding id (in [0, Vocab)), or -1 if there is
// none.
func (e *Embedding) PaddingIdx() int { return e.padding }

// Forward returns the vectors of ids as a (len(ids), Dim) matrix. The
// padding id gives a zero row and no gradient (as fn.EmbedID's ignore
// label: unlike PyTorch, whose padding row is zero unless changed by
// hand, the output is zero whatever the row holds). Any other id outside
// [0, Vocab) panics.
func (e *Embedding) Forward(ids []int) *autograd.Variable {
	return fn.EmbedID(ids, e.Weight, e.ignore)
}

// Params returns the weight.
func (e *Embedding) Params() []*autograd.Variable { return []*autograd.Variable{e.Weight} }

// NamedParams yields ("weight", W).
func (e *Embedding) NamedParams() iter.Seq2[string, *autograd.Variable] {
	return func(yield func(string, *autograd.Variable) bool) { yield("weight", e.Weight) }
}
