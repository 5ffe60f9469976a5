package claims

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// readTestdata reads a wascap conformance module from the repository's
// testdata/conformance/wascap.
func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "conformance", "wascap", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sha256Upper(b []byte) string {
	sum := sha256.Sum256(b)
	return fmt.Sprintf("%X", sum)
}

// segment returns the i-th dot-separated segment of a JWT.
func segment(jwt string, i int) string { return strings.Split(jwt, ".")[i] }

func TestSignedLoopFromWascap(t *testing.T) {
	loop := readTestdata(t, "loop.wasm")
	signed := readTestdata(t, "signed_loop.wasm")

	tok, err := Extract(signed)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Section != SectionJWT {
		t.Errorf("section %q, want %q", tok.Section, SectionJWT)
	}
	if tok.Header != (Header{Type: "jwt", Algorithm: "Ed25519"}) {
		t.Errorf("header %+v", tok.Header)
	}
	c := tok.Claims
	if c.Issuer != loopIssuer || c.Subject != loopSubject {
		t.Errorf("iss %s sub %s", c.Issuer, c.Subject)
	}
	if c.Wascap == nil || c.Wascap.Name != "Secure Actor" || c.Wascap.Ver != "1.0.0" || c.Wascap.Provider {
		t.Fatalf("wascap %+v", c.Wascap)
	}
	if c.Revision != 0 {
		t.Errorf("revision %d, want 0 (absent)", c.Revision)
	}
	want := sha256Upper(loop)
	if !strings.HasPrefix(want, "5C66140D") {
		t.Fatalf("loop.wasm hashes to %s", want)
	}
	if c.Wascap.Hash != want {
		t.Errorf("hash claim %s, want SHA-256 of loop.wasm %s", c.Wascap.Hash, want)
	}
	if h, err := ModuleHash(signed); err != nil || h != want {
		t.Errorf("ModuleHash(signed_loop) = %s, %v; want %s", h, err, want)
	}
	if !c.HasCap("wascc:messaging") || c.HasCap(CapMessaging) {
		t.Errorf("caps %v", c.Wascap.Caps)
	}

	got, err := Verify(signed, VerifyOptions{AllowedIssuers: []string{loopIssuer}, CheckLegacyHash: true})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got.Subject != loopSubject {
		t.Errorf("verified subject %s", got.Subject)
	}

	// The header segment is exactly wascap's, and re-encoding the decoded
	// claims reproduces wascap's claims segment byte for byte.
	if segment(tok.JWT, 0) != headerSegment {
		t.Errorf("header segment %s, want %s", segment(tok.JWT, 0), headerSegment)
	}
	reencoded, err := c.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if b64.EncodeToString(reencoded) != segment(tok.JWT, 1) {
		t.Errorf("re-encoded claims differ from wascap's:\n%s", reencoded)
	}
}

