// Package safetensors reads and writes the safetensors format of Hugging
// Face (https://github.com/huggingface/safetensors), the format PyTorch's
// safetensors.torch.save_file writes, with no dependency outside the
// standard library.
//
// A file is an 8-byte little-endian unsigned header length N, then N bytes
// of JSON header, then the data buffer:
//
//	{"__metadata__": {"key": "value", …},
//	 "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}, …}
//
// Each tensor's data_offsets are byte offsets into the buffer (which starts
// right after the header); its data is little-endian and row-major.
//
// # Validation
//
// Files come from outside and are treated as hostile. Parse, Read and
// ReadFile accept a file only if the header length is at most MaxHeaderSize
// and fits in the file, the header starts with '{' and is valid UTF-8 JSON
// — one object whose keys appear once each, every tensor entry having
// exactly the fields dtype (a known DType), shape (non-negative integers
// whose product does not overflow) and data_offsets (two integers, begin ≤
// end) — each tensor's byte length is its element count times its element
// size, and the tensors' byte ranges, taken in order, tile the data buffer
// exactly: no overlap, no gap, no trailing bytes (the rule of the reference
// implementation). Nothing is allocated in proportion to a size claimed by
// the header, only to the bytes actually present. Problems are reported as
// a *FormatError naming the tensor and what is wrong.
//
// ReadFile reads regular files only, refusing a FIFO, a device or a
// directory at once, and checks the header against the file's size before
// it reads the data (ReadSized), so that it never allocates more than the
// file's size.
//
// # Element types
//
// Every dtype of the format can be read. Float32s, Float64s and ToTensor
// convert the floating-point types (F16, BF16 and the 8-bit floats widen to
// float32 exactly); Int64s reads the integer types and BOOL. Integers
// become floats only on an explicit ToTensorAs. Write stores any Tensor;
// FromTensor builds F32 and F64 tensors from kioku tensors and FromInt64s
// builds I64 tensors.
//
// WriteFile is atomic: it writes a temporary file in the target's
// directory, syncs it, and renames it over the target.
package safetensors

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/kioku-ml/kioku/internal/atomicfile"
	"github.com/kioku-ml/kioku/internal/boundedfile"
	"github.com/kioku-ml/kioku/tensor"
)

// MaxHeaderSize is the largest JSON header accepted, in bytes (the limit
// of the reference implementation).
const MaxHeaderSize = 100_000_000

// metadataKey is the reserved header key of the string-to-string metadata.
const metadataKey = "__metadata__"

// FormatError reports a malformed or invalid safetensors file.
type FormatError struct {
	// File is the file name, when known.
	File string
	// Tensor is the name of the tensor at fault, or "" when the problem is
	// not with one tensor.
	Tensor string
	// Problem describes what is wrong.
	Problem string
}

// Error returns "safetensors: FILE: tensor "NAME": PROBLEM", leaving out
// the parts that are not known.
func (e *FormatError) Error() string {
	s := "safetensors: "
	if e.File != "" {
		s += e.File + ": "
	}
	if e.Tensor != "" {
		s += "tensor " + strconv.Quote(e.Tensor) + ": "
	}
	return s + e.Problem
}

func formatErr(tensor, format string, args ...any) *FormatError {
	return &FormatError{Tensor: tensor, Problem: fmt.Sprintf(format, args...)}
}

// Tensor is one tensor of a file: its element type, shape and raw
// little-endian row-major bytes.
type Tensor struct {
	dtype DType
	shape []int
	data  []byte
}

// New returns a tensor of the given element type and shape holding data,
// which it keeps (without copying). It returns an error for an unknown
// dtype, a negative dimension or a data length other than the element
// count times the element size.
func New(dtype DType, shape []int, data []byte) (*Tensor, error) {
	if !dtype.Known() {
		return nil, fmt.Errorf("safetensors: unknown dtype %q", string(dtype))
	}
	n, err := numElements(shape)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %v", err)
	}
	if n > math.MaxInt/dtype.Size() || n*dtype.Size() != len(data) {
		return nil, fmt.Errorf("safetensors: %d bytes for shape %v of %s (want %d elements of %d bytes)", len(data), shape, dtype, n, dtype.Size())
	}
	return &Tensor{dtype: dtype, shape: slices.Clone(shape), data: data}, nil
}

