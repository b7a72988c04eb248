package modelio

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/modelio/safetensors"
	"github.com/kioku-ml/kioku/nn"
	"github.com/kioku-ml/kioku/tensor"
)

// LoadOptions relaxes LoadStateDict. The zero value is strict, as
// PyTorch's load_state_dict(strict=True), and converts floating-point
// types to the parameters' type.
type LoadOptions struct {
	// AllowMissing leaves parameters and buffers that have no tensor as
	// they are instead of failing (PyTorch's strict=False).
	AllowMissing bool
	// AllowUnexpected ignores tensors, under the prefix, that match no
	// parameter (PyTorch's strict=False).
	AllowUnexpected bool
	// ExactDType refuses a tensor whose type is not the parameter's (F32
	// for Float32, F64 for Float64) instead of converting it.
	ExactDType bool
	// AllowNonFinite loads tensors holding NaN or ±Inf, which are
	// otherwise refused with a *NonFiniteError (for debugging a model
	// that diverged).
	AllowNonFinite bool
}

// Mismatch is a tensor whose shape or element type does not fit its
// parameter.
type Mismatch struct {
	// Name is the tensor's name in the file, prefix included.
	Name string
	// FileShape and FileDType describe the tensor.
	FileShape []int
	FileDType safetensors.DType
	// ModelShape and ModelDType describe the parameter, or the buffer's
	// current value.
	ModelShape []int
	ModelDType tensor.DType
	// Reason, for a buffer, is the buffer's own objection to the tensor
	// (nn.Buffer.Set), which may accept shapes other than its current one
	// (the per-step statistics of recurrent batch normalisation).
	Reason string
}

// String describes the mismatch as "name (file F32 [4 2], model float32
// [2 4])", or without shapes when only the element type differs, or as
// "name (file F64 [3 7]: reason)" when a buffer refused the tensor.
func (m Mismatch) String() string {
	if m.Reason != "" {
		return fmt.Sprintf("%s (file %s %v: %s)", m.Name, m.FileDType, shapeString(m.FileShape), m.Reason)
	}
	if !slices.Equal(m.FileShape, m.ModelShape) {
		return fmt.Sprintf("%s (file %s %v, model %v %v)", m.Name, m.FileDType, shapeString(m.FileShape), m.ModelDType, shapeString(m.ModelShape))
	}
	return fmt.Sprintf("%s (file %s, model %v)", m.Name, m.FileDType, m.ModelDType)
}

func shapeString(s []int) string {
	if s == nil {
		s = []int{}
	}
	return fmt.Sprint(s)
}

// StateDictError reports every difference between a state dict and a
// model's parameters and buffers. Each list is sorted by name.
type StateDictError struct {
	// Missing lists parameters and buffers (by their names in the file,
	// prefix included) with no tensor.
	Missing []string
	// Unexpected lists tensors under the prefix that match no parameter
	// or buffer.
	Unexpected []string
	// Mismatched lists tensors whose shape differs from their parameter's
	// (or that their buffer refuses), or whose element type cannot be (or,
	// with ExactDType, is not) the parameter's or buffer's.
	Mismatched []Mismatch
	// Hint, when not empty, suggests a fix (such as another prefix).
	Hint string
	// Prefixes, when every parameter and buffer is missing, lists the
	// other prefixes under which the file holds a tensor for every
	// parameter: shortest first, then in byte order. More than one means
	// the file holds several tensors of the same names (weights and
	// gradients, say); the caller must choose, and nothing picks one for it.
	Prefixes []string
}

// Error lists every difference on one line, each list sorted.
func (e *StateDictError) Error() string {
	s := "modelio: state dict does not fit the model: " + e.details()
	if e.Hint != "" {
		s += " (" + e.Hint + ")"
	}
	return s
}

// details lists the differences.
func (e *StateDictError) details() string {
	var parts []string
	if n := len(e.Missing); n > 0 {
		parts = append(parts, fmt.Sprintf("%d missing: %s", n, strings.Join(e.Missing, ", ")))
	}
	if n := len(e.Unexpected); n > 0 {
		parts = append(parts, fmt.Sprintf("%d unexpected: %s", n, strings.Join(e.Unexpected, ", ")))
	}
	if n := len(e.Mismatched); n > 0 {
		ms := make([]string, n)
		for i, m := range e.Mismatched {
			ms[i] = m.String()
		}
		parts = append(parts, fmt.Sprintf("%d mismatched: %s", n, strings.Join(ms, ", ")))
	}
	return strings.Join(parts, "; ")
}

