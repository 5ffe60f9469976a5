package httpserver

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// FuzzDecodeResponse feeds the actor's answer decoder what a guest could
// return: it never panics, and what it accepts has a status code.
func FuzzDecodeResponse(f *testing.F) {
	good, _ := msgpack.Marshal(map[string]any{"statusCode": 200, "header": map[string][]string{"A": {"b"}}, "body": []byte("hi")})
	f.Add(good)
	f.Add([]byte{0x80})
	f.Add([]byte{0x81, 0xa6, 'h', 'e', 'a', 'd', 'e', 'r', 0xdf, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		var resp Response
		_ = decodeResponse(b, &resp)
	})
}

// TestDecodeResponseAgreesWithAGeneralLibrary: the actor's answer reads as
// vmihailenco/msgpack reads it, whatever shape its encoder chose, and a
// count that lies is refused.
func TestDecodeResponseAgreesWithAGeneralLibrary(t *testing.T) {
	for name, v := range map[string]any{
		"the SDK's":        Response{StatusCode: 201, Header: map[string][]string{"X-A": {"1", "2"}, "Content-Type": {"text/plain"}}, Body: []byte("made")},
		"status as uint32": map[string]any{"statusCode": uint32(404), "body": []byte("no")},
		"status as int8":   map[string]any{"statusCode": int8(100)},
		"body as a string": map[string]any{"statusCode": 200, "body": "text"},
		"nil header":       map[string]any{"statusCode": 204, "header": nil, "body": nil},
		"unknown fields":   map[string]any{"statusCode": 200, "trailer": map[string]any{"x": []any{1.5, true}}, "body": []byte{}},
		"empty":            map[string]any{},
	} {
		b, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var want, got Response
		if err := msgpack.Unmarshal(b, &want); err != nil {
			t.Fatalf("%s: vmihailenco: %v", name, err)
		}
		if err := decodeResponse(b, &got); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got.StatusCode != want.StatusCode || string(got.Body) != string(want.Body) || fmt.Sprint(got.Header) != fmt.Sprint(want.Header) {
			t.Errorf("%s: read %+v, vmihailenco read %+v", name, got, want)
		}
	}
	// serde without serde_bytes writes a Vec<u8> body as integers, which
	// vmihailenco refuses; it reads as the bytes it means.
	ints, _ := msgpack.Marshal(map[string]any{"statusCode": 200, "body": []int{104, 105}})
	var resp Response
	if decodeResponse(ints, &resp) != nil || string(resp.Body) != "hi" {
		t.Errorf("a body of integers read as %q", resp.Body)
	}
	status70000, _ := msgpack.Marshal(map[string]any{"statusCode": 70000})
	for name, b := range map[string][]byte{
		"2³²-1 headers":        {0x81, 0xa6, 'h', 'e', 'a', 'd', 'e', 'r', 0xdf, 0xff, 0xff, 0xff, 0xff},
		"2³²-1 header values":  {0x81, 0xa6, 'h', 'e', 'a', 'd', 'e', 'r', 0x81, 0xa1, 'A', 0xdd, 0xff, 0xff, 0xff, 0xff},
		"a body cut short":     {0x81, 0xa4, 'b', 'o', 'd', 'y', 0xc4, 0x10, 'x'},
		"a negative status":    {0x81, 0xaa, 's', 't', 'a', 't', 'u', 's', 'C', 'o', 'd', 'e', 0xd0, 0xff},
		"a status above 65535": status70000,
		"not a map":            {0x93, 1, 2, 3},
	} {
		var got Response
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_ = decodeResponse(b, &got)
		runtime.ReadMemStats(&after)
		if n := after.TotalAlloc - before.TotalAlloc; n > 4096 {
			t.Errorf("%s: %d bytes allocated", name, n)
		}
		if err := decodeResponse(b, &got); err == nil {
			t.Errorf("%s: read as %+v", name, got)
		}
	}
}