// FromTensor returns t's elements as an F32 or F64 tensor, copied.
func FromTensor(t *tensor.Tensor) *Tensor {
	out := &Tensor{shape: slices.Clone(t.Shape())}
	if t.DType() == tensor.Float64 {
		out.dtype = F64
		out.data = make([]byte, 0, 8*t.Size())
		for _, v := range t.Float64s() {
			out.data = binary.LittleEndian.AppendUint64(out.data, math.Float64bits(v))
		}
		return out
	}
	out.dtype = F32
	out.data = make([]byte, 0, 4*t.Size())
	for _, v := range t.Float32s() {
		out.data = binary.LittleEndian.AppendUint32(out.data, math.Float32bits(v))
	}
	return out
}

// FromInt64s returns an I64 tensor of the given shape holding a copy of
// v. With no shape it is one-dimensional of length len(v).
func FromInt64s(v []int64, shape ...int) (*Tensor, error) {
	if shape == nil {
		shape = []int{len(v)}
	}
	n, err := numElements(shape)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %v", err)
	}
	if n != len(v) {
		return nil, fmt.Errorf("safetensors: %d values cannot have shape %v", len(v), shape)
	}
	data := make([]byte, 0, 8*len(v))
	for _, x := range v {
		data = binary.LittleEndian.AppendUint64(data, uint64(x))
	}
	return &Tensor{dtype: I64, shape: slices.Clone(shape), data: data}, nil
}

// DType returns the element type.
func (t *Tensor) DType() DType { return t.dtype }

// Shape returns the shape; the caller must not modify it.
func (t *Tensor) Shape() []int { return t.shape }

// NumElements returns the number of elements.
func (t *Tensor) NumElements() int { return len(t.data) / t.dtype.Size() }

// Bytes returns the raw little-endian data; the caller must not modify
// it.
func (t *Tensor) Bytes() []byte { return t.data }

// Float32s returns the elements of a floating-point tensor as float32s:
// F32, F16, BF16 and the 8-bit floats exactly, F64 rounded to nearest. It
// returns an error for integer types.
func (t *Tensor) Float32s() ([]float32, error) { return floats(t, float32At) }

// Float64s returns the elements of a floating-point tensor as float64s,
// exactly. It returns an error for integer types.
func (t *Tensor) Float64s() ([]float64, error) { return floats(t, float64At) }

// floats returns the elements of a floating-point tensor read by at.
func floats[T float32 | float64](t *Tensor, at func(DType, []byte, int) T) ([]T, error) {
	if !t.dtype.IsFloat() {
		return nil, t.notFloat()
	}
	out := make([]T, t.NumElements())
	for i := range out {
		out[i] = at(t.dtype, t.data, i)
	}
	return out, nil
}

func (t *Tensor) notFloat() error {
	return fmt.Errorf("safetensors: %s tensor is not floating-point; use Int64s, or ToTensorAs to convert it", t.dtype)
}

// Int64s returns the elements of an integer or BOOL tensor as int64s. It
// returns an error for floating-point types and for a U64 value above
// math.MaxInt64.
func (t *Tensor) Int64s() ([]int64, error) {
	if !t.dtype.IsInt() {
		return nil, fmt.Errorf("safetensors: %s tensor is not an integer tensor; use Float32s or Float64s", t.dtype)
	}
	out := make([]int64, t.NumElements())
	for i := range out {
		v, ok := int64At(t.dtype, t.data, i)
		if !ok {
			return nil, fmt.Errorf("safetensors: U64 element %d does not fit in int64", i)
		}
		out[i] = v
	}
	return out, nil
}

// ToTensor returns a floating-point tensor as a kioku tensor of its
// natural type: Float64 for F64, Float32 for the others (exactly). Integer
// tensors return an error: convert them with ToTensorAs.
func (t *Tensor) ToTensor() (*tensor.Tensor, error) {
	if !t.dtype.IsFloat() {
		return nil, t.notFloat()
	}
	if t.dtype == F64 {
		return t.ToTensorAs(tensor.Float64)
	}
	return t.ToTensorAs(tensor.Float32)
}

