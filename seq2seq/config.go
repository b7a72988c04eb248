package seq2seq

import (
	"fmt"

	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/internal/enum"
	"github.com/kioku-ml/kioku/tensor"
)

// Cell selects the recurrent cell of the encoder and the decoder: the
// two cells of fn.Cell a Config may name, with the same values.
type Cell uint8

const (
	// LSTM is the LSTM of Hochreiter & Schmidhuber (1997) with a forget
	// gate, as in Sutskever et al. (2014) and Luong et al. (2015).
	LSTM = Cell(fn.LSTMCellKind)
	// GRU is the gated recurrent unit of Cho et al. (2014) in PyTorch's
	// form, as in Bahdanau et al. (2015).
	GRU = Cell(fn.GRUCellKind)
)

// Attention selects how the decoder scores the encoder's outputs h̄_s
// against its current top-layer state h_t.
type Attention uint8

const (
	// NoAttention is the plain encoder–decoder of Sutskever et al. (2014):
	// the source reaches the decoder only through its initial state.
	NoAttention Attention = iota
	// Dot is Luong's dot score, h_tᵀ·h̄_s. The encoder's outputs must have
	// the decoder's size (Directions·EncoderHidden = Hidden).
	Dot
	// General is Luong's general score, h_tᵀ·W_a·h̄_s.
	General
	// Additive is Bahdanau's score, vᵀ·tanh(W·h_t + U·h̄_s + b).
	Additive
)

// Bridge selects how the encoder's final states become the decoder's
// initial states, layer by layer.
type Bridge uint8

const (
	// BridgeLinear maps the final states of layer l of the encoder, the
	// forward and backward ones concatenated, through a learned affine map
	// per layer: h₀ = tanh(W_h·[h→; h←] + b_h) and, for the LSTM,
	// c₀ = W_c·[c→; c←] + b_c. It works for any sizes.
	BridgeLinear Bridge = iota
	// BridgeSum adds the directions' final states: h₀ = h→ + h← (for a
	// unidirectional encoder, the final state itself, as in Sutskever et
	// al.). It needs EncoderHidden = Hidden and has no parameters.
	BridgeSum
	// BridgeZero starts the decoder from zeros: the source then reaches it
	// only through attention.
	BridgeZero
)

// String returns "lstm" or "gru".
func (c Cell) String() string { return cellNames.String(c) }

// String returns "none", "dot", "general" or "additive".
func (a Attention) String() string { return attentionNames.String(a) }

// String returns "linear", "sum" or "zero".
func (b Bridge) String() string { return bridgeNames.String(b) }

// Config describes an encoder–decoder model.
type Config struct {
	// SrcVocab and TgtVocab are the sizes of the source and target
	// vocabularies; token ids lie in [0, SrcVocab) and [0, TgtVocab).
	SrcVocab, TgtVocab int
	// BOS and EOS are the target ids that start every decoder input and
	// end every output. They must differ.
	BOS, EOS int
	// Embed is the size of the source and target embeddings.
	Embed int
	// Hidden is the decoder's hidden size H.
	Hidden int
	// EncoderHidden is the encoder's hidden size per direction; 0 means
	// Hidden.
	EncoderHidden int
	// Layers is the number of layers of the encoder and of the decoder
	// (0 means 1).
	Layers int
	// Cell is the recurrent cell of both.
	Cell Cell
	// Bidirectional makes the encoder bidirectional: its outputs are the
	// forward and backward states concatenated (2·EncoderHidden).
	Bidirectional bool
	// Bridge selects how the encoder's final states start the decoder.
	Bridge Bridge
	// Attention selects the attention score, or none.
	Attention Attention
	// InputFeeding (Luong et al. 2015, section 3.3), with attention, feeds
	// the previous step's attentional vector h̃_{t−1} to the decoder beside
	// the previous token's embedding.
	InputFeeding bool
	// AttentionSize is the size A of Additive attention's hidden layer;
	// 0 means Hidden.
	AttentionSize int
	// Dropout is the probability of dropping each element of the
	// embeddings, of the outputs between recurrent layers and of the
	// decoder's output vector, in training mode. It must lie in [0, 1).
	Dropout float64
	// DType is the parameters' element type (the zero value is Float32).
	DType tensor.DType
}

func (c Config) layers() int { return max(c.Layers, 1) }

func (c Config) dirs() int {
	if c.Bidirectional {
		return 2
	}
	return 1
}

func (c Config) encHidden() int {
	if c.EncoderHidden == 0 {
		return c.Hidden
	}
	return c.EncoderHidden
}

// memorySize is the size D of the encoder's outputs.
func (c Config) memorySize() int { return c.dirs() * c.encHidden() }

