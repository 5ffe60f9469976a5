package msgpack_test

import (
	"strings"
	"testing"

	vm "github.com/vmihailenco/msgpack/v5"

	"github.com/wisp-dev/wisp/sdk/internal/msgpack"
)

// TestAgreesWithAGeneralLibrary cross-checks the encoder and decoder with
// vmihailenco/msgpack, which the host uses.
func TestAgreesWithAGeneralLibrary(t *testing.T) {
	for _, s := range []string{"", "level", strings.Repeat("x", 31), strings.Repeat("y", 200), strings.Repeat("z", 70000)} {
		var got string
		if err := vm.Unmarshal(msgpack.AppendString(nil, s), &got); err != nil || got != s {
			t.Fatalf("string of %d: %v", len(s), err)
		}
		enc, _ := vm.Marshal(s)
		back, rest, err := msgpack.ReadString(enc)
		if err != nil || back != s || len(rest) != 0 {
			t.Fatalf("ReadString of %d: %v", len(s), err)
		}
	}
	for _, v := range []uint64{0, 127, 128, 255, 256, 65535, 65536, 1<<32 - 1, 1 << 32, 1<<64 - 1} {
		var got uint64
		if err := vm.Unmarshal(msgpack.AppendUint(nil, v), &got); err != nil || got != v {
			t.Fatalf("uint %d: %v", v, err)
		}
		for _, c := range []struct {
			enc  any
			want uint64
		}{{v, v}, {uint32(v), uint64(uint32(v))}, {int64(v & 0x7fffffff), v & 0x7fffffff}} {
			enc, _ := vm.Marshal(c.enc)
			back, _, err := msgpack.ReadUint(enc)
			if err != nil || back != c.want {
				t.Fatalf("ReadUint(%T %v) = %d, %v", c.enc, c.enc, back, err)
			}
		}
	}
	m := msgpack.AppendMapHeader(nil, 2)
	m = msgpack.AppendString(m, "min")
	m = msgpack.AppendUint(m, 1)
	m = msgpack.AppendString(m, "max")
	m = msgpack.AppendUint(m, 6)
	var r struct {
		Min uint32 `msgpack:"min"`
		Max uint32 `msgpack:"max"`
	}
	if err := vm.Unmarshal(m, &r); err != nil || r.Min != 1 || r.Max != 6 {
		t.Fatalf("map = %+v, %v", r, err)
	}
	if _, _, err := msgpack.ReadUint([]byte{0xd0, 0xff}); err == nil {
		t.Fatal("accepted -1")
	}
	if _, _, err := msgpack.ReadString([]byte{0xa5, 'a'}); err == nil {
		t.Fatal("accepted a short string")
	}
}
