// Package msgpack encodes and decodes the MessagePack shapes the SDK's
// contract clients need (maps, arrays, strings, binary, integers, booleans,
// nil), without the reflection and encoding/json that a general library
// would link into every actor. Decoders return the rest of the input, so a
// caller walks a message value by value; Skip passes over any value, and
// checks on the way that every length the input declares fits in it
// (package bounded does that before a general decoder runs).
package msgpack

import (
	"encoding/binary"
	"errors"
	"unsafe"

	"github.com/wisp-dev/wisp/internal/wrap"
)

// ErrShort reports input that ends inside a value.
var ErrShort = errors.New("msgpack: unexpected end of input")

// errCountLies reports a map or array that declares more entries than the
// input has bytes for.
var errCountLies = errors.New("msgpack: a count larger than what follows")

// AppendMapHeader appends the header of a map with n entries.
func AppendMapHeader(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, 0x80|byte(n))
	case n < 1<<16:
		return binary.BigEndian.AppendUint16(append(b, 0xde), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, 0xdf), uint32(n))
}

// AppendString appends s as a MessagePack str.
func AppendString(b []byte, s string) []byte {
	n := len(s)
	switch {
	case n < 32:
		b = append(b, 0xa0|byte(n))
	case n < 1<<8:
		b = append(b, 0xd9, byte(n))
	case n < 1<<16:
		b = binary.BigEndian.AppendUint16(append(b, 0xda), uint16(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, 0xdb), uint32(n))
	}
	return append(b, s...)
}

// AppendUint appends v in the smallest unsigned form.
func AppendUint(b []byte, v uint64) []byte {
	switch {
	case v < 128:
		return append(b, byte(v))
	case v < 1<<8:
		return append(b, 0xcc, byte(v))
	case v < 1<<16:
		return binary.BigEndian.AppendUint16(append(b, 0xcd), uint16(v))
	case v < 1<<32:
		return binary.BigEndian.AppendUint32(append(b, 0xce), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xcf), v)
}

// ReadString reads a str (or bin) and returns it and the rest of b.
func ReadString(b []byte) (string, []byte, error) {
	v, rest, err := readRaw(b)
	if err != nil {
		return "", nil, err
	}
	return string(v), rest, nil
}

// ReadStringView reads a str (or bin) as a string that shares b's memory:
// no copy, so b must not change while the string is in use. The SDK uses
// it on payloads it allocated for one call.
func ReadStringView(b []byte) (string, []byte, error) {
	v, rest, err := readRaw(b)
	if err != nil {
		return "", nil, err
	}
	return unsafe.String(unsafe.SliceData(v), len(v)), rest, nil
}

// ReadUint reads a non-negative integer and returns it and the rest of b.
func ReadUint(b []byte) (uint64, []byte, error) {
	if len(b) > 0 && b[0] < 0x80 {
		return uint64(b[0]), b[1:], nil
	}
	v, size, rest, err := readSized(b)
	if err != nil {
		return 0, nil, err
	}
	if b[0] >= 0xd0 && v>>(uint(size)*8-1) == 1 {
		return 0, nil, errors.New("msgpack: negative integer")
	}
	return v, rest, nil
}

// readSized reads an integer of the uint8–64 and int8–64 formats: its
// bits, its size in bytes and the rest of b.
func readSized(b []byte) (uint64, int, []byte, error) {
	if len(b) < 1 {
		return 0, 0, nil, ErrShort
	}
	var size int
	switch b[0] {
	case 0xcc, 0xd0:
		size = 1
	case 0xcd, 0xd1:
		size = 2
	case 0xce, 0xd2:
		size = 4
	case 0xcf, 0xd3:
		size = 8
	default:
		return 0, 0, nil, errors.New("msgpack: not an integer")
	}
	if len(b) < 1+size {
		return 0, 0, nil, ErrShort
	}
	var v uint64
	for _, x := range b[1 : 1+size] {
		v = v<<8 | uint64(x)
	}
	return v, size, b[1+size:], nil
}

// AppendArrayHeader appends the header of an array with n items.
func AppendArrayHeader(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, 0x90|byte(n))
	case n < 1<<16:
		return binary.BigEndian.AppendUint16(append(b, 0xdc), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, 0xdd), uint32(n))
}

// AppendBytes appends p as a MessagePack bin.
func AppendBytes(b []byte, p []byte) []byte {
	n := len(p)
	switch {
	case n < 1<<8:
		b = append(b, 0xc4, byte(n))
	case n < 1<<16:
		b = binary.BigEndian.AppendUint16(append(b, 0xc5), uint16(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, 0xc6), uint32(n))
	}
	return append(b, p...)
}

// AppendBool appends v.
func AppendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 0xc3)
	}
	return append(b, 0xc2)
}

