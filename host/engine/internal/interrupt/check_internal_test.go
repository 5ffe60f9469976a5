package interrupt

import (
	"bytes"
	"testing"
)

// TestCheckComparesWithEvery: the loop check's i32.const is Every in
// signed LEB128 (a zigzag varint made the check fire every 2×Every
// iterations).
func TestCheckComparesWithEvery(t *testing.T) {
	if chk := check(1, 0); !bytes.Contains(chk, []byte{0x41, 0x80, 0x80, 0x01, 0x4f}) {
		t.Errorf("the loop check does not compare with i32.const %d: % x", Every, chk)
	}
}