func TestEchoMessagingFromWascap(t *testing.T) {
	mod := readTestdata(t, "echo_messaging_v0.9.0.wasm")
	tok, err := Extract(mod)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Section != SectionWasmcloudJWT {
		t.Errorf("section %q, want %q", tok.Section, SectionWasmcloudJWT)
	}
	c := &tok.Claims
	if c.Name() != "Echo Messaging" || c.Issuer != echoIssuer || c.Subject != echoSubject || c.Revision != 2 {
		t.Errorf("claims %+v", c)
	}
	if !c.HasCap(CapMessaging) || !c.HasCap(CapLogging) || c.HasCap(CapKeyValue) {
		t.Errorf("caps %v", c.Wascap.Caps)
	}
	if c.Wascap.Rev == nil || *c.Wascap.Rev != 0 || c.Wascap.Tags == nil || len(c.Wascap.Tags) != 0 {
		t.Errorf("rev %v tags %#v: want rev 0 present and tags [] present", c.Wascap.Rev, c.Wascap.Tags)
	}
	if _, err := Verify(mod, VerifyOptions{AllowedIssuers: []string{echoIssuer}}); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	reencoded, err := c.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if b64.EncodeToString(reencoded) != segment(tok.JWT, 1) {
		t.Errorf("re-encoded claims differ from wascap's:\n%s", reencoded)
	}

	// Revision 2 hashes (wascap 0.9/0.10) kept the module's own section
	// size encodings; wascap 0.11+ neither recomputes nor checks them, and
	// neither does wisp. The module uses 5-byte padded sizes, so its
	// revision-3 hash differs from the recorded one.
	r, err := Inspect(mod, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Valid || r.HashChecked || r.ModuleHash == r.Hash {
		t.Errorf("report valid=%v hash_checked=%v module_hash=%s hash=%s", r.Valid, r.HashChecked, r.ModuleHash, r.Hash)
	}
	if r.Hash != "0A116480EF09116D59E441A125EF472E362B6F2AE0938E4D33A964C349BE13C7" {
		t.Errorf("hash %s", r.Hash)
	}
	if _, err := Verify(mod, VerifyOptions{CheckLegacyHash: true}); !errors.Is(err, ErrHashMismatch) {
		t.Errorf("CheckLegacyHash on a revision 2 module: %v, want ErrHashMismatch", err)
	}
}

func TestSignLoopGivesWascapHash(t *testing.T) {
	loop := readTestdata(t, "loop.wasm")
	acct, mod := mustKey(t, KindAccount), mustKey(t, KindModule)
	signed, err := Sign(loop, SignOptions{Name: "Loop", Caps: []string{CapMessaging}}, acct, mod)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Verify(signed, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c.Wascap.Hash, "5C66140D") || c.Wascap.Hash != sha256Upper(loop) {
		t.Errorf("hash %s, want SHA-256 of loop.wasm", c.Wascap.Hash)
	}
	// The signed module is loop.wasm followed by one `jwt` custom section.
	if !bytes.HasPrefix(signed, loop) {
		t.Error("signed module does not start with the original module")
	}
	tok, _ := Extract(signed)
	if tok.Section != SectionJWT {
		t.Errorf("wrote section %q, want %q", tok.Section, SectionJWT)
	}
	// Re-signing wascap's signed_loop gives the same hash as well.
	resigned, err := Sign(readTestdata(t, "signed_loop.wasm"), SignOptions{Name: "Loop"}, acct, mod)
	if err != nil {
		t.Fatal(err)
	}
	if c2, err := Verify(resigned, VerifyOptions{}); err != nil || c2.Wascap.Hash != c.Wascap.Hash {
		t.Errorf("re-signed signed_loop: %v, hash %v", err, c2)
	}
}

// A fixed set of inputs gives exactly the token wascap would write.
func TestSignedClaimsGolden(t *testing.T) {
	loop := readTestdata(t, "loop.wasm")
	acct, _ := NewKeyPairFromRawSeed(KindAccount, bytes.Repeat([]byte{1}, 32))
	mod, _ := NewKeyPairFromRawSeed(KindModule, bytes.Repeat([]byte{2}, 32))
	rev := int32(4)
	opts := SignOptions{
		Name:      `Tricky "name" <&> é`,
		Caps:      []string{CapMessaging, CapLogging},
		Rev:       &rev,
		Ver:       "0.2.0",
		CallAlias: " My-Actor.v2 ",
		IssuedAt:  time.Unix(1700000000, 0),
		Expires:   time.Unix(1800000000, 0),
		NotBefore: time.Unix(1600000000, 0),
		ID:        "fixedjti0000000000000",
	}
	signed, err := Sign(loop, opts, acct, mod)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := Sign(loop, opts, acct, mod)
	if !bytes.Equal(signed, again) {
		t.Error("signing twice with the same inputs gave different bytes")
	}
	tok, err := Extract(signed)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := b64.DecodeString(segment(tok.JWT, 1))
	want := `{"exp":1800000000,"jti":"fixedjti0000000000000","iat":1700000000,` +
		`"iss":"` + acct.PublicKey() + `","sub":"` + mod.PublicKey() + `","nbf":1600000000,` +
		`"wascap":{"name":"Tricky \"name\" <&> é","hash":"` + sha256Upper(loop) + `","tags":[],` +
		`"caps":["wasmcloud:messaging","wasmcloud:builtin:logging"],"rev":4,"ver":"0.2.0",` +
		`"call_alias":"my_actor_v2","prov":false},"wascap_revision":3}`
	if string(payload) != want {
		t.Errorf("claims\n got %s\nwant %s", payload, want)
	}
	if segment(tok.JWT, 0) != "eyJ0eXAiOiJqd3QiLCJhbGciOiJFZDI1NTE5In0" {
		t.Errorf("header segment %s", segment(tok.JWT, 0))
	}
	if _, err := Verify(signed, VerifyOptions{Now: time.Unix(1700000000, 0)}); err != nil {
		t.Fatal(err)
	}
}

func TestDefaultIDIsNUID(t *testing.T) {
	acct, mod := mustKey(t, KindAccount), mustKey(t, KindModule)
	signed, err := Sign(readTestdata(t, "loop.wasm"), SignOptions{Name: "x"}, acct, mod)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := Extract(signed)
	if len(tok.Claims.ID) != 22 {
		t.Errorf("jti %q: want a 22-character NUID like wascap's", tok.Claims.ID)
	}
	if d := time.Since(time.Unix(tok.Claims.IssuedAt, 0)); d < 0 || d > time.Minute {
		t.Errorf("iat %d is not now", tok.Claims.IssuedAt)
	}
	if tok.Claims.Expires != nil || tok.Claims.NotBefore != nil {
		t.Error("exp/nbf written without being asked for")
	}
}

func TestResignReplacesClaims(t *testing.T) {
	echo := readTestdata(t, "echo_messaging_v0.9.0.wasm")
	acct, mod := mustKey(t, KindAccount), mustKey(t, KindModule)
	first, err := Sign(echo, SignOptions{Name: "first", Section: SectionWasmcloudJWT}, acct, mod)
	if err != nil {
		t.Fatal(err)
	}
	acct2 := mustKey(t, KindAccount)
	second, err := Sign(first, SignOptions{Name: "second", Caps: []string{CapKeyValue}}, acct2, mod)
	if err != nil {
		t.Fatal(err)
	}
	secs, err := parseModule(second)
	if err != nil {
		t.Fatal(err)
	}
	var claimsSections []string
	for _, s := range secs {
		if s.isClaims() {
			claimsSections = append(claimsSections, s.name)
		}
	}
	if len(claimsSections) != 1 || claimsSections[0] != SectionJWT {
		t.Fatalf("claims sections after re-signing: %v, want [jwt]", claimsSections)
	}
	c, err := Verify(second, VerifyOptions{AllowedIssuers: []string{acct2.PublicKey()}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Name() != "second" || !c.HasCap(CapKeyValue) || c.HasCap(CapMessaging) {
		t.Errorf("claims after re-signing: %+v", c.Wascap)
	}
	c1, _ := Verify(first, VerifyOptions{})
	if c1.Wascap.Hash != c.Wascap.Hash {
		t.Errorf("hash changed on re-signing: %s then %s", c1.Wascap.Hash, c.Wascap.Hash)
	}
	// Stripping normalises the padded section sizes of this module, and
	// other custom sections (name, producers) are kept.
	if len(second) >= len(echo) {
		t.Errorf("re-signed module is %d bytes, original %d: padded sizes not re-encoded?", len(second), len(echo))
	}
	var names []string
	for _, s := range secs {
		if s.id == 0 {
			names = append(names, s.name)
		}
	}
	if strings.Join(names, ",") != "name,producers,jwt" {
		t.Errorf("custom sections %v", names)
	}
}

func signedLoop(t *testing.T, opts SignOptions) ([]byte, *KeyPair) {
	t.Helper()
	acct, mod := mustKey(t, KindAccount), mustKey(t, KindModule)
	if opts.Name == "" {
		opts.Name = "loop"
	}
	signed, err := Sign(readTestdata(t, "loop.wasm"), opts, acct, mod)
	if err != nil {
		t.Fatal(err)
	}
	return signed, acct
}

func TestTamperedCodeIsHashMismatch(t *testing.T) {
	signed, _ := signedLoop(t, SignOptions{})
	// Change the constant 10 in `i32.const 10` inside the code section.
	i := bytes.Index(signed, []byte{0x41, 0x0a})
	if i < 0 {
		t.Fatal("i32.const 10 not found")
	}
	signed[i+1] = 0x0b
	_, err := Verify(signed, VerifyOptions{})
	if !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("got %v, want ErrHashMismatch", err)
	}
	r, err := Inspect(signed, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Valid || !errors.Is(r.Err, ErrHashMismatch) || !strings.Contains(r.Reason, "hash") {
		t.Errorf("report %+v", r)
	}
}

func TestFlippedSignatureIsBadSignature(t *testing.T) {
	signed, _ := signedLoop(t, SignOptions{})
	tok, _ := Extract(signed)
	sig := segment(tok.JWT, 2)
	for _, pos := range []int{10, len(sig) - 1} {
		mod := bytes.Clone(signed)
		i := bytes.Index(mod, []byte(sig)) + pos
		if mod[i] == 'A' {
			mod[i] = 'B'
		} else {
			mod[i] = 'A'
		}
		if _, err := Verify(mod, VerifyOptions{}); !errors.Is(err, ErrBadSignature) {
			t.Errorf("char %d flipped: got %v, want ErrBadSignature", pos, err)
		}
	}
	// Changing the claims (here: a capability) also breaks the signature.
	// The token's length changes, so the module is re-framed around it.
	c := tok.Claims
	c.Wascap.Caps = []string{CapHTTPServer}
	forged, _ := c.MarshalJSON()
	secs, _ := parseModule(signed)
	forgedJWT := headerSegment + "." + b64.EncodeToString(forged) + "." + segment(tok.JWT, 2)
	mod := appendCustomSection(strip(signed, secs), SectionJWT, []byte(forgedJWT))
	if _, err := Verify(mod, VerifyOptions{}); !errors.Is(err, ErrBadSignature) {
		t.Errorf("forged caps: got %v, want ErrBadSignature", err)
	}
}

func TestExpiryAndNotBefore(t *testing.T) {
	now := time.Now()
	expired, _ := signedLoop(t, SignOptions{Expires: now.Add(-time.Hour)})
	if _, err := Verify(expired, VerifyOptions{}); !errors.Is(err, ErrExpired) {
		t.Fatalf("got %v, want ErrExpired", err)
	}
	if _, err := Verify(expired, VerifyOptions{Now: now.Add(-2 * time.Hour)}); err != nil {
		t.Fatalf("before expiry: %v", err)
	}
	future, _ := signedLoop(t, SignOptions{NotBefore: now.Add(time.Hour)})
	if _, err := Verify(future, VerifyOptions{}); !errors.Is(err, ErrNotYetValid) {
		t.Fatalf("got %v, want ErrNotYetValid", err)
	}
	if _, err := Verify(future, VerifyOptions{Now: now.Add(2 * time.Hour)}); err != nil {
		t.Fatalf("after nbf: %v", err)
	}
	// wascap's boundaries: valid through the second of exp, from the second of nbf.
	exp := time.Unix(1800000000, 0)
	edge, _ := signedLoop(t, SignOptions{Expires: exp, NotBefore: exp})
	if _, err := Verify(edge, VerifyOptions{Now: exp.Add(999 * time.Millisecond)}); err != nil {
		t.Fatalf("at exp == nbf: %v", err)
	}
	if _, err := Verify(edge, VerifyOptions{Now: exp.Add(time.Second)}); !errors.Is(err, ErrExpired) {
		t.Fatalf("a second after exp: %v", err)
	}
	r, _ := Inspect(expired, VerifyOptions{})
	if r.Valid || r.Expires == nil || !strings.Contains(r.Reason, "expired") {
		t.Errorf("report %+v", r)
	}
}

func TestIssuerAllowList(t *testing.T) {
	signed, acct := signedLoop(t, SignOptions{})
	other := mustKey(t, KindAccount)
	_, err := Verify(signed, VerifyOptions{AllowedIssuers: []string{other.PublicKey()}})
	if !errors.Is(err, ErrIssuerNotAllowed) || !strings.Contains(err.Error(), acct.PublicKey()) {
		t.Fatalf("got %v, want ErrIssuerNotAllowed naming the issuer", err)
	}
	if _, err := Verify(signed, VerifyOptions{AllowedIssuers: []string{other.PublicKey(), acct.PublicKey()}}); err != nil {
		t.Fatal(err)
	}
}

func TestUnsignedAndNotWasm(t *testing.T) {
	loop := readTestdata(t, "loop.wasm")
	if _, err := Extract(loop); !errors.Is(err, ErrNoClaims) {
		t.Errorf("Extract: got %v, want ErrNoClaims", err)
	}
	if _, err := Verify(loop, VerifyOptions{}); !errors.Is(err, ErrNoClaims) {
		t.Errorf("Verify: got %v, want ErrNoClaims", err)
	}
	if _, err := Inspect(loop, VerifyOptions{}); !errors.Is(err, ErrNoClaims) {
		t.Errorf("Inspect: got %v, want ErrNoClaims", err)
	}
	acct, mod := mustKey(t, KindAccount), mustKey(t, KindModule)
	for name, in := range map[string][]byte{
		"text":      []byte("#!/bin/sh\necho not wasm\n"),
		"empty":     nil,
		"truncated": loop[:len(loop)-3],
	} {
		if _, err := Verify(in, VerifyOptions{}); !errors.Is(err, ErrNotWasm) {
			t.Errorf("%s: Verify got %v, want ErrNotWasm", name, err)
		}
		if _, err := Sign(in, SignOptions{Name: "x"}, acct, mod); !errors.Is(err, ErrNotWasm) {
			t.Errorf("%s: Sign got %v, want ErrNotWasm", name, err)
		}
	}
	component := append([]byte{0, 'a', 's', 'm', 0x0d, 0x00, 0x01, 0x00}, loop[8:]...)
	if _, err := Verify(component, VerifyOptions{}); !errors.Is(err, ErrComponent) {
		t.Errorf("component: got %v, want ErrComponent", err)
	}
}

func TestSignRejectsWrongKeys(t *testing.T) {
	loop := readTestdata(t, "loop.wasm")
	acct, mod := mustKey(t, KindAccount), mustKey(t, KindModule)
	for name, keys := range map[string][2]*KeyPair{
		"swapped":         {mod, acct},
		"service subject": {acct, mustKey(t, KindService)},
		"nil issuer":      {nil, mod},
	} {
		_, err := Sign(loop, SignOptions{Name: "x"}, keys[0], keys[1])
		if !errors.Is(err, ErrWrongKeyKind) {
			t.Errorf("%s: got %v, want ErrWrongKeyKind", name, err)
		}
	}
	if _, err := Sign(loop, SignOptions{}, acct, mod); err == nil {
		t.Error("signing without a name succeeded")
	}
	if _, err := Sign(loop, SignOptions{Name: "x", Section: "other"}, acct, mod); err == nil {
		t.Error("signing into an unknown section succeeded")
	}
}

// A token issued by something other than an account, or for something
// other than a module, is rejected even if its signature is good.
func TestVerifyRequiresAccountIssuerAndModuleSubject(t *testing.T) {
	loop := readTestdata(t, "loop.wasm")
	op, mod := mustKey(t, KindOperator), mustKey(t, KindModule)
	c := &Claims{ID: "x", IssuedAt: 1, Issuer: op.PublicKey(), Subject: mod.PublicKey(),
		Wascap: &Actor{Name: "x", Hash: sha256Upper(loop)}, Revision: 3}
	jwt, err := encodeJWT(c, op)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Verify(appendCustomSection(bytes.Clone(loop), SectionJWT, []byte(jwt)), VerifyOptions{})
	if !errors.Is(err, ErrMalformedToken) || !errors.Is(err, ErrWrongKeyKind) {
		t.Fatalf("operator-issued token: got %v", err)
	}
}

func TestMalformedTokens(t *testing.T) {
	loop := readTestdata(t, "loop.wasm")
	for name, jwt := range map[string]string{
		"two segments": "a.b",
		"not base64":   headerSegment + ".!!!.sig",
		"not json":     headerSegment + "." + b64.EncodeToString([]byte("nope")) + ".sig",
		"no iss":       headerSegment + "." + b64.EncodeToString([]byte(`{"jti":"x","iat":1,"sub":"M"}`)) + ".sig",
		"negative iat": headerSegment + "." + b64.EncodeToString([]byte(`{"jti":"x","iat":-1,"iss":"A","sub":"M"}`)) + ".sig",
		"wrong case":   headerSegment + "." + b64.EncodeToString([]byte(`{"JTI":"x","iat":1,"iss":"A","sub":"M"}`)) + ".sig",
	} {
		mod := appendCustomSection(bytes.Clone(loop), SectionJWT, []byte(jwt))
		if _, err := Extract(mod); !errors.Is(err, ErrMalformedToken) {
			t.Errorf("%s: got %v, want ErrMalformedToken", name, err)
		}
	}
	// A header with another algorithm is rejected by Verify.
	signed, _ := signedLoop(t, SignOptions{})
	tok, _ := Extract(signed)
	tok.Header.Algorithm = "none"
	if err := tok.CheckSignature(); !errors.Is(err, ErrMalformedToken) {
		t.Errorf("alg none: got %v", err)
	}
}

func TestInspectReportJSON(t *testing.T) {
	signed, acct := signedLoop(t, SignOptions{Name: "Loop", Caps: []string{CapMessaging}, Ver: "1.0.0"})
	r, err := Inspect(signed, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Valid || r.Reason != "" || r.Err != nil || !r.HashChecked || r.Hash != r.ModuleHash || r.Issuer != acct.PublicKey() {
		t.Fatalf("report %+v", r)
	}
	out, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"name", "module", "issuer", "caps", "hash", "ver", "issued_at", "valid", "wascap_revision", "section", "jwt"} {
		if _, ok := m[key]; !ok {
			t.Errorf("report JSON lacks %q: %s", key, out)
		}
	}
	if _, ok := m["expires"]; ok {
		t.Errorf("report JSON has expires for a non-expiring token: %s", out)
	}
}

func TestClaimsJSONRoundTrip(t *testing.T) {
	signed, _ := signedLoop(t, SignOptions{Tags: []string{"a"}, CallAlias: "x"})
	tok, _ := Extract(signed)
	out, err := json.Marshal(tok)
	if err != nil {
		t.Fatal(err)
	}
	var back Token
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	a, _ := tok.Claims.MarshalJSON()
	b, _ := back.Claims.MarshalJSON()
	if !bytes.Equal(a, b) {
		t.Errorf("round trip through encoding/json changed claims:\n%s\n%s", a, b)
	}
}

func TestNormalizeCallAlias(t *testing.T) {
	for in, want := range map[string]string{
		"":                "",
		"  Hello World  ": "hello_world",
		"my-actor.v1":     "my_actor_v1",
		"Ünïcode-Ok":      "ncode_ok",
	} {
		if got := NormalizeCallAlias(in); got != want {
			t.Errorf("NormalizeCallAlias(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCapabilityName(t *testing.T) {
	if CapabilityName(CapMessaging) != "Messaging" || CapabilityName("acme:thing") != "acme:thing" {
		t.Error("CapabilityName")
	}
}

// TestTwoClaimsSectionsAreRefused: an appended second token (same or other
// section name) must not be silently ignored or preferred.
func TestTwoClaimsSectionsAreRefused(t *testing.T) {
	signed := readTestdata(t, "signed_loop.wasm")
	tok, err := Extract(signed)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{SectionJWT, SectionWasmcloudJWT} {
		twice := appendCustomSection(append([]byte(nil), signed...), name, []byte(tok.JWT))
		for what, err := range map[string]error{
			"Extract": func() error { _, err := Extract(twice); return err }(),
			"Verify":  func() error { _, err := Verify(twice, VerifyOptions{}); return err }(),
		} {
			if !errors.Is(err, ErrMultipleClaims) || !strings.Contains(err.Error(), "2 claims sections") {
				t.Errorf("%s with a second %s section = %v", what, name, err)
			}
		}
		// Signing again leaves exactly one.
		kp, _ := GenerateKeyPair(KindAccount)
		mk, _ := GenerateKeyPair(KindModule)
		resigned, err := Sign(twice, SignOptions{Name: "loop"}, kp, mk)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Verify(resigned, VerifyOptions{}); err != nil {
			t.Errorf("re-signed module = %v", err)
		}
	}
}

// TestClaimsSectionThatIsNotAJWT: garbage in the jwt section is a clear
// malformed-token error, not a panic or "unsigned".
func TestClaimsSectionThatIsNotAJWT(t *testing.T) {
	bad := appendCustomSection(append([]byte(nil), readTestdata(t, "loop.wasm")...), SectionJWT, []byte("this is not a token"))
	if _, err := Verify(bad, VerifyOptions{}); !errors.Is(err, ErrMalformedToken) {
		t.Fatalf("Verify = %v, want ErrMalformedToken", err)
	}
}
