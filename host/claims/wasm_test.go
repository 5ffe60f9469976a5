package claims

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var header = []byte{0, 'a', 's', 'm', 1, 0, 0, 0}

func module(sections ...[]byte) []byte {
	return bytes.Join(append([][]byte{header}, sections...), nil)
}

func TestReadU32(t *testing.T) {
	for _, c := range []struct {
		in   []byte
		want uint32
		n    int
		err  string
	}{
		{in: []byte{0x00}, want: 0, n: 1},
		{in: []byte{0x7f}, want: 127, n: 1},
		{in: []byte{0x80, 0x01}, want: 128, n: 2},
		{in: []byte{0x80, 0x80, 0x80, 0x80, 0x00}, want: 0, n: 5}, // padded, as linkers write
		{in: []byte{0xff, 0xff, 0xff, 0xff, 0x0f}, want: 0xffffffff, n: 5},
		{in: []byte{0x80, 0x80}, err: "truncated"},
		{in: nil, err: "truncated"},
		{in: []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, err: "longer than 5 bytes"},
		{in: []byte{0xff, 0xff, 0xff, 0xff, 0x1f}, err: "does not fit in 32 bits"},
	} {
		v, n, err := readU32(c.in, 0)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) || !errors.Is(err, ErrNotWasm) {
				t.Errorf("% x: got %v, want error %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || v != c.want || n != c.n {
			t.Errorf("% x: got %d, %d, %v; want %d, %d", c.in, v, n, err, c.want, c.n)
		}
	}
	for _, v := range []uint32{0, 1, 127, 128, 300, 1 << 21, 0xffffffff} {
		b := appendU32(nil, v)
		got, n, err := readU32(b, 0)
		if err != nil || got != v || n != len(b) {
			t.Errorf("round trip %d: % x -> %d, %d, %v", v, b, got, n, err)
		}
	}
}

func TestParseModuleErrors(t *testing.T) {
	for name, c := range map[string]struct {
		in   []byte
		want error
		msg  string
	}{
		"empty":           {nil, ErrNotWasm, "magic"},
		"elf":             {[]byte("\x7fELF\x02\x01\x01\x00"), ErrNotWasm, "magic"},
		"short header":    {header[:6], ErrNotWasm, "truncated header"},
		"version 2":       {[]byte{0, 'a', 's', 'm', 2, 0, 0, 0}, ErrNotWasm, "version"},
		"component":       {[]byte{0, 'a', 's', 'm', 0x0d, 0, 1, 0}, ErrComponent, "component"},
		"no size":         {module([]byte{1}), ErrNotWasm, "truncated LEB128"},
		"section too big": {module([]byte{1, 5, 0, 0}), ErrNotWasm, "section 1 is truncated: declares 5 bytes, 2 remain"},
		"huge size":       {module([]byte{10, 0xff, 0xff, 0xff, 0xff, 0x0f}), ErrNotWasm, "truncated"},
		"custom no name":  {module([]byte{0, 0}), ErrNotWasm, "truncated LEB128"},
		"custom name overflow": {module([]byte{0, 3, 5, 'j', 'w'}), ErrNotWasm,
			"name runs past the end"},
		"custom name not utf8": {module([]byte{0, 3, 2, 0xff, 0xfe}), ErrNotWasm, "not UTF-8"},
	} {
		_, err := parseModule(c.in)
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: got %v, want %v containing %q", name, err, c.want, c.msg)
		}
	}
}

func TestParseModuleSections(t *testing.T) {
	m := module(
		[]byte{1, 4, 1, 0x60, 0, 0},              // type section
		[]byte{0, 6, 3, 'j', 'w', 't', 'x', 'y'}, // custom "jwt"
		[]byte{0, 5, 4, 'n', 'a', 'm', 'e'},      // custom "name", no data
		[]byte{0x2a, 1, 0xaa},                    // unknown id: kept, like wasmparser's UnknownSection
	)
	secs, err := parseModule(m)
	if err != nil {
		t.Fatal(err)
	}
	if len(secs) != 4 || secs[1].name != "jwt" || string(secs[1].data) != "xy" || secs[2].name != "name" || len(secs[2].data) != 0 || secs[3].id != 0x2a {
		t.Fatalf("sections %+v", secs)
	}
	if !secs[1].isClaims() || secs[2].isClaims() {
		t.Error("isClaims")
	}
	stripped := strip(m, secs)
	want := module([]byte{1, 4, 1, 0x60, 0, 0}, []byte{0, 5, 4, 'n', 'a', 'm', 'e'}, []byte{0x2a, 1, 0xaa})
	if !bytes.Equal(stripped, want) {
		t.Errorf("strip = % x\nwant   % x", stripped, want)
	}
}