// ToTensorAs returns the tensor converted to a kioku tensor of type dt:
// floats are rounded to nearest when narrowing (F64 to Float32), integers
// convert to the nearest float (exact up to 2²⁴ for Float32 and 2⁵³ for
// Float64).
func (t *Tensor) ToTensorAs(dt tensor.DType) (*tensor.Tensor, error) {
	if dt != tensor.Float32 && dt != tensor.Float64 {
		return nil, fmt.Errorf("safetensors: cannot convert to %v", dt)
	}
	out := tensor.New(dt, t.shape...)
	n := t.NumElements()
	switch {
	case t.dtype.IsFloat() && dt == tensor.Float32:
		f := out.Float32s()
		for i := range n {
			f[i] = float32At(t.dtype, t.data, i)
		}
	case t.dtype.IsFloat():
		f := out.Float64s()
		for i := range n {
			f[i] = float64At(t.dtype, t.data, i)
		}
	default:
		for i := range n {
			v, ok := int64At(t.dtype, t.data, i)
			if !ok {
				out.SetFlat(i, float64(binary.LittleEndian.Uint64(t.data[8*i:])))
				continue
			}
			out.SetFlat(i, float64(v))
		}
	}
	return out, nil
}

// numElements returns the product of shape, or an error for a negative
// dimension or an overflowing product.
func numElements(shape []int) (int, error) {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension in shape %v", shape)
		}
	}
	if slices.Contains(shape, 0) {
		return 0, nil
	}
	for _, d := range shape {
		if n > math.MaxInt/d {
			return 0, fmt.Errorf("shape %v has too many elements", shape)
		}
		n *= d
	}
	return n, nil
}

// File is the contents of a safetensors file.
type File struct {
	// Tensors maps each tensor's name to it.
	Tensors map[string]*Tensor
	// Metadata is the header's "__metadata__", nil if it has none.
	Metadata map[string]string
}

// Names returns the tensor names in sorted order.
func (f *File) Names() []string { return slices.Sorted(maps.Keys(f.Tensors)) }

// ReadFile reads and validates the safetensors file name. It reads only
// regular files (a FIFO, a device or a symlink to one is refused at once,
// without blocking), checks the header against the file's size before
// reading the data (ReadSized), and so allocates no more than the file's
// size. Errors from a malformed file are *FormatError values carrying the
// file name.
func ReadFile(name string) (*File, error) {
	fh, size, err := boundedfile.Open(name, -1)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	defer fh.Close()
	f, err := ReadSized(fh, size)
	if fe, ok := errors.AsType[*FormatError](err); ok {
		fe.File = name
	}
	return f, err
}

// ReadSized reads a safetensors file of size bytes from r and validates
// it. It reads the 8-byte header length and the header, checks them and
// the tensors' layout against size, and only then allocates and reads the
// data buffer, so that a file whose header does not fit its size is
// refused after reading at most its header; it reports an r that yields
// fewer or more than size bytes.
func ReadSized(r io.Reader, size int64) (*File, error) {
	if size < 8 {
		return nil, formatErr("", "file of %d bytes is too short for the 8-byte header length", max(size, 0))
	}
	var lenBuf [8]byte
	if _, err := io.ReadFull(r, lenBuf[:]); err != nil {
		return nil, shortRead(err)
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if err := checkHeaderLength(n, uint64(size-8)); err != nil {
		return nil, err
	}
	hdr := make([]byte, n)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, shortRead(err)
	}
	entries, meta, err := parseHeader(hdr)
	if err != nil {
		return nil, err
	}
	bufLen := size - 8 - int64(n)
	if bufLen > math.MaxInt {
		return nil, formatErr("", "data buffer of %d bytes cannot be addressed", bufLen)
	}
	if err := checkLayout(entries, int(bufLen)); err != nil {
		return nil, err
	}
	buf := make([]byte, bufLen)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, shortRead(err)
	}
	var one [1]byte
	if k, _ := r.Read(one[:]); k > 0 {
		return nil, formatErr("", "file continues past its %d bytes (changed while being read?)", size)
	}
	return newFile(entries, meta, buf)
}

