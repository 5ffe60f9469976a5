package bounded_test

import (
	"runtime"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/wisp-dev/wisp/internal/msgpack/bounded"
)

// Inputs that declare far more than they hold are refused before anything
// is allocated for them; whole values decode as msgpack.Unmarshal does.
func TestDeclaredLengthsMustFit(t *testing.T) {
	for name, in := range map[string][]byte{
		"bin32 of 2 GiB (FuzzDispatch)":       []byte("\xc6\x86\xf6\x91\x14\xc3s\xc3"),
		"ext32 of 800 MiB in a map":           []byte("\x82\xa70000000\xc9000000"),
		"str32 of 4 GiB":                      {0xdb, 0xff, 0xff, 0xff, 0xff, 'x'},
		"map declaring 2^32-1 entries":        {0xdf, 0xff, 0xff, 0xff, 0xff},
		"array declaring 2^31-1 entries":      {0xdd, 0x7f, 0xff, 0xff, 0xff},
		"a str cut short":                     {0xa5, 'a', 'b'},
		"nothing":                             {},
		"arrays nested deeper than 256 times": append(repeat(0x91, 300), 0xc0),
	} {
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		var v any
		err := bounded.Unmarshal(in, &v)
		runtime.ReadMemStats(&m1)
		if err == nil {
			t.Errorf("%s: decoded to %v, want an error", name, v)
		}
		if grew := m1.TotalAlloc - m0.TotalAlloc; grew > 1<<20 {
			t.Errorf("%s: allocated %d bytes before refusing", name, grew)
		}
	}
	type req struct {
		Key   string `msgpack:"key"`
		Value []byte `msgpack:"value"`
	}
	b, err := msgpack.Marshal(req{Key: "k", Value: make([]byte, 70000)})
	if err != nil {
		t.Fatal(err)
	}
	var got req
	if err := bounded.Unmarshal(b, &got); err != nil || got.Key != "k" || len(got.Value) != 70000 {
		t.Fatalf("a whole value: %q, %d bytes, %v", got.Key, len(got.Value), err)
	}
}

func repeat(c byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = c
	}
	return b
}