func (c Config) attnSize() int {
	if c.AttentionSize == 0 {
		return c.Hidden
	}
	return c.AttentionSize
}

// Validate reports whether the configuration describes a model, returning
// an error naming the first problem.
func (c Config) Validate() error {
	switch {
	case c.SrcVocab <= 0 || c.TgtVocab <= 0:
		return fmt.Errorf("seq2seq: vocabulary sizes must be positive, got source %d, target %d", c.SrcVocab, c.TgtVocab)
	case c.BOS < 0 || c.BOS >= c.TgtVocab || c.EOS < 0 || c.EOS >= c.TgtVocab:
		return fmt.Errorf("seq2seq: BOS %d and EOS %d must lie in [0, %d)", c.BOS, c.EOS, c.TgtVocab)
	case c.BOS == c.EOS:
		return fmt.Errorf("seq2seq: BOS and EOS are both %d", c.BOS)
	case c.Embed <= 0 || c.Hidden <= 0:
		return fmt.Errorf("seq2seq: embedding and hidden sizes must be positive, got %d and %d", c.Embed, c.Hidden)
	case c.EncoderHidden < 0 || c.AttentionSize < 0 || c.Layers < 0:
		return fmt.Errorf("seq2seq: negative EncoderHidden %d, AttentionSize %d or Layers %d", c.EncoderHidden, c.AttentionSize, c.Layers)
	case c.Cell > GRU:
		return fmt.Errorf("seq2seq: unknown cell %v", c.Cell)
	case c.Attention > Additive:
		return fmt.Errorf("seq2seq: unknown attention %v", c.Attention)
	case c.Bridge > BridgeZero:
		return fmt.Errorf("seq2seq: unknown bridge %v", c.Bridge)
	case c.Bridge == BridgeSum && c.encHidden() != c.Hidden:
		return fmt.Errorf("seq2seq: the sum bridge needs EncoderHidden %d = Hidden %d", c.encHidden(), c.Hidden)
	case c.Bridge == BridgeZero && c.Attention == NoAttention:
		return fmt.Errorf("seq2seq: with the zero bridge and no attention the decoder never sees the source")
	case c.Attention == Dot && c.memorySize() != c.Hidden:
		return fmt.Errorf("seq2seq: dot attention needs encoder outputs of size %d (Directions·EncoderHidden) equal to Hidden %d; use general or additive attention", c.memorySize(), c.Hidden)
	case c.InputFeeding && c.Attention == NoAttention:
		return fmt.Errorf("seq2seq: input feeding needs attention")
	case !(c.Dropout >= 0 && c.Dropout < 1):
		return fmt.Errorf("seq2seq: dropout %v outside [0, 1)", c.Dropout)
	case c.DType != tensor.Float32 && c.DType != tensor.Float64:
		return fmt.Errorf("seq2seq: unknown dtype %v", c.DType)
	}
	return nil
}

// The names of the enumerations, for String, the parsers and the JSON
// encoding of a Config.
var (
	cellNames      = enum.New[Cell]("Cell", "seq2seq: cell", "lstm", "gru")
	attentionNames = enum.New[Attention]("Attention", "seq2seq: attention", "none", "dot", "general", "additive")
	bridgeNames    = enum.New[Bridge]("Bridge", "seq2seq: bridge", "linear", "sum", "zero")
)

// ParseCell returns the cell named "lstm" or "gru".
func ParseCell(name string) (Cell, error) { return cellNames.Parse(name) }

// ParseAttention returns the attention named "none", "dot", "general" or
// "additive".
func ParseAttention(name string) (Attention, error) { return attentionNames.Parse(name) }

// ParseBridge returns the bridge named "linear", "sum" or "zero".
func ParseBridge(name string) (Bridge, error) { return bridgeNames.Parse(name) }

// kernel returns the cell kind of package fn that c selects: the one
// place the model looks at its cell.
func (c Cell) kernel() fn.Cell { return fn.Cell(c) }

// MarshalText returns the cell's name, so that a Config encodes as
// readable JSON.
func (c Cell) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText parses a name written by MarshalText.
func (c *Cell) UnmarshalText(b []byte) error { return cellNames.Unmarshal(c, b) }

// MarshalText returns the attention's name.
func (a Attention) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText parses a name written by MarshalText.
func (a *Attention) UnmarshalText(b []byte) error { return attentionNames.Unmarshal(a, b) }

// MarshalText returns the bridge's name.
func (b Bridge) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// UnmarshalText parses a name written by MarshalText.
func (b *Bridge) UnmarshalText(text []byte) error { return bridgeNames.Unmarshal(b, text) }