// namedParams returns m's named parameters, checking that the names are
// present and unique.
func namedParams(m nn.Module) ([]string, []*autograd.Variable, error) {
	if m == nil {
		return nil, nil, errors.New("modelio: nil model")
	}
	var names []string
	var vars []*autograd.Variable
	seen := map[string]bool{}
	for name, v := range nn.NamedParams(m) {
		if err := checkName(seen, name, len(names), v == nil || v.Data == nil, "parameter", "parameters", "nn.Sub"); err != nil {
			return nil, nil, err
		}
		names = append(names, name)
		vars = append(vars, v)
	}
	return names, vars, nil
}

// checkName checks the name of the k-th named parameter or buffer (what)
// of a model and adds it to seen: it must be present, unseen (the error
// names the kinds that share names, dups, and the function that names
// sub-modules, sub) and not name a nil value.
func checkName(seen map[string]bool, name string, k int, isNil bool, what, dups, sub string) error {
	switch {
	case name == "":
		return fmt.Errorf("modelio: the model's %s %d has no name", what, k)
	case seen[name]:
		return fmt.Errorf("modelio: the model has two %s named %q (give sub-modules names with %s)", dups, name, sub)
	case isNil:
		return fmt.Errorf("modelio: the model's %s %q is nil", what, name)
	}
	seen[name] = true
	return nil
}

// namedBuffers returns m's named buffers (nn.NamedBuffers), checking
// that the names are present, unique and not those of parameters.
func namedBuffers(m nn.Module, params []string) ([]string, []nn.Buffer, error) {
	var names []string
	var bufs []nn.Buffer
	seen := make(map[string]bool, len(params))
	for _, p := range params {
		seen[p] = true
	}
	for name, b := range nn.NamedBuffers(m) {
		if err := checkName(seen, name, len(names), b == nil, "buffer", "parameters or buffers", "nn.SubBuffers"); err != nil {
			return nil, nil, err
		}
		names = append(names, name)
		bufs = append(bufs, b)
	}
	return names, bufs, nil
}

// StateDict returns copies of m's parameters as F32 or F64 tensors named
// prefix + their names (nn.NamedParams), and of its buffers
// (nn.NamedBuffers, such as BatchNormalization's running_mean,
// running_var and num_batches_tracked) as F64 tensors named likewise:
// PyTorch's state_dict. It returns an error if two parameters or buffers
// share a name.
func StateDict(m nn.Module, prefix string) (map[string]*safetensors.Tensor, error) {
	names, vars, err := namedParams(m)
	if err != nil {
		return nil, err
	}
	bnames, bufs, err := namedBuffers(m, names)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*safetensors.Tensor, len(names)+len(bnames))
	for i, name := range names {
		out[prefix+name] = safetensors.FromTensor(vars[i].Data)
	}
	for i, name := range bnames {
		v := bufs[i].Value()
		if v == nil {
			return nil, fmt.Errorf("modelio: the model's buffer %q has a nil value", name)
		}
		out[prefix+name] = safetensors.FromTensor(v)
	}
	return out, nil
}

// SaveStateDict writes m's parameters and buffers (StateDict), named
// prefix + their names, to the
// safetensors file name, atomically, with the given metadata plus
// "format": "pt" (unless metadata sets it), so that PyTorch reads the file
// with safetensors.torch.load_file and loads it with load_state_dict.
func SaveStateDict(name string, m nn.Module, prefix string, metadata map[string]string) error {
	sd, err := StateDict(m, prefix)
	if err != nil {
		return err
	}
	meta := map[string]string{"format": "pt"}
	for k, v := range metadata {
		meta[k] = v
	}
	return safetensors.WriteFile(name, sd, meta)
}