// shortRead describes a read that ended before the size it was promised.
func shortRead(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return formatErr("", "file ends before its size (changed while being read?)")
	}
	return err
}

// Read reads a safetensors file from r and validates it. It reads the
// header, checks it, and then reads exactly the data the header
// describes, reporting a file that is shorter or longer; memory is
// allocated in proportion to the bytes r yields, whatever the header
// claims.
func Read(r io.Reader) (*File, error) {
	var lenBuf [8]byte
	if n, err := io.ReadFull(r, lenBuf[:]); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, formatErr("", "file of %d bytes is too short for the 8-byte header length", n)
		}
		return nil, err
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if err := checkHeaderLength(n, math.MaxUint64); err != nil {
		return nil, err
	}
	hdr, err := io.ReadAll(io.LimitReader(r, int64(n)))
	if err != nil {
		return nil, err
	}
	if err := checkHeaderLength(n, uint64(len(hdr))); err != nil {
		return nil, err
	}
	entries, meta, err := parseHeader(hdr)
	if err != nil {
		return nil, err
	}
	need := 0
	for _, e := range entries {
		need = max(need, e.end)
	}
	buf, err := io.ReadAll(io.LimitReader(r, int64(need)+1))
	if err != nil {
		return nil, err
	}
	if len(buf) > need {
		if err := checkLayout(entries, need); err != nil {
			return nil, err
		}
		return nil, formatErr("", "data buffer continues past the %d bytes the tensors cover", need)
	}
	return newFile(entries, meta, buf)
}

// Parse validates the safetensors file held in data. The returned tensors
// share data's storage: the caller must not modify data afterwards.
func Parse(data []byte) (*File, error) {
	if len(data) < 8 {
		return nil, formatErr("", "file of %d bytes is too short for the 8-byte header length", len(data))
	}
	n := binary.LittleEndian.Uint64(data)
	if err := checkHeaderLength(n, uint64(len(data)-8)); err != nil {
		return nil, err
	}
	entries, meta, err := parseHeader(data[8 : 8+n])
	if err != nil {
		return nil, err
	}
	return newFile(entries, meta, data[8+n:])
}

// checkHeaderLength checks the header length n against the limit and
// the rest bytes that follow it.
func checkHeaderLength(n, rest uint64) error {
	switch {
	case n > MaxHeaderSize:
		return formatErr("", "header length %d exceeds the limit of %d bytes", n, MaxHeaderSize)
	case n > rest:
		return formatErr("", "header length %d exceeds the %d bytes that follow it (truncated file?)", n, rest)
	case n < 2:
		return formatErr("", "header length %d is too short for a JSON object", n)
	}
	return nil
}

// newFile checks that the entries tile buf and returns the file.
func newFile(entries []entry, meta map[string]string, buf []byte) (*File, error) {
	if err := checkLayout(entries, len(buf)); err != nil {
		return nil, err
	}
	f := &File{Tensors: make(map[string]*Tensor, len(entries)), Metadata: meta}
	for _, e := range entries {
		f.Tensors[e.name] = &Tensor{dtype: e.dtype, shape: e.shape, data: buf[e.begin:e.end:e.end]}
	}
	return f, nil
}

// entry is one tensor's header entry.
type entry struct {
	name       string
	dtype      DType
	shape      []int
	begin, end int
}