// Section sizes padded to five bytes are re-encoded minimally, as wascap's
// re-serialisation does, so the hash does not depend on the padding.
func TestStripNormalisesPaddedSizes(t *testing.T) {
	padded := module([]byte{1, 0x84, 0x80, 0x80, 0x80, 0x00, 1, 0x60, 0, 0}, []byte{0, 0x86, 0x80, 0x80, 0x80, 0, 3, 'w', 'a', 't', 'x', 'y'})
	minimal := module([]byte{1, 4, 1, 0x60, 0, 0}, []byte{0, 6, 3, 'w', 'a', 't', 'x', 'y'})
	hp, err := ModuleHash(padded)
	if err != nil {
		t.Fatal(err)
	}
	hm, _ := ModuleHash(minimal)
	if hp != hm || hm != sha256Upper(minimal) {
		t.Errorf("hash of padded %s, minimal %s, sha256(minimal) %s", hp, hm, sha256Upper(minimal))
	}
}

func TestAppendCustomSection(t *testing.T) {
	data := bytes.Repeat([]byte{'x'}, 200)
	m := appendCustomSection(bytes.Clone(header), "jwt", data)
	secs, err := parseModule(m)
	if err != nil || len(secs) != 1 || secs[0].name != "jwt" || !bytes.Equal(secs[0].data, data) {
		t.Fatalf("%v %+v", err, secs)
	}
	if m[8] != 0 || m[9] != 0xcc || m[10] != 0x01 { // 204 = 0xcc 0x01
		t.Errorf("section header % x", m[8:11])
	}
}

var fuzzKeys = func() [2]*KeyPair {
	a, _ := NewKeyPairFromRawSeed(KindAccount, bytes.Repeat([]byte{7}, 32))
	m, _ := NewKeyPairFromRawSeed(KindModule, bytes.Repeat([]byte{8}, 32))
	return [2]*KeyPair{a, m}
}()

// FuzzParseModule checks that no input makes the parser, Extract, Verify or
// Sign panic, and that any module Sign accepts verifies afterwards.
func FuzzParseModule(f *testing.F) {
	for _, name := range []string{"loop.wasm", "signed_loop.wasm", "echo_messaging_v0.9.0.wasm"} {
		b := readTestdata(f, name)
		if len(b) > 4096 {
			b = b[:4096] // a truncated real module is a good seed too
		}
		f.Add(b)
	}
	f.Add(module([]byte{0, 6, 3, 'j', 'w', 't', 'x', 'y'}))
	f.Add(module([]byte{1, 0x84, 0x80, 0x80, 0x80, 0x00, 1, 0x60, 0, 0}))
	f.Add([]byte{0, 'a', 's', 'm', 0x0d, 0, 1, 0})
	f.Add([]byte("not wasm"))
	f.Fuzz(func(t *testing.T, in []byte) {
		secs, err := parseModule(in)
		_, _ = Extract(in)
		_, _ = Verify(in, VerifyOptions{})
		_, _ = Inspect(in, VerifyOptions{})
		if err != nil {
			if !errors.Is(err, ErrNotWasm) && !errors.Is(err, ErrComponent) {
				t.Fatalf("parse error %v is neither ErrNotWasm nor ErrComponent", err)
			}
			return
		}
		stripped := strip(in, secs)
		secs2, err := parseModule(stripped)
		if err != nil {
			t.Fatalf("stripped module does not parse: %v", err)
		}
		if again := strip(stripped, secs2); !bytes.Equal(again, stripped) {
			t.Fatal("strip is not idempotent")
		}
		signed, err := Sign(in, SignOptions{Name: "fuzz", ID: "fuzz"}, fuzzKeys[0], fuzzKeys[1])
		if err != nil {
			t.Fatalf("Sign failed on a parseable module: %v", err)
		}
		c, err := Verify(signed, VerifyOptions{})
		if err != nil {
			t.Fatalf("signed module does not verify: %v", err)
		}
		if c.Wascap.Hash != sha256Upper(stripped) {
			t.Fatal("hash is not SHA-256 of the stripped module")
		}
	})
}

// TestStrippedHashIsTheHashOfTheStrippedModule: the hash computed without
// copying equals the hash of the module strip writes, for the modules
// others signed and for sizes padded to five bytes.
func TestStrippedHashIsTheHashOfTheStrippedModule(t *testing.T) {
	padded := module([]byte{1, 0x84, 0x80, 0x80, 0x80, 0, 1, 0x60, 0, 0}, appendCustomSection(nil, "jwt", []byte("x")), appendCustomSection(nil, "name", []byte("y")))
	mods := map[string][]byte{"padded": padded}
	for _, n := range []string{"wapc/hello_go.wasm", "wapc/hello_rust.wasm", "wascap/echo_messaging_v0.9.0.wasm", "wascap/signed_loop.wasm"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "conformance", n))
		if err != nil {
			t.Fatal(err)
		}
		mods[n] = b
	}
	for name, m := range mods {
		sections, err := parseModule(m)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got, want := strippedHash(m, sections), hashHex(strip(m, sections)); got != want {
			t.Errorf("%s: strippedHash = %s, want %s", name, got, want)
		}
	}
}