// LoadStateDictFile reads the safetensors file name (a regular file; see
// safetensors.ReadFile) and loads it into m with LoadStateDict.
func LoadStateDictFile(name string, m nn.Module, prefix string, opts *LoadOptions) error {
	f, err := safetensors.ReadFile(name)
	if err != nil {
		return err
	}
	if err := LoadStateDict(m, f.Tensors, prefix, opts); err != nil {
		if nf, ok := errors.AsType[*NonFiniteError](err); ok {
			nf.File = name
			return nf
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// LoadStateDict copies tensors into m's parameters and buffers, in place:
// the parameter named n (by nn.NamedParams) takes the tensor named
// prefix+n, and so does the buffer named n (by nn.NamedBuffers). Tensors
// whose names do not start with prefix are ignored, so a prefix such as
// "rnn." loads one sub-module from a whole model's state dict.
//
// A floating-point tensor is converted to its parameter's element type:
// F16, BF16 and F32 widen exactly; F64 into a Float32 parameter rounds to
// nearest, as PyTorch's copy_ does. Integer tensors are refused for
// parameters; buffers take them too (PyTorch's num_batches_tracked is
// I64). Each buffer checks its tensor's shape and values itself. opts may
// be nil for the strict defaults.
//
// Everything is checked before anything is kept: on error m is
// unchanged, and the error is a *StateDictError listing every missing,
// unexpected and mismatched tensor, or, when everything fits, a
// *NonFiniteError naming the first tensor that holds NaN or ±Inf (unless
// opts.AllowNonFinite).
func LoadStateDict(m nn.Module, tensors map[string]*safetensors.Tensor, prefix string, opts *LoadOptions) error {
	if opts == nil {
		opts = &LoadOptions{}
	}
	names, vars, err := namedParams(m)
	if err != nil {
		return err
	}
	bnames, bufs, err := namedBuffers(m, names)
	if err != nil {
		return err
	}
	e := matchStateDict(names, vars, bnames, tensors, prefix, *opts)
	if e == nil && !opts.AllowNonFinite {
		for _, name := range append(slices.Clone(names), bnames...) {
			if t := tensors[prefix+name]; t != nil {
				if err := checkFinite("", prefix+name, t); err != nil {
					return err
				}
			}
		}
	}
	bs := setBuffers(bnames, bufs, tensors, prefix, *opts)
	if e = e.merge(bs.mismatched); e != nil {
		if uerr := bs.undo(); uerr != nil {
			return uerr
		}
		return e
	}
	for i, name := range names {
		t, ok := tensors[prefix+name]
		if !ok {
			continue
		}
		if err := copyInto(vars[i].Data, t); err != nil {
			bs.undo()
			return fmt.Errorf("modelio: tensor %q: %w", prefix+name, err)
		}
	}
	return nil
}

// bufferSet records the buffers setBuffers changed, to undo it.
type bufferSet struct {
	names      []string
	bufs       []nn.Buffer
	old        []*tensor.Tensor
	mismatched []Mismatch
}

// setBuffers sets each buffer named n to the tensor named prefix+n, if
// there is one and it fits, keeping the previous values to undo it, and
// records the tensors that do not fit. (A buffer alone can say whether a
// tensor fits, so checking it means setting it.)
func setBuffers(names []string, bufs []nn.Buffer, tensors map[string]*safetensors.Tensor, prefix string, opts LoadOptions) *bufferSet {
	bs := &bufferSet{}
	for i, name := range names {
		t, ok := tensors[prefix+name]
		if !ok || t == nil {
			continue
		}
		cur := bufs[i].Value()
		mis := Mismatch{Name: prefix + name, FileShape: t.Shape(), FileDType: t.DType(), ModelShape: cur.Shape(), ModelDType: cur.DType()}
		if !bufferDTypeFits(t.DType(), cur.DType(), opts.ExactDType) {
			bs.mismatched = append(bs.mismatched, mis)
			continue
		}
		v, err := t.ToTensorAs(cur.DType()) // integers exactly up to 2⁵³
		if err == nil {
			err = bufs[i].Set(v)
		}
		if err != nil {
			mis.Reason = strings.TrimPrefix(err.Error(), "nn: ")
			bs.mismatched = append(bs.mismatched, mis)
			continue
		}
		bs.names, bs.bufs, bs.old = append(bs.names, name), append(bs.bufs, bufs[i]), append(bs.old, cur)
	}
	return bs
}

// undo puts back the buffers' previous values.
func (bs *bufferSet) undo() error {
	for i := len(bs.bufs) - 1; i >= 0; i-- {
		if err := bs.bufs[i].Set(bs.old[i]); err != nil {
			return fmt.Errorf("modelio: buffer %q refused its own previous value: %w", bs.names[i], err)
		}
	}
	bs.names, bs.bufs, bs.old = nil, nil, nil
	return nil
}

// bufferDTypeFits reports whether a tensor of type f can load into a
// buffer of type b: any float or integer type, or with exact, F32 for
// Float32 and F64 for Float64.
func bufferDTypeFits(f safetensors.DType, b tensor.DType, exact bool) bool {
	if exact {
		return dtypeFits(f, b, true)
	}
	return f.Known()
}

// merge adds buffer mismatches to e, sorted, and returns the result, or
// nil if there is no difference at all.
func (e *StateDictError) merge(ms []Mismatch) *StateDictError {
	if len(ms) == 0 {
		return e
	}
	if e == nil {
		e = &StateDictError{}
	}
	e.Mismatched = append(e.Mismatched, ms...)
	slices.SortFunc(e.Mismatched, func(a, b Mismatch) int { return strings.Compare(a.Name, b.Name) })
	return e
}

// matchStateDict compares tensors with the parameters and the names of
// the buffers and returns the differences opts does not allow, or nil.
// (setBuffers checks the buffers' tensors.)
func matchStateDict(names []string, vars []*autograd.Variable, buffers []string, tensors map[string]*safetensors.Tensor, prefix string, opts LoadOptions) *StateDictError {
	e := &StateDictError{}
	want := make(map[string]bool, len(names)+len(buffers))
	for _, name := range buffers {
		full := prefix + name
		want[full] = true
		if t, ok := tensors[full]; (!ok || t == nil) && !opts.AllowMissing {
			e.Missing = append(e.Missing, full)
		}
	}
	for i, name := range names {
		full := prefix + name
		want[full] = true
		t, ok := tensors[full]
		if !ok || t == nil {
			if !opts.AllowMissing {
				e.Missing = append(e.Missing, full)
			}
			continue
		}
		p := vars[i].Data
		if !slices.Equal(t.Shape(), p.Shape()) || !dtypeFits(t.DType(), p.DType(), opts.ExactDType) {
			e.Mismatched = append(e.Mismatched, Mismatch{Name: full, FileShape: t.Shape(), FileDType: t.DType(), ModelShape: p.Shape(), ModelDType: p.DType()})
		}
	}
	if !opts.AllowUnexpected {
		for name := range tensors {
			if strings.HasPrefix(name, prefix) && !want[name] {
				e.Unexpected = append(e.Unexpected, name)
			}
		}
	}
	if len(e.Missing) == 0 && len(e.Unexpected) == 0 && len(e.Mismatched) == 0 {
		return nil
	}
	slices.Sort(e.Missing)
	slices.Sort(e.Unexpected)
	slices.SortFunc(e.Mismatched, func(a, b Mismatch) int { return strings.Compare(a.Name, b.Name) })
	if len(e.Missing) == len(names)+len(buffers) && len(names) > 0 {
		e.Hint, e.Prefixes = prefixHint(names, tensors, prefix)
	}
	return e
}

// prefixHint looks for the prefixes under which every parameter has a
// tensor and suggests them all: a file may hold the weights under one
// prefix and something of the same shapes (gradients, optimizer moments)
// under others, and only the caller can tell which is meant. The shortest
// prefix comes first (for "param." and "grad.param.", "param."), then byte
// order; prefixes that look like gradients ("grad." or ".grad." in them)
// are marked as such, so that the hint never reads as an invitation to
// load gradients as weights.
func prefixHint(names []string, tensors map[string]*safetensors.Tensor, prefix string) (hint string, prefixes []string) {
	for t := range tensors {
		p, ok := strings.CutSuffix(t, names[0])
		if !ok || p == prefix {
			continue
		}
		full := true
		for _, n := range names {
			if _, ok := tensors[p+n]; !ok {
				full = false
				break
			}
		}
		if full {
			prefixes = append(prefixes, p)
		}
	}
	if len(prefixes) == 0 {
		return "", nil
	}
	slices.SortFunc(prefixes, func(a, b string) int {
		if c := cmp.Compare(len(a), len(b)); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	quoted := make([]string, len(prefixes))
	for i, p := range prefixes {
		quoted[i] = strconv.Quote(p)
		if looksLikeGradients(p) {
			quoted[i] += " (gradients?)"
		}
	}
	if len(prefixes) == 1 {
		return "the tensors are there under prefix " + quoted[0], prefixes
	}
	return "the tensors are there under " + strconv.Itoa(len(prefixes)) + " prefixes: " + strings.Join(quoted, ", ") + "; choose one", prefixes
}

// looksLikeGradients reports whether a prefix names gradients rather than
// weights.
func looksLikeGradients(p string) bool {
	p = strings.ToLower(p)
	return strings.HasPrefix(p, "grad.") || strings.HasPrefix(p, "grad_") || strings.Contains(p, ".grad.") || strings.Contains(p, "_grad.")
}

// dtypeFits reports whether a tensor of type f can load into a parameter
// of type p.
func dtypeFits(f safetensors.DType, p tensor.DType, exact bool) bool {
	if exact {
		return f == safetensors.F32 && p == tensor.Float32 || f == safetensors.F64 && p == tensor.Float64
	}
	return f.IsFloat()
}

// copyInto converts t to dst's element type and copies it into dst.
func copyInto(dst *tensor.Tensor, t *safetensors.Tensor) error {
	src, err := t.ToTensorAs(dst.DType())
	if err != nil {
		return err
	}
	dst.CopyFrom(src)
	return nil
}