// parseHeader decodes and checks the JSON header, token by token so that
// duplicate keys, unknown fields and bad numbers are caught.
func parseHeader(hdr []byte) ([]entry, map[string]string, error) {
	if hdr[0] != '{' {
		return nil, nil, formatErr("", "header does not start with '{'")
	}
	if !utf8.Valid(hdr) {
		return nil, nil, formatErr("", "header is not valid UTF-8")
	}
	p := &headerParser{dec: json.NewDecoder(bytes.NewReader(hdr))}
	p.dec.UseNumber()
	if err := p.delim('{', ""); err != nil {
		return nil, nil, err
	}
	var entries []entry
	var meta map[string]string
	seen := map[string]bool{}
	for p.dec.More() {
		key, err := p.key("")
		if err != nil {
			return nil, nil, err
		}
		if seen[key] {
			return nil, nil, formatErr(key, "duplicate key in header")
		}
		seen[key] = true
		if key == metadataKey {
			if meta, err = p.metadata(); err != nil {
				return nil, nil, err
			}
			continue
		}
		if key == "" {
			return nil, nil, formatErr("", "tensor with an empty name")
		}
		e, err := p.entry(key)
		if err != nil {
			return nil, nil, err
		}
		entries = append(entries, e)
	}
	if err := p.delim('}', ""); err != nil {
		return nil, nil, err
	}
	if _, err := p.dec.Token(); err != io.EOF {
		return nil, nil, formatErr("", "header has data after its JSON object")
	}
	return entries, meta, nil
}

type headerParser struct{ dec *json.Decoder }

// token returns the next token, turning syntax errors into FormatErrors.
func (p *headerParser) token(tensor string) (json.Token, error) {
	tok, err := p.dec.Token()
	if err == io.EOF {
		return nil, formatErr(tensor, "header JSON ends early")
	}
	if err != nil {
		return nil, formatErr(tensor, "header is not valid JSON: %v", err)
	}
	return tok, nil
}

func (p *headerParser) delim(want json.Delim, tensor string) error {
	tok, err := p.token(tensor)
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return formatErr(tensor, "header JSON has %s where %q was expected", describe(tok), string(want))
	}
	return nil
}

func (p *headerParser) key(tensor string) (string, error) {
	tok, err := p.token(tensor)
	if err != nil {
		return "", err
	}
	s, ok := tok.(string)
	if !ok {
		return "", formatErr(tensor, "header JSON has %s where a key was expected", describe(tok))
	}
	return s, nil
}

// describe names a JSON token for an error message.
func describe(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		return strconv.Quote(string(v))
	case string:
		return "string " + strconv.Quote(v)
	case json.Number:
		return "number " + string(v)
	case bool:
		return "boolean " + strconv.FormatBool(v)
	case nil:
		return "null"
	}
	return fmt.Sprint(tok)
}

// metadata reads the "__metadata__" value: null or an object of strings.
func (p *headerParser) metadata() (map[string]string, error) {
	tok, err := p.token("")
	if err != nil {
		return nil, err
	}
	if tok == nil {
		return nil, nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, formatErr("", "__metadata__ is %s, not an object of strings", describe(tok))
	}
	meta := map[string]string{}
	for p.dec.More() {
		k, err := p.key("")
		if err != nil {
			return nil, err
		}
		if _, dup := meta[k]; dup {
			return nil, formatErr("", "duplicate __metadata__ key %q", k)
		}
		tok, err := p.token("")
		if err != nil {
			return nil, err
		}
		v, ok := tok.(string)
		if !ok {
			return nil, formatErr("", "__metadata__ value of %q is %s, not a string", k, describe(tok))
		}
		meta[k] = v
	}
	return meta, p.delim('}', "")
}