// AppendNil appends nil.
func AppendNil(b []byte) []byte { return append(b, 0xc0) }

// AppendInt appends v in the smallest form.
func AppendInt(b []byte, v int64) []byte {
	switch {
	case v >= 0:
		return AppendUint(b, uint64(v))
	case v >= -32:
		return append(b, byte(v))
	case v >= -1<<7:
		return append(b, 0xd0, byte(v))
	case v >= -1<<15:
		return binary.BigEndian.AppendUint16(append(b, 0xd1), uint16(v))
	case v >= -1<<31:
		return binary.BigEndian.AppendUint32(append(b, 0xd2), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(v))
}

// ReadMapHeader reads a map header and returns its entry count.
func ReadMapHeader(b []byte) (int, []byte, error) {
	return readHeader(b, 0x80, 0xde, 0xdf, "map")
}

// ReadArrayHeader reads an array header and returns its item count.
func ReadArrayHeader(b []byte) (int, []byte, error) {
	return readHeader(b, 0x90, 0xdc, 0xdd, "array")
}

func readHeader(b []byte, fix, c16, c32 byte, what string) (int, []byte, error) {
	if len(b) < 1 {
		return 0, nil, ErrShort
	}
	switch c := b[0]; {
	case c&0xf0 == fix:
		return int(c & 0x0f), b[1:], nil
	case c == c16:
		if len(b) < 3 {
			return 0, nil, ErrShort
		}
		return int(binary.BigEndian.Uint16(b[1:])), b[3:], nil
	case c == c32:
		if len(b) < 5 {
			return 0, nil, ErrShort
		}
		return int(binary.BigEndian.Uint32(b[1:])), b[5:], nil
	case c == 0xc0:
		return 0, b[1:], nil // nil reads as empty
	}
	return 0, nil, errors.New("msgpack: not a " + what)
}

// ReadBytes reads a bin (or str) and returns it, aliasing b, and the rest.
func ReadBytes(b []byte) ([]byte, []byte, error) {
	if len(b) > 0 && b[0] == 0xc0 {
		return nil, b[1:], nil
	}
	if len(b) > 0 && b[0] == 0x90 {
		return nil, b[1:], nil // an empty array, as some encoders write empty byte lists
	}
	if len(b) > 0 && (b[0]&0xf0 == 0x90 || b[0] == 0xdc || b[0] == 0xdd) {
		// An array of small integers: how serde writes Vec<u8> without
		// serde_bytes.
		n, rest, err := ReadArrayHeader(b)
		if err != nil {
			return nil, nil, err
		}
		if n > len(rest) { // each item takes a byte at least
			return nil, nil, ErrShort
		}
		out := make([]byte, 0, n)
		for range n {
			var v uint64
			if v, rest, err = ReadUint(rest); err != nil {
				return nil, nil, err
			}
			out = append(out, byte(v))
		}
		return out, rest, nil
	}
	s, rest, err := readRaw(b)
	return s, rest, err
}

// readRaw reads a str or bin without copying.
func readRaw(b []byte) ([]byte, []byte, error) {
	if len(b) < 1 {
		return nil, nil, ErrShort
	}
	var n, h int
	switch c := b[0]; {
	case c&0xe0 == 0xa0:
		n, h = int(c&0x1f), 1
	case c == 0xd9 || c == 0xc4:
		if len(b) < 2 {
			return nil, nil, ErrShort
		}
		n, h = int(b[1]), 2
	case c == 0xda || c == 0xc5:
		if len(b) < 3 {
			return nil, nil, ErrShort
		}
		n, h = int(binary.BigEndian.Uint16(b[1:])), 3
	case c == 0xdb || c == 0xc6:
		if len(b) < 5 {
			return nil, nil, ErrShort
		}
		n, h = int(binary.BigEndian.Uint32(b[1:])), 5
	default:
		return nil, nil, errors.New("msgpack: not a string or binary")
	}
	if len(b) < h+n {
		return nil, nil, ErrShort
	}
	return b[h : h+n], b[h+n:], nil
}

// ReadStringsMap reads a map of strings to arrays of strings, such as
// HTTP headers, whose strings are views of b (as ReadStringView's). The
// values of every key share one array, of which each key gets a full
// slice: an append to one never writes into another's, and the map costs
// two allocations however many keys it has (each costs a Go guest far
// more than a native program). A count larger than what is left of b
// could hold is refused before anything is sized from it. Nil reads as an
// empty map.
func ReadStringsMap(b []byte) (map[string][]string, []byte, error) {
	n, rest, err := ReadMapHeader(b)
	if err != nil {
		return nil, nil, err
	}
	if n > len(rest)/2 { // a key and an array header take two bytes at least
		return nil, nil, errCountLies
	}
	m := make(map[string][]string, n)
	all := make([]string, 0, n)
	for range n {
		var k string
		var count int
		if k, rest, err = ReadStringView(rest); err != nil {
			return nil, nil, err
		}
		if count, rest, err = ReadArrayHeader(rest); err != nil {
			return nil, nil, err
		}
		if count > len(rest) {
			return nil, nil, errCountLies
		}
		start := len(all)
		for range count {
			var v string
			if v, rest, err = ReadStringView(rest); err != nil {
				return nil, nil, err
			}
			all = append(all, v)
		}
		m[k] = all[start:len(all):len(all)]
	}
	return m, rest, nil
}

// ReadBool reads a boolean.
func ReadBool(b []byte) (bool, []byte, error) {
	if len(b) < 1 {
		return false, nil, ErrShort
	}
	switch b[0] {
	case 0xc2:
		return false, b[1:], nil
	case 0xc3:
		return true, b[1:], nil
	}
	return false, nil, errors.New("msgpack: not a boolean")
}

// ReadInt reads a signed or unsigned integer that fits in an int64.
func ReadInt(b []byte) (int64, []byte, error) {
	if len(b) > 0 && (b[0] < 0x80 || b[0] >= 0xe0) {
		return int64(int8(b[0])), b[1:], nil
	}
	v, size, rest, err := readSized(b)
	if err != nil {
		return 0, nil, err
	}
	if b[0] >= 0xd0 { // signed: extend the sign bit
		shift := 64 - uint(size)*8
		return int64(v<<shift) >> shift, rest, nil
	}
	if v > 1<<63-1 {
		return 0, nil, errors.New("msgpack: integer overflows int64")
	}
	return int64(v), rest, nil
}

// maxDepth bounds the nesting Skip follows.
const maxDepth = 256

// Skip passes over one value of any type.
func Skip(b []byte) ([]byte, error) { return skip(b, 0) }

func skip(b []byte, depth int) ([]byte, error) {
	if depth > maxDepth {
		return nil, errors.New("msgpack: nested too deep")
	}
	if len(b) < 1 {
		return nil, ErrShort
	}
	c := b[0]
	fixed := func(n int) ([]byte, error) {
		if len(b) < n {
			return nil, ErrShort
		}
		return b[n:], nil
	}
	switch {
	case c < 0x80 || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
		return b[1:], nil
	case c&0xf0 == 0x80 || c == 0xde || c == 0xdf:
		n, rest, err := ReadMapHeader(b)
		for i := 0; err == nil && i < 2*n; i++ {
			rest, err = skip(rest, depth+1)
		}
		return rest, err
	case c&0xf0 == 0x90 || c == 0xdc || c == 0xdd:
		n, rest, err := ReadArrayHeader(b)
		for i := 0; err == nil && i < n; i++ {
			rest, err = skip(rest, depth+1)
		}
		return rest, err
	case c&0xe0 == 0xa0 || c == 0xd9 || c == 0xda || c == 0xdb || c == 0xc4 || c == 0xc5 || c == 0xc6:
		_, rest, err := readRaw(b)
		return rest, err
	case c == 0xcc || c == 0xd0:
		return fixed(2)
	case c == 0xcd || c == 0xd1:
		return fixed(3)
	case c == 0xce || c == 0xd2 || c == 0xca:
		return fixed(5)
	case c == 0xcf || c == 0xd3 || c == 0xcb:
		return fixed(9)
	case c == 0xd4:
		return fixed(3)
	case c == 0xd5:
		return fixed(4)
	case c == 0xd6:
		return fixed(6)
	case c == 0xd7:
		return fixed(10)
	case c == 0xd8:
		return fixed(18)
	case c == 0xc7 || c == 0xc8 || c == 0xc9:
		var n, h int
		switch c {
		case 0xc7:
			if len(b) < 2 {
				return nil, ErrShort
			}
			n, h = int(b[1]), 3
		case 0xc8:
			if len(b) < 3 {
				return nil, ErrShort
			}
			n, h = int(binary.BigEndian.Uint16(b[1:])), 4
		default:
			if len(b) < 5 {
				return nil, ErrShort
			}
			n, h = int(binary.BigEndian.Uint32(b[1:])), 6
		}
		return fixed(h + n)
	}
	return nil, errors.New("msgpack: unknown type")
}

// ReadMap reads the map in b, calling fn with each key and the bytes that
// start with its value; fn reads the value and returns what follows it.
func ReadMap(b []byte, fn func(key string, b []byte) ([]byte, error)) error {
	n, rest, err := ReadMapHeader(b)
	if err != nil {
		return err
	}
	for range n {
		var k string
		if k, rest, err = ReadString(rest); err != nil {
			return err
		}
		if rest, err = fn(k, rest); err != nil {
			return wrap.Error("field "+k, err)
		}
	}
	return nil
}
