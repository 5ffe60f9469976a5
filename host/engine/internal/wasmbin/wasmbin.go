// Package wasmbin reads the parts of the WebAssembly binary format that
// wisp's module rewriters (interrupt, snapshot) share: bytes, LEB128
// integers, names and limits, each bounded by what is left of the input.
package wasmbin

import (
	"encoding/binary"
	"errors"
	"math"
)

// ErrTruncated reports input that ends inside what is being read.
var ErrTruncated = errors.New("unexpected end of module")

// Reader reads B from offset P.
type Reader struct {
	B []byte
	P int
}

// Byte reads one byte.
func (r *Reader) Byte() (byte, error) {
	if r.P >= len(r.B) {
		return 0, ErrTruncated
	}
	r.P++
	return r.B[r.P-1], nil
}

// Bytes reads the next n bytes, without a copy.
func (r *Reader) Bytes(n int) ([]byte, error) {
	if n < 0 || n > len(r.B)-r.P {
		return nil, ErrTruncated
	}
	r.P += n
	return r.B[r.P-n : r.P], nil
}

// U64 reads an unsigned LEB128 integer.
func (r *Reader) U64() (uint64, error) {
	v, n := binary.Uvarint(r.B[r.P:])
	if n <= 0 {
		return 0, ErrTruncated
	}
	r.P += n
	return v, nil
}

// U32 reads an unsigned LEB128 integer that fits 32 bits.
func (r *Reader) U32() (uint32, error) {
	v, err := r.U64()
	if err == nil && v > math.MaxUint32 {
		return 0, errors.New("u32 out of range")
	}
	return uint32(v), err
}

// S64 reads a signed LEB128 integer.
func (r *Reader) S64() (int64, error) {
	var v int64
	var shift uint
	for {
		b, err := r.Byte()
		if err != nil {
			return 0, err
		}
		v |= int64(b&0x7f) << shift
		shift += 7
		if b&0x80 == 0 {
			if shift < 64 && b&0x40 != 0 {
				v |= -1 << shift
			}
			return v, nil
		}
		if shift >= 70 {
			return 0, errors.New("integer too large")
		}
	}
}

// Name reads a length-prefixed name.
func (r *Reader) Name() (string, error) {
	n, err := r.U32()
	if err != nil {
		return "", err
	}
	b, err := r.Bytes(int(n))
	return string(b), err
}

// Limits moves past a memory's or table's limits.
func (r *Reader) Limits() error {
	flags, err := r.Byte()
	if err != nil {
		return err
	}
	if _, err := r.U64(); err != nil {
		return err
	}
	if flags&0x01 != 0 {
		_, err = r.U64()
	}
	return err
}

// ULEB is v as unsigned LEB128.
func ULEB(v uint64) []byte { return binary.AppendUvarint(nil, v) }

// SLEB is v as signed LEB128 (the encoding of i32.const and i64.const),
// which is not Go's zigzag varint.
func SLEB(v int64) []byte {
	var out []byte
	for {
		b := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && b&0x40 == 0) || (v == -1 && b&0x40 != 0) {
			return append(out, b)
		}
		out = append(out, b|0x80)
	}
}