// entry reads one tensor's {"dtype", "shape", "data_offsets"} object.
func (p *headerParser) entry(name string) (entry, error) {
	e := entry{name: name}
	if err := p.delim('{', name); err != nil {
		return e, err
	}
	have := map[string]bool{}
	var offsets []int
	for p.dec.More() {
		field, err := p.key(name)
		if err != nil {
			return e, err
		}
		if have[field] {
			return e, formatErr(name, "duplicate field %q", field)
		}
		have[field] = true
		switch field {
		case "dtype":
			tok, err := p.token(name)
			if err != nil {
				return e, err
			}
			s, ok := tok.(string)
			if !ok {
				return e, formatErr(name, "dtype is %s, not a string", describe(tok))
			}
			e.dtype = DType(s)
			if !e.dtype.Known() {
				return e, formatErr(name, "unknown dtype %q", s)
			}
		case "shape":
			if e.shape, err = p.ints(name, "shape"); err != nil {
				return e, err
			}
		case "data_offsets":
			if offsets, err = p.ints(name, "data_offsets"); err != nil {
				return e, err
			}
			if len(offsets) != 2 {
				return e, formatErr(name, "data_offsets has %d numbers, want 2", len(offsets))
			}
		default:
			return e, formatErr(name, "unknown field %q", field)
		}
	}
	if err := p.delim('}', name); err != nil {
		return e, err
	}
	for _, f := range []string{"dtype", "shape", "data_offsets"} {
		if !have[f] {
			return e, formatErr(name, "missing field %q", f)
		}
	}
	e.begin, e.end = offsets[0], offsets[1]
	if e.end < e.begin {
		return e, formatErr(name, "data_offsets [%d, %d] end before they begin", e.begin, e.end)
	}
	n, err := numElements(e.shape)
	if err != nil {
		return e, formatErr(name, "%v", err)
	}
	size := e.dtype.Size()
	if n > math.MaxInt/size || n*size != e.end-e.begin {
		return e, formatErr(name, "data_offsets [%d, %d] hold %d bytes but shape %v of %s needs %s", e.begin, e.end, e.end-e.begin, e.shape, e.dtype, bytesNeeded(n, size))
	}
	return e, nil
}

func bytesNeeded(n, size int) string {
	if n > math.MaxInt/size {
		return "more bytes than can be addressed"
	}
	return strconv.Itoa(n*size) + " bytes"
}

// ints reads an array of non-negative integers that fit in an int.
func (p *headerParser) ints(name, field string) ([]int, error) {
	if err := p.delim('[', name); err != nil {
		return nil, formatErr(name, "%s is not an array", field)
	}
	out := []int{}
	for p.dec.More() {
		tok, err := p.token(name)
		if err != nil {
			return nil, err
		}
		num, ok := tok.(json.Number)
		if !ok {
			return nil, formatErr(name, "%s holds %s, not an integer", field, describe(tok))
		}
		v, err := strconv.ParseInt(string(num), 10, 64)
		switch {
		case err != nil && errors.Is(err, strconv.ErrRange):
			return nil, formatErr(name, "%s value %s is too large", field, num)
		case err != nil:
			return nil, formatErr(name, "%s value %s is not an integer", field, num)
		case v < 0:
			return nil, formatErr(name, "%s value %d is negative", field, v)
		case v > math.MaxInt:
			return nil, formatErr(name, "%s value %d is too large", field, v)
		}
		out = append(out, int(v))
	}
	return out, p.delim(']', name)
}

// checkLayout checks that the entries' byte ranges tile a buffer of
// bufLen bytes exactly.
func checkLayout(entries []entry, bufLen int) error {
	sorted := slices.Clone(entries)
	slices.SortFunc(sorted, func(a, b entry) int {
		return cmp.Or(cmp.Compare(a.begin, b.begin), cmp.Compare(a.end, b.end), cmp.Compare(a.name, b.name))
	})
	pos, prev := 0, ""
	for _, e := range sorted {
		switch {
		case e.end > bufLen:
			return formatErr(e.name, "data_offsets [%d, %d] run past the end of the %d-byte data buffer (truncated file?)", e.begin, e.end, bufLen)
		case e.begin < pos:
			return formatErr(e.name, "data_offsets [%d, %d] overlap those of tensor %q, which end at %d", e.begin, e.end, prev, pos)
		case e.begin > pos:
			return formatErr(e.name, "data_offsets [%d, %d] leave a gap: the bytes before them end at %d", e.begin, e.end, pos)
		}
		pos, prev = e.end, e.name
	}
	if pos != bufLen {
		return formatErr("", "data buffer has %d bytes but the tensors cover only %d", bufLen, pos)
	}
	return nil
}

