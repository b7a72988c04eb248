package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/kioku-ml/kioku/tensor"
)

// file assembles a safetensors file from a header and a data buffer.
func file(header string, buf []byte) []byte {
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	out = append(out, header...)
	return append(out, buf...)
}

func TestRoundTrip(t *testing.T) {
	f32 := tensor.FromFloat32([]float32{1, -2.5, float32(math.Inf(1)), 3e-38, 0, 7}, 2, 3)
	f64 := tensor.FromFloat64([]float64{math.Pi, -math.E, 1e300}, 3)
	ids, err := FromInt64s([]int64{-1, math.MaxInt64, 0, 42}, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	empty := tensor.New(tensor.Float32, 0, 4)
	scalar := tensor.Scalar(tensor.Float64, -0.5)
	in := map[string]*Tensor{
		"layer.weight": FromTensor(f32),
		"b<&>":         FromTensor(f64),
		"ids":          ids,
		"empty":        FromTensor(empty),
		"scalar":       FromTensor(scalar),
		"日本語":          FromTensor(tensor.FromFloat32([]float32{1})),
	}
	meta := map[string]string{"format": "pt", "note": "quote \" and \n newline", "": "empty key"}
	var buf bytes.Buffer
	if err := Write(&buf, in, meta); err != nil {
		t.Fatal(err)
	}
	hdrLen := binary.LittleEndian.Uint64(buf.Bytes())
	if hdrLen%8 != 0 {
		t.Errorf("header length %d is not a multiple of 8", hdrLen)
	}
	for _, read := range []func([]byte) (*File, error){Parse, func(b []byte) (*File, error) { return Read(bytes.NewReader(b)) }} {
		f, err := read(buf.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if !mapsEqual(f.Metadata, meta) {
			t.Errorf("metadata %v, want %v", f.Metadata, meta)
		}
		if got, want := f.Names(), []string{"b<&>", "empty", "ids", "layer.weight", "scalar", "日本語"}; !slices.Equal(got, want) {
			t.Errorf("names %v, want %v", got, want)
		}
		for name, want := range in {
			got := f.Tensors[name]
			if got.DType() != want.DType() || !slices.Equal(got.Shape(), want.Shape()) || !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Errorf("%s: got %s %v, want %s %v", name, got.DType(), got.Shape(), want.DType(), want.Shape())
			}
		}
		w, err := f.Tensors["layer.weight"].ToTensor()
		if err != nil || !tensor.Equal(w, f32) {
			t.Errorf("layer.weight ToTensor = %v, %v", w, err)
		}
		b, err := f.Tensors["b<&>"].ToTensor()
		if err != nil || !tensor.Equal(b, f64) {
			t.Errorf("b ToTensor = %v, %v", b, err)
		}
		s, err := f.Tensors["scalar"].ToTensor()
		if err != nil || s.NDim() != 0 || s.Item() != -0.5 {
			t.Errorf("scalar ToTensor = %v, %v", s, err)
		}
		v, err := f.Tensors["ids"].Int64s()
		if err != nil || !slices.Equal(v, []int64{-1, math.MaxInt64, 0, 42}) {
			t.Errorf("ids Int64s = %v, %v", v, err)
		}
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestNoMetadataAndEmptyFile(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, nil, nil); err != nil {
		t.Fatal(err)
	}
	f, err := Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Tensors) != 0 || f.Metadata != nil {
		t.Errorf("got %v", f)
	}
	// The reference writer's spelling of an empty file, and a null
	// __metadata__.
	for _, h := range []string{"{}", `{"__metadata__":null}  `} {
		if _, err := Parse(file(h, nil)); err != nil {
			t.Errorf("%s: %v", h, err)
		}
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "m.safetensors")
	if err := os.WriteFile(name, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	tens := map[string]*Tensor{"w": FromTensor(tensor.FromFloat32([]float32{1, 2}))}
	if err := WriteFile(name, tens, map[string]string{"a": "b"}); err != nil {
		t.Fatal(err)
	}
	f, err := ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if f.Metadata["a"] != "b" || f.Tensors["w"].NumElements() != 2 {
		t.Errorf("read back %v", f)
	}
	// A bad tensor fails before anything is written, and leaves the old
	// file and no temporary file.
	err = WriteFile(name, map[string]*Tensor{"": FromTensor(tensor.Zeros(1))}, nil)
	if err == nil {
		t.Fatal("empty name accepted")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("directory holds %v", entries)
	}
	if _, err := ReadFile(name); err != nil {
		t.Errorf("old file damaged: %v", err)
	}
	// Writing into a missing directory fails cleanly.
	if err := WriteFile(filepath.Join(dir, "no", "x.safetensors"), tens, nil); err == nil {
		t.Error("write into a missing directory succeeded")
	}
}

func TestReadFileNamesFile(t *testing.T) {
	name := filepath.Join(t.TempDir(), "bad.safetensors")
	os.WriteFile(name, []byte("short"), 0o644)
	_, err := ReadFile(name)
	var fe *FormatError
	if !errors.As(err, &fe) || fe.File != name || !strings.Contains(err.Error(), name) {
		t.Errorf("error %v does not name the file", err)
	}
	if _, err := ReadFile(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestWriteErrors(t *testing.T) {
	good := FromTensor(tensor.Zeros(2))
	tests := []struct {
		name    string
		tensors map[string]*Tensor
		meta    map[string]string
		want    string
	}{
		{"empty name", map[string]*Tensor{"": good}, nil, "empty name"},
		{"reserved", map[string]*Tensor{"__metadata__": good}, nil, "reserved"},
		{"bad utf8 name", map[string]*Tensor{"\xff": good}, nil, "UTF-8"},
		{"nil", map[string]*Tensor{"w": nil}, nil, "nil"},
		{"zero tensor", map[string]*Tensor{"w": {}}, nil, "unknown dtype"},
		{"bad size", map[string]*Tensor{"w": {dtype: F32, shape: []int{3}, data: make([]byte, 8)}}, nil, "8 bytes for shape [3]"},
		{"bad utf8 metadata", nil, map[string]string{"k": "\xfe"}, "UTF-8"},
	}
	for _, tt := range tests {
		err := Write(io.Discard, tt.tensors, tt.meta)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want it to mention %q", tt.name, err, tt.want)
		}
	}
}

func TestConstructors(t *testing.T) {
	if _, err := New("F99", []int{1}, make([]byte, 4)); err == nil {
		t.Error("New accepted an unknown dtype")
	}
	if _, err := New(F32, []int{2}, make([]byte, 4)); err == nil {
		t.Error("New accepted a short buffer")
	}
	if _, err := New(F32, []int{-1}, nil); err == nil {
		t.Error("New accepted a negative dimension")
	}
	if _, err := FromInt64s([]int64{1, 2, 3}, 2); err == nil {
		t.Error("FromInt64s accepted a wrong shape")
	}
	x, err := New(F16, []int{2}, []byte{0x00, 0x3c, 0x00, 0xc0})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := x.Float32s(); !slices.Equal(v, []float32{1, -2}) {
		t.Errorf("F16 [1, -2] read as %v", v)
	}
}

func TestConversions(t *testing.T) {
	le16 := func(v ...uint16) []byte {
		var b []byte
		for _, x := range v {
			b = binary.LittleEndian.AppendUint16(b, x)
		}
		return b
	}
	inf, nan := math.Inf(1), math.NaN()
	tests := []struct {
		dtype DType
		data  []byte
		want  []float64
	}{
		// F16: 1, -2, 65504 (max), 2⁻¹⁴ (min normal), 2⁻²⁴ (min subnormal), 3·2⁻²⁴, −0, +Inf, −Inf, NaN.
		{F16, le16(0x3c00, 0xc000, 0x7bff, 0x0400, 0x0001, 0x0003, 0x8000, 0x7c00, 0xfc00, 0x7e00), []float64{1, -2, 65504, math.Ldexp(1, -14), math.Ldexp(1, -24), 3 * math.Ldexp(1, -24), math.Copysign(0, -1), inf, -inf, nan}},
		// BF16: 1, -2, 3.140625, +Inf, NaN.
		{BF16, le16(0x3f80, 0xc000, 0x4049, 0x7f80, 0x7fc0), []float64{1, -2, 3.140625, inf, nan}},
		// F8_E5M2 is the top byte of F16: 1, -2, +Inf, 2⁻¹⁶ (subnormal).
		{F8E5M2, []byte{0x3c, 0xc0, 0x7c, 0x01}, []float64{1, -2, inf, math.Ldexp(1, -16)}},
		// F8_E4M3 (fn): 1, -2, 448 (max), 2⁻⁹ (min subnormal), NaN.
		{F8E4M3, []byte{0x38, 0xc0, 0x7e, 0x01, 0x7f}, []float64{1, -2, 448, math.Ldexp(1, -9), nan}},
		{F32, binary.LittleEndian.AppendUint32(nil, math.Float32bits(0.1)), []float64{float64(float32(0.1))}},
		{F64, binary.LittleEndian.AppendUint64(nil, math.Float64bits(0.1)), []float64{0.1}},
	}
	same := func(a, b float64) bool {
		return a == b && math.Signbit(a) == math.Signbit(b) || math.IsNaN(a) && math.IsNaN(b)
	}
	for _, tt := range tests {
		x, err := New(tt.dtype, []int{len(tt.want)}, tt.data)
		if err != nil {
			t.Fatal(err)
		}
		f64, err := x.Float64s()
		if err != nil {
			t.Fatal(err)
		}
		f32, _ := x.Float32s()
		k32, _ := x.ToTensorAs(tensor.Float32)
		for i, w := range tt.want {
			if !same(f64[i], w) || !same(float64(f32[i]), float64(float32(w))) || !same(k32.AtFlat(i), float64(float32(w))) {
				t.Errorf("%s element %d: got %v / %v / %v, want %v", tt.dtype, i, f64[i], f32[i], k32.AtFlat(i), w)
			}
		}
		if _, err := x.Int64s(); err == nil {
			t.Errorf("%s: Int64s succeeded on a float tensor", tt.dtype)
		}
	}
	ints := []struct {
		dtype DType
		data  []byte
		want  []int64
	}{
		{BOOL, []byte{0, 1}, []int64{0, 1}},
		{U8, []byte{0, 255}, []int64{0, 255}},
		{I8, []byte{0x80, 0x7f}, []int64{-128, 127}},
		{I16, le16(0x8000, 1), []int64{-32768, 1}},
		{U16, le16(0xffff, 1), []int64{65535, 1}},
		{I32, binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, 0x80000000), 7), []int64{math.MinInt32, 7}},
		{U32, binary.LittleEndian.AppendUint32(nil, 0xffffffff), []int64{math.MaxUint32}},
		{I64, binary.LittleEndian.AppendUint64(nil, 1<<63), []int64{math.MinInt64}},
		{U64, binary.LittleEndian.AppendUint64(nil, 1<<62), []int64{1 << 62}},
	}
	for _, tt := range ints {
		x, err := New(tt.dtype, []int{len(tt.want)}, tt.data)
		if err != nil {
			t.Fatal(err)
		}
		got, err := x.Int64s()
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("%s: Int64s = %v, %v; want %v", tt.dtype, got, err, tt.want)
		}
		if _, err := x.Float32s(); err == nil {
			t.Errorf("%s: Float32s succeeded on an integer tensor", tt.dtype)
		}
		if _, err := x.ToTensor(); err == nil {
			t.Errorf("%s: ToTensor succeeded on an integer tensor", tt.dtype)
		}
		k, err := x.ToTensorAs(tensor.Float64)
		if err != nil || k.AtFlat(0) != float64(tt.want[0]) {
			t.Errorf("%s: ToTensorAs = %v, %v", tt.dtype, k, err)
		}
	}
	big, _ := New(U64, []int{1}, binary.LittleEndian.AppendUint64(nil, math.MaxUint64))
	if _, err := big.Int64s(); err == nil {
		t.Error("U64 max converted to int64")
	}
	if k, _ := big.ToTensorAs(tensor.Float64); k.AtFlat(0) != math.MaxUint64 {
		t.Errorf("U64 max as float64 = %v", k.AtFlat(0))
	}
}

