// Package msgpack encodes and decodes the few MessagePack shapes the SDK's
// contract clients need (maps of strings and unsigned integers), without
// the reflection and encoding/json that a general library would link into
// every actor.
package msgpack

import (
	"encoding/binary"
	"errors"
)

// ErrShort reports input that ends inside a value.
var ErrShort = errors.New("msgpack: unexpected end of input")

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
	if len(b) < 1 {
		return "", nil, ErrShort
	}
	var n, h int
	switch c := b[0]; {
	case c&0xe0 == 0xa0:
		n, h = int(c&0x1f), 1
	case c == 0xd9 || c == 0xc4:
		if len(b) < 2 {
			return "", nil, ErrShort
		}
		n, h = int(b[1]), 2
	case c == 0xda || c == 0xc5:
		if len(b) < 3 {
			return "", nil, ErrShort
		}
		n, h = int(binary.BigEndian.Uint16(b[1:])), 3
	case c == 0xdb || c == 0xc6:
		if len(b) < 5 {
			return "", nil, ErrShort
		}
		n, h = int(binary.BigEndian.Uint32(b[1:])), 5
	default:
		return "", nil, errors.New("msgpack: not a string")
	}
	if len(b) < h+n {
		return "", nil, ErrShort
	}
	return string(b[h : h+n]), b[h+n:], nil
}

// ReadUint reads a non-negative integer and returns it and the rest of b.
func ReadUint(b []byte) (uint64, []byte, error) {
	if len(b) < 1 {
		return 0, nil, ErrShort
	}
	c := b[0]
	if c < 0x80 {
		return uint64(c), b[1:], nil
	}
	size := map[byte]int{0xcc: 1, 0xcd: 2, 0xce: 4, 0xcf: 8, 0xd0: 1, 0xd1: 2, 0xd2: 4, 0xd3: 8}[c]
	if size == 0 {
		return 0, nil, errors.New("msgpack: not an integer")
	}
	if len(b) < 1+size {
		return 0, nil, ErrShort
	}
	var v uint64
	for _, x := range b[1 : 1+size] {
		v = v<<8 | uint64(x)
	}
	if c >= 0xd0 && v>>(uint(size)*8-1) == 1 {
		return 0, nil, errors.New("msgpack: negative integer")
	}
	return v, b[1+size:], nil
}