// Write writes tensors and metadata (which may be nil) to w in the
// safetensors format. Tensors are laid out by decreasing element size,
// then by name, after a header padded with spaces to a multiple of 8
// bytes, so every tensor is aligned to its element size.
func Write(w io.Writer, tensors map[string]*Tensor, metadata map[string]string) error {
	hdr, order, err := encodeHeader(tensors, metadata)
	if err != nil {
		return err
	}
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(hdr)))
	if _, err := w.Write(lenBuf[:]); err != nil {
		return err
	}
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	for _, name := range order {
		if _, err := w.Write(tensors[name].data); err != nil {
			return err
		}
	}
	return nil
}

// WriteFile writes tensors and metadata to the file name atomically (see
// Write): the file either keeps its old contents or has the new ones, even
// after a crash.
func WriteFile(name string, tensors map[string]*Tensor, metadata map[string]string) error {
	if _, _, err := encodeHeader(tensors, metadata); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(name, 0o644, func(w io.Writer) error { return Write(w, tensors, metadata) }); err != nil {
		return fmt.Errorf("safetensors: write %s: %w", name, err)
	}
	return nil
}

// encodeHeader checks the tensors and returns the padded header and the
// order of the tensors in the buffer.
func encodeHeader(tensors map[string]*Tensor, metadata map[string]string) ([]byte, []string, error) {
	order := make([]string, 0, len(tensors))
	for name, t := range tensors {
		switch {
		case name == "":
			return nil, nil, fmt.Errorf("safetensors: tensor with an empty name")
		case name == metadataKey:
			return nil, nil, fmt.Errorf("safetensors: tensor name %q is reserved", name)
		case !utf8.ValidString(name):
			return nil, nil, fmt.Errorf("safetensors: tensor name %q is not valid UTF-8", name)
		case t == nil:
			return nil, nil, fmt.Errorf("safetensors: tensor %q is nil", name)
		case !t.dtype.Known():
			return nil, nil, fmt.Errorf("safetensors: tensor %q has unknown dtype %q", name, string(t.dtype))
		}
		if n, err := numElements(t.shape); err != nil || n*t.dtype.Size() != len(t.data) {
			return nil, nil, fmt.Errorf("safetensors: tensor %q has %d bytes for shape %v of %s", name, len(t.data), t.shape, t.dtype)
		}
		order = append(order, name)
	}
	slices.SortFunc(order, func(a, b string) int {
		return cmp.Or(cmp.Compare(tensors[b].dtype.Size(), tensors[a].dtype.Size()), cmp.Compare(a, b))
	})
	var h bytes.Buffer
	h.WriteByte('{')
	if metadata != nil {
		keys := make([]string, 0, len(metadata))
		for k, v := range metadata {
			if !utf8.ValidString(k) || !utf8.ValidString(v) {
				return nil, nil, fmt.Errorf("safetensors: metadata %q is not valid UTF-8", k)
			}
			keys = append(keys, k)
		}
		slices.Sort(keys)
		h.WriteString(`"__metadata__":{`)
		for i, k := range keys {
			if i > 0 {
				h.WriteByte(',')
			}
			writeString(&h, k)
			h.WriteByte(':')
			writeString(&h, metadata[k])
		}
		h.WriteByte('}')
	}
	off := 0
	for i, name := range order {
		t := tensors[name]
		if i > 0 || metadata != nil {
			h.WriteByte(',')
		}
		writeString(&h, name)
		fmt.Fprintf(&h, `:{"dtype":"%s","shape":[`, t.dtype)
		for j, d := range t.shape {
			if j > 0 {
				h.WriteByte(',')
			}
			h.WriteString(strconv.Itoa(d))
		}
		fmt.Fprintf(&h, `],"data_offsets":[%d,%d]}`, off, off+len(t.data))
		off += len(t.data)
	}
	h.WriteByte('}')
	for h.Len()%8 != 0 {
		h.WriteByte(' ')
	}
	if h.Len() > MaxHeaderSize {
		return nil, nil, fmt.Errorf("safetensors: header of %d bytes exceeds the limit of %d", h.Len(), MaxHeaderSize)
	}
	return h.Bytes(), order, nil
}

// writeString writes s as a JSON string, without escaping HTML characters.
func writeString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)           // cannot fail for a string
	b.Truncate(b.Len() - 1) // drop Encode's newline
}
