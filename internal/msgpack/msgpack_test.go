package msgpack_test

import (
	"runtime"
	"strings"
	"testing"

	vm "github.com/vmihailenco/msgpack/v5"

	"github.com/wisp-dev/wisp/internal/msgpack"
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

func TestNewShapesAgreeWithAGeneralLibrary(t *testing.T) {
	for _, v := range []int64{0, 1, -1, -32, -33, -128, -129, -32768, -32769, -1 << 31, -1<<31 - 1, -1 << 63, 1<<63 - 1, 300} {
		var got int64
		if err := vm.Unmarshal(msgpack.AppendInt(nil, v), &got); err != nil || got != v {
			t.Fatalf("int %d: got %d, %v", v, got, err)
		}
		for _, enc := range []any{v, int32(v), int8(v)} {
			b, _ := vm.Marshal(enc)
			var want int64
			vm.Unmarshal(b, &want)
			back, rest, err := msgpack.ReadInt(b)
			if err != nil || back != want || len(rest) != 0 {
				t.Fatalf("ReadInt(%T %v) = %d, %v", enc, enc, back, err)
			}
		}
	}
	for _, n := range []int{0, 1, 255, 256, 70000} {
		p := []byte(strings.Repeat("b", n))
		var got []byte
		if err := vm.Unmarshal(msgpack.AppendBytes(nil, p), &got); err != nil || string(got) != string(p) {
			t.Fatalf("bytes of %d: %v", n, err)
		}
		enc, _ := vm.Marshal(p)
		back, _, err := msgpack.ReadBytes(enc)
		if err != nil || string(back) != string(p) {
			t.Fatalf("ReadBytes of %d: %v", n, err)
		}
	}
	// serde without serde_bytes writes Vec<u8> as an array of integers.
	arr, _ := vm.Marshal([]int{104, 105, 200})
	if back, _, err := msgpack.ReadBytes(arr); err != nil || string(back) != "hi\xc8" {
		t.Fatalf("bytes as an integer array = %q, %v", back, err)
	}
	for _, v := range []bool{true, false} {
		var got bool
		if err := vm.Unmarshal(msgpack.AppendBool(nil, v), &got); err != nil || got != v {
			t.Fatalf("bool %v: %v", v, err)
		}
	}
	// A nested message: every value skips, and arrays and maps read back.
	type inner struct {
		A []string          `msgpack:"a"`
		M map[string]string `msgpack:"m"`
		F float64           `msgpack:"f"`
		N any               `msgpack:"n"`
	}
	msg, _ := vm.Marshal(map[string]any{"x": inner{A: []string{"p", "q"}, M: map[string]string{"k": "v"}, F: 1.5}, "y": -7, "z": []byte{1, 2}})
	n, rest, err := msgpack.ReadMapHeader(msg)
	if err != nil || n != 3 {
		t.Fatalf("map header = %d, %v", n, err)
	}
	for range 2 * n {
		if rest, err = msgpack.Skip(rest); err != nil {
			t.Fatal(err)
		}
	}
	if len(rest) != 0 {
		t.Fatalf("%d bytes left after skipping every value", len(rest))
	}
	a := msgpack.AppendArrayHeader(nil, 2)
	a = msgpack.AppendString(a, "p")
	a = msgpack.AppendNil(a)
	var got []any
	if err := vm.Unmarshal(a, &got); err != nil || len(got) != 2 || got[0] != "p" || got[1] != nil {
		t.Fatalf("array = %v, %v", got, err)
	}
	if _, err := msgpack.Skip([]byte{0xdc, 0, 5, 1}); err == nil {
		t.Fatal("skipped a truncated array")
	}
	if _, err := msgpack.Skip([]byte(strings.Repeat("\x91", 10000) + "\x01")); err == nil {
		t.Fatal("skipped 10000 nested arrays")
	}
}

// FuzzSkip: no input makes a reader panic or report more than it read.
func FuzzSkip(f *testing.F) {
	msg, _ := vm.Marshal(map[string]any{"a": []any{1, -2, "x", []byte{1}, 1.5, nil, true}, "b": map[string]int{"c": 3}})
	f.Add(msg)
	f.Add([]byte{0xdc, 0, 5, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		if rest, err := msgpack.Skip(b); err == nil && len(rest) >= len(b) {
			t.Fatalf("Skip consumed nothing of %x", b)
		}
		msgpack.ReadBytes(b)
		msgpack.ReadInt(b)
		msgpack.ReadMapHeader(b)
		msgpack.ReadArrayHeader(b)
		msgpack.ReadString(b)
		msgpack.ReadBool(b)
	})
}

// An array of integers read as bytes is sized from its header: a header
// that declares more items than bytes follow is refused before anything
// is allocated for it, and reading an integer allocates nothing.
func TestReadsAllocateNothingFromADeclaredCount(t *testing.T) {
	lie := []byte{0xdd, 0xff, 0xff, 0xff, 0xff, 1, 2, 3}
	n := bytesAllocatedBy(func() {
		if _, _, err := msgpack.ReadBytes(lie); err == nil {
			t.Fatal("an array of 2³²-1 integers in 3 bytes was read")
		}
	})
	if n > 4096 {
		t.Fatalf("ReadBytes of a lying array allocated %d bytes", n)
	}
	u16 := []byte{0xcd, 0x01, 0x2c}
	if allocs := testing.AllocsPerRun(10, func() { msgpack.ReadUint(u16) }); allocs != 0 {
		t.Fatalf("ReadUint allocated %v times per call", allocs)
	}
}

// ReadStringsMap's keys share one array of values: adding to one key's
// values leaves the others as they were; counts that lie are refused.
func TestStringsMapValuesStandApart(t *testing.T) {
	b, _ := vm.Marshal(map[string][]string{"A": {"a1", "a2"}, "B": {"b1"}, "C": {}, "D": {"d1"}})
	m, rest, err := msgpack.ReadStringsMap(b)
	if err != nil || len(rest) != 0 || len(m) != 4 {
		t.Fatalf("ReadStringsMap = %v, %d left, %v", m, len(rest), err)
	}
	for k := range m {
		m[k] = append(m[k], "added to "+k)
	}
	for k, want := range map[string]string{"A": "a1,a2,added to A", "B": "b1,added to B", "C": "added to C", "D": "d1,added to D"} {
		if got := strings.Join(m[k], ","); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if m, _, err := msgpack.ReadStringsMap([]byte{0xc0}); err != nil || m == nil || len(m) != 0 {
		t.Errorf("nil = %v, %v; want an empty map", m, err)
	}
	for name, lie := range map[string][]byte{
		"2³²-1 keys":   {0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 'A', 0x90},
		"2³²-1 values": {0x81, 0xa1, 'A', 0xdd, 0xff, 0xff, 0xff, 0xff, 0xa1, 'v'},
	} {
		if n := bytesAllocatedBy(func() { msgpack.ReadStringsMap(lie) }); n > 4096 {
			t.Errorf("%s: %d bytes allocated", name, n)
		}
		if _, _, err := msgpack.ReadStringsMap(lie); err == nil {
			t.Errorf("%s: read", name)
		}
	}
}

// bytesAllocatedBy is what f allocates, in bytes (the race detector's
// bookkeeping included, which counting allocations would trip over).
func bytesAllocatedBy(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}
