package interrupt

import (
	"bytes"
	"testing"
)

// TestSLEB: i32.const takes signed LEB128; Go's zigzag varint read that
// way doubles positive values (the check fired every 2×Every iterations).
func TestSLEB(t *testing.T) {
	for _, c := range []struct {
		v    int64
		want []byte
	}{
		{0, []byte{0x00}}, {63, []byte{0x3f}}, {64, []byte{0xc0, 0x00}}, {-1, []byte{0x7f}},
		{-64, []byte{0x40}}, {-65, []byte{0xbf, 0x7f}}, {Every, []byte{0x80, 0x80, 0x01}},
	} {
		if got := sleb(c.v); !bytes.Equal(got, c.want) {
			t.Errorf("sleb(%d) = % x, want % x", c.v, got, c.want)
		}
	}
	if chk := check(1, 0); !bytes.Contains(chk, append([]byte{0x41}, 0x80, 0x80, 0x01, 0x4f)) {
		t.Errorf("the loop check does not compare with i32.const %d: % x", Every, chk)
	}
}