func TestParseErrors(t *testing.T) {
	f32x2 := make([]byte, 8)
	long := strings.Repeat(" ", 10)
	tests := []struct {
		name string
		data []byte
		want string // substring of the error
	}{
		{"empty", nil, "too short"},
		{"truncated length", []byte{1, 2, 3}, "too short"},
		{"huge header length", binary.LittleEndian.AppendUint64(nil, math.MaxUint64), "exceeds the limit"},
		{"header longer than file", append(binary.LittleEndian.AppendUint64(nil, 1000), "{}"...), "exceeds the 2 bytes"},
		{"header length over limit", append(binary.LittleEndian.AppendUint64(nil, MaxHeaderSize+1), "{}"...), "exceeds the limit"},
		{"zero header", file("", nil), "too short"},
		{"not an object", file(`[1,2]`, nil), "does not start with '{'"},
		{"leading space", file(` {}`, nil), "does not start with '{'"},
		{"bad json", file(`{"a":`, nil), "ends early"},
		{"bad json syntax", file(`{"a" 1}`, nil), "not valid JSON"},
		{"trailing data", file(`{}{}`, nil), "after its JSON object"},
		{"invalid utf8", file("{\"\xff\":1}", nil), "UTF-8"},
		{"duplicate tensor", file(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, f32x2), `"w": duplicate key`},
		{"duplicate metadata", file(`{"__metadata__":{},"__metadata__":{}}`, nil), "duplicate key"},
		{"duplicate metadata key", file(`{"__metadata__":{"a":"1","a":"2"}}`, nil), `duplicate __metadata__ key "a"`},
		{"metadata not strings", file(`{"__metadata__":{"a":1}}`, nil), "not a string"},
		{"metadata not object", file(`{"__metadata__":[]}`, nil), "not an object"},
		{"duplicate field", file(`{"w":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, f32x2), `duplicate field "dtype"`},
		{"unknown field", file(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}}`, f32x2), `unknown field "x"`},
		{"missing field", file(`{"w":{"dtype":"F32","shape":[2]}}`, f32x2), `missing field "data_offsets"`},
		{"entry not object", file(`{"w":[1]}`, nil), `"w": header JSON has "["`},
		{"unknown dtype", file(`{"w":{"dtype":"F99","shape":[2],"data_offsets":[0,8]}}`, f32x2), `"w": unknown dtype "F99"`},
		{"dtype not string", file(`{"w":{"dtype":4,"shape":[2],"data_offsets":[0,8]}}`, f32x2), "not a string"},
		{"negative dim", file(`{"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, f32x2), "negative"},
		{"fractional dim", file(`{"w":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}`, f32x2), "not an integer"},
		{"exponent dim", file(`{"w":{"dtype":"F32","shape":[2e0],"data_offsets":[0,8]}}`, f32x2), "not an integer"},
		{"string dim", file(`{"w":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}}`, f32x2), "not an integer"},
		{"huge dim", file(`{"w":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,8]}}`, f32x2), "too large"},
		{"overflowing shape", file(`{"w":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,8]}}`, f32x2), "too many elements"},
		{"overflowing bytes", file(`{"w":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,8]}}`, f32x2), "more bytes than can be addressed"},
		{"shape not array", file(`{"w":{"dtype":"F32","shape":2,"data_offsets":[0,8]}}`, f32x2), "shape is not an array"},
		{"three offsets", file(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8,8]}}`, f32x2), "has 3 numbers"},
		{"offsets reversed", file(`{"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}`, f32x2), "end before they begin"},
		{"wrong size", file(`{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, f32x2), `"w": data_offsets [0, 8] hold 8 bytes but shape [3] of F32 needs 12 bytes`},
		{"past end", file(`{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`, f32x2), "run past the end"},
		{"truncated buffer", file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}`, make([]byte, 12)), `"b": data_offsets [8, 16] run past the end of the 12-byte`},
		{"overlap", file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, make([]byte, 12)), `"b": data_offsets [4, 12] overlap those of tensor "a"`},
		{"same range", file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, f32x2), "overlap"},
		{"gap", file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}}`, make([]byte, 20)), `"b": data_offsets [12, 20] leave a gap`},
		{"gap at start", file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, make([]byte, 12)), "leave a gap"},
		{"trailing bytes", file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`+long, make([]byte, 9)), "has 9 bytes but the tensors cover only 8"},
		{"empty name", file(`{"":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, f32x2), "empty name"},
		{"key not string", file(`{1:2}`, nil), "not valid JSON"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.data)
		if err == nil {
			t.Errorf("%s: parsed", tt.name)
			continue
		}
		var fe *FormatError
		if !errors.As(err, &fe) {
			t.Errorf("%s: error %T %v is not a *FormatError", tt.name, err, err)
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %q does not contain %q", tt.name, err, tt.want)
		}
		if _, err2 := Read(bytes.NewReader(tt.data)); err2 == nil {
			t.Errorf("%s: Read accepted what Parse rejects", tt.name)
		}
	}
}

// TestHostileHeaderAllocation checks that a file claiming enormous tensors
// allocates nothing like what it claims.
func TestHostileHeaderAllocation(t *testing.T) {
	data := file(`{"w":{"dtype":"F64","shape":[1000000000],"data_offsets":[0,8000000000]}}`, make([]byte, 8))
	allocs := testing.AllocsPerRun(10, func() { Parse(data) })
	if allocs > 100 {
		t.Errorf("%v allocations", allocs)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 10 {
		Parse(data)
		Read(bytes.NewReader(data))
	}
	runtime.ReadMemStats(&after)
	if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
		t.Errorf("parsing a hostile header allocated %d bytes", d)
	}
}

// FuzzRead checks that arbitrary bytes never panic the reader, that what
// it accepts is consistent, and that an accepted file survives a round
// trip through Write.
func FuzzRead(f *testing.F) {
	var buf bytes.Buffer
	ids, _ := FromInt64s([]int64{1, 2, 3})
	Write(&buf, map[string]*Tensor{"a": FromTensor(tensor.FromFloat32([]float32{1, 2})), "b": ids}, map[string]string{"k": "v"})
	f.Add(buf.Bytes())
	f.Add(file(`{"w":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}`, make([]byte, 4)))
	f.Add(file(`{"w":{"dtype":"BF16","shape":[1,2],"data_offsets":[0,4]},"__metadata__":{"a":"b"}}`, make([]byte, 4)))
	f.Add(file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, make([]byte, 12)))
	f.Add(file(`{}`, nil))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(data)
		_, err2 := Read(bytes.NewReader(data))
		if (err == nil) != (err2 == nil) {
			t.Fatalf("Parse error %v but Read error %v", err, err2)
		}
		if err != nil {
			return
		}
		total := 0
		for name, x := range file.Tensors {
			n, err := numElements(x.Shape())
			if err != nil || n*x.DType().Size() != len(x.Bytes()) || n != x.NumElements() {
				t.Fatalf("tensor %q: shape %v, %d bytes", name, x.Shape(), len(x.Bytes()))
			}
			total += len(x.Bytes())
			if x.DType().IsFloat() {
				x.Float64s()
				x.ToTensor()
			} else {
				x.Int64s()
			}
			x.ToTensorAs(tensor.Float32)
		}
		if total > len(data) {
			t.Fatalf("tensors hold %d bytes of a %d-byte file", total, len(data))
		}
		var out bytes.Buffer
		if err := Write(&out, file.Tensors, file.Metadata); err != nil {
			t.Fatalf("rewrite: %v", err)
		}
		again, err := Parse(out.Bytes())
		if err != nil {
			t.Fatalf("reparse: %v", err)
		}
		for name, x := range file.Tensors {
			y := again.Tensors[name]
			if y == nil || !bytes.Equal(x.Bytes(), y.Bytes()) || !slices.Equal(x.Shape(), y.Shape()) || x.DType() != y.DType() {
				t.Fatalf("tensor %q changed in a round trip", name)
			}
		}
	})
}

// zeros is an endless stream of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestReadEndlessStream checks that Read stops after the bytes a header
// describes, and that ReadFile reads a device or pipe through Read.
func TestReadEndlessStream(t *testing.T) {
	valid := file(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, make([]byte, 8))
	_, err := Read(io.MultiReader(bytes.NewReader(valid), zeros{}))
	if err == nil || !strings.Contains(err.Error(), "continues past the 8 bytes") {
		t.Errorf("endless data: %v", err)
	}
	if _, err := Read(zeros{}); err == nil || !strings.Contains(err.Error(), "too short for a JSON object") {
		t.Errorf("endless zeros: %v", err)
	}
	if _, err := Read(bytes.NewReader(valid[:len(valid)-3])); err == nil || !strings.Contains(err.Error(), "run past the end of the 5-byte data buffer") {
		t.Errorf("truncated: %v", err)
	}
	if _, err := os.Stat("/dev/zero"); err == nil {
		if _, err := ReadFile("/dev/zero"); err == nil || !strings.Contains(err.Error(), "/dev/zero: not a regular file (a character device)") {
			t.Errorf("/dev/zero: %v", err)
		}
	}
	if _, err := ReadFile(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a regular file (a directory)") {
		t.Errorf("ReadFile of a directory: %v", err)
	}
}

// TestReadSized checks that ReadSized refuses a header that does not fit
// the file's size before it reads or allocates the data, and a reader
// that yields more or less than the size.
func TestReadSized(t *testing.T) {
	valid := file(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, make([]byte, 8))
	huge := file(`{"w":{"dtype":"F32","shape":[1099511627776],"data_offsets":[0,4398046511104]}}`, nil)
	cases := []struct {
		name string
		r    io.Reader
		size int64
		want string
	}{
		{"valid", bytes.NewReader(valid), int64(len(valid)), ""},
		{"endless zeros", zeros{}, 1 << 40, "header length 0 is too short"},
		{"size too small", bytes.NewReader(valid), 5, "file of 5 bytes is too short"},
		{"header past the size", bytes.NewReader(valid), 20, "exceeds the 12 bytes that follow it"},
		{"shape past the size", io.MultiReader(bytes.NewReader(huge), zeros{}), 3 << 30, "run past the end of the"},
		{"reader shorter than size", bytes.NewReader(valid[:len(valid)-2]), int64(len(valid)), "file ends before its size"},
		{"reader longer than size", io.MultiReader(bytes.NewReader(valid), zeros{}), int64(len(valid)), "continues past its"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := ReadSized(c.r, c.size)
			if c.want == "" {
				if err != nil || len(f.Tensors) != 1 {
					t.Fatalf("ReadSized = %v, %v", f, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("ReadSized: %v; want an error with %q", err, c.want)
			}
		})
	}
}
