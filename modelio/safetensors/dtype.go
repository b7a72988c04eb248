package safetensors

import (
	"encoding/binary"
	"fmt"
	"math"
)

// DType is the element type of a tensor in a safetensors file, as spelled
// in the header ("F32", "BF16", "I64", …).
type DType string

// The element types of the safetensors format. Every one is accepted when
// reading; the floating-point types convert to float32 or float64, the
// integer types and BOOL to int64.
const (
	BOOL   DType = "BOOL"
	U8     DType = "U8"
	I8     DType = "I8"
	F8E5M2 DType = "F8_E5M2"
	F8E4M3 DType = "F8_E4M3"
	I16    DType = "I16"
	U16    DType = "U16"
	F16    DType = "F16"
	BF16   DType = "BF16"
	I32    DType = "I32"
	U32    DType = "U32"
	F32    DType = "F32"
	F64    DType = "F64"
	I64    DType = "I64"
	U64    DType = "U64"
)

// Size returns the size of one element in bytes, or 0 for an unknown type.
func (d DType) Size() int {
	switch d {
	case BOOL, U8, I8, F8E5M2, F8E4M3:
		return 1
	case I16, U16, F16, BF16:
		return 2
	case I32, U32, F32:
		return 4
	case F64, I64, U64:
		return 8
	}
	return 0
}

// Known reports whether d is one of the format's element types.
func (d DType) Known() bool { return d.Size() != 0 }

// IsFloat reports whether d is a floating-point type.
func (d DType) IsFloat() bool {
	switch d {
	case F8E5M2, F8E4M3, F16, BF16, F32, F64:
		return true
	}
	return false
}

// IsInt reports whether d is an integer type or BOOL.
func (d DType) IsInt() bool { return d.Known() && !d.IsFloat() }

// float64At decodes element i of b, a buffer of floating-point type d.
func float64At(d DType, b []byte, i int) float64 {
	switch d {
	case F64:
		return math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
	case F32:
		return float64(math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])))
	}
	return float64(float32At(d, b, i))
}

// float32At decodes element i of b, a buffer of a floating-point type
// other than F64, to float32 exactly.
func float32At(d DType, b []byte, i int) float32 {
	switch d {
	case F32:
		return math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	case F16:
		return halfToFloat32(binary.LittleEndian.Uint16(b[2*i:]))
	case BF16:
		return math.Float32frombits(uint32(binary.LittleEndian.Uint16(b[2*i:])) << 16)
	case F8E5M2:
		return halfToFloat32(uint16(b[i]) << 8)
	case F8E4M3:
		return e4m3ToFloat32(b[i])
	case F64:
		return float32(math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:])))
	}
	panic(fmt.Sprintf("safetensors: float32At on %s", d))
}

// int64At decodes element i of b, a buffer of integer type d. ok is false
// for a U64 value above math.MaxInt64.
func int64At(d DType, b []byte, i int) (v int64, ok bool) {
	switch d {
	case BOOL, U8:
		return int64(b[i]), true
	case I8:
		return int64(int8(b[i])), true
	case I16:
		return int64(int16(binary.LittleEndian.Uint16(b[2*i:]))), true
	case U16:
		return int64(binary.LittleEndian.Uint16(b[2*i:])), true
	case I32:
		return int64(int32(binary.LittleEndian.Uint32(b[4*i:]))), true
	case U32:
		return int64(binary.LittleEndian.Uint32(b[4*i:])), true
	case I64:
		return int64(binary.LittleEndian.Uint64(b[8*i:])), true
	case U64:
		u := binary.LittleEndian.Uint64(b[8*i:])
		return int64(u), u <= math.MaxInt64
	}
	panic(fmt.Sprintf("safetensors: int64At on %s", d))
}

// halfToFloat32 converts an IEEE 754 binary16 value to float32 exactly,
// subnormals, infinities and NaNs included.
func halfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	man := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf or NaN
		return math.Float32frombits(sign | 0x7f800000 | man<<13)
	case exp == 0 && man == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal: man·2⁻²⁴
		f := float32(man) * (1.0 / (1 << 24))
		if sign != 0 {
			f = -f
		}
		return f
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | man<<13)
}

// e4m3ToFloat32 converts an 8-bit float in the E4M3 "fn" format (bias 7,
// no infinities, S.1111.111 is NaN) to float32.
func e4m3ToFloat32(b byte) float32 {
	exp := int(b>>3) & 0xf
	man := int(b) & 0x7
	var f float32
	switch {
	case exp == 0xf && man == 0x7:
		f = float32(math.NaN())
	case exp == 0:
		f = float32(man) / 8 / 64 // man/8 · 2⁻⁶
	default:
		f = float32(math.Ldexp(1+float64(man)/8, exp-7))
	}
	if b&0x80 != 0 {
		f = -f
	}
	return f
}

// FirstNonFinite returns the flat index and value of the first element of
// a floating-point tensor that is NaN or ±Inf, and ok = false when every
// element is finite or the tensor holds integers (which always are).
func (t *Tensor) FirstNonFinite() (index int, value float64, ok bool) {
	switch t.dtype {
	case F32:
		for i := 0; i+4 <= len(t.data); i += 4 {
			if bits := binary.LittleEndian.Uint32(t.data[i:]); bits&0x7f800000 == 0x7f800000 {
				return i / 4, float64(math.Float32frombits(bits)), true
			}
		}
		return 0, 0, false
	case F64:
		for i := 0; i+8 <= len(t.data); i += 8 {
			if bits := binary.LittleEndian.Uint64(t.data[i:]); bits&0x7ff0000000000000 == 0x7ff0000000000000 {
				return i / 8, math.Float64frombits(bits), true
			}
		}
		return 0, 0, false
	}
	if !t.dtype.IsFloat() {
		return 0, 0, false
	}
	for i := range t.NumElements() {
		if v := float64(float32At(t.dtype, t.data, i)); math.IsNaN(v) || math.IsInf(v, 0) {
			return i, v, true
		}
	}
	return 0, 0, false
}
