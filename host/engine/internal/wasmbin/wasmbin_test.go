package wasmbin

import (
	"bytes"
	"errors"
	"testing"
)

// TestSLEB: i32.const takes signed LEB128; Go's zigzag varint read that
// way doubles positive values. What SLEB writes, S64 reads back.
func TestSLEB(t *testing.T) {
	for _, c := range []struct {
		v    int64
		want []byte
	}{
		{0, []byte{0x00}}, {63, []byte{0x3f}}, {64, []byte{0xc0, 0x00}}, {-1, []byte{0x7f}},
		{-64, []byte{0x40}}, {-65, []byte{0xbf, 0x7f}}, {1 << 14, []byte{0x80, 0x80, 0x01}},
	} {
		got := SLEB(c.v)
		if !bytes.Equal(got, c.want) {
			t.Errorf("SLEB(%d) = % x, want % x", c.v, got, c.want)
		}
		r := Reader{B: got}
		if back, err := r.S64(); err != nil || back != c.v || r.P != len(got) {
			t.Errorf("S64(% x) = %d, %v (read %d bytes), want %d", got, back, err, r.P, c.v)
		}
	}
}

// TestReaderStaysInBounds: every read past the end is ErrTruncated, and a
// u32 above 2³²-1 is refused.
func TestReaderStaysInBounds(t *testing.T) {
	r := Reader{B: []byte{0x05, 'a', 'b'}}
	if _, err := r.Name(); !errors.Is(err, ErrTruncated) {
		t.Errorf("a name longer than its input: %v", err)
	}
	for name, read := range map[string]func(*Reader) error{
		"byte":   func(r *Reader) error { _, err := r.Byte(); return err },
		"bytes":  func(r *Reader) error { _, err := r.Bytes(1); return err },
		"u64":    func(r *Reader) error { _, err := r.U64(); return err },
		"s64":    func(r *Reader) error { _, err := r.S64(); return err },
		"limits": func(r *Reader) error { return r.Limits() },
	} {
		if err := read(&Reader{B: []byte{0x80}, P: 1}); !errors.Is(err, ErrTruncated) {
			t.Errorf("%s at the end: %v", name, err)
		}
	}
	if _, err := (&Reader{B: ULEB(1 << 32)}).U32(); err == nil {
		t.Error("U32 took 2³²")
	}
	if _, err := (&Reader{B: []byte{0x01, 0x02, 0x03}}).Bytes(-1); !errors.Is(err, ErrTruncated) {
		t.Errorf("Bytes(-1): %v", err)
	}
}
