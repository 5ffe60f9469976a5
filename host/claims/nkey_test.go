package claims

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/nats-io/nkeys"
)

// Public keys taken from the wascap-signed conformance modules.
const (
	loopIssuer  = "ACCHS57D3P2VEON5MQCJM4YA34GYBDFZR3IBG5EQNUONIHBO5X4NIURC"
	loopSubject = "MBQ2RC3BARXFWTBFW5UJ6J3QSAVYJ7D64Z5LRCPR3UI44F65Q3OMNGYM"
	echoIssuer  = "ABRK5MP6QRTH7HXOVP2PR2TLDW6DPLBAF3LTGVWQRFVEF7W5VOUMACXB"
	echoSubject = "MDJ5BWS6JXSWOZL2ZENW2D4FBSHQ5ZMFGEGJB33TLKYKMXTLLAXINU36"
)

func mustKey(t testing.TB, kind KeyKind) *KeyPair {
	t.Helper()
	kp, err := GenerateKeyPair(kind)
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

func TestModuleAndServiceKeysRoundTrip(t *testing.T) {
	for _, kind := range []KeyKind{KindModule, KindService} {
		t.Run(kind.String(), func(t *testing.T) {
			kp := mustKey(t, kind)
			pub := kp.PublicKey()
			if pub[0] != kind.Letter() || len(pub) != 56 {
				t.Fatalf("public key %q: want 56 chars starting with %c", pub, kind.Letter())
			}
			seed := kp.Seed()
			if len(seed) != 58 || seed[0] != 'S' || seed[1] != kind.Letter() {
				t.Fatalf("seed has length %d and prefix %q, want 58 and S%c", len(seed), seed[:2], kind.Letter())
			}
			back, err := ParseSeed(seed)
			if err != nil {
				t.Fatal(err)
			}
			if back.Kind() != kind || back.PublicKey() != pub {
				t.Fatalf("seed round trip gave %s %s, want %s %s", back.Kind(), back.PublicKey(), kind, pub)
			}
			if _, err := ParseSeedOf(kind, seed); err != nil {
				t.Fatal(err)
			}
			raw, err := DecodePublicKey(kind, pub)
			if err != nil {
				t.Fatal(err)
			}
			again, err := EncodePublicKey(kind, raw)
			if err != nil || again != pub {
				t.Fatalf("EncodePublicKey(DecodePublicKey(%s)) = %s, %v", pub, again, err)
			}
			if k, err := PublicKeyKind(pub); err != nil || k != kind {
				t.Fatalf("PublicKeyKind = %v, %v", k, err)
			}
			msg := []byte("hello wisp")
			sig := kp.Sign(msg)
			if err := VerifySignature(pub, msg, sig); err != nil {
				t.Fatal(err)
			}
			if err := back.Verify(append(msg, '!'), sig); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("verify of altered message: %v, want ErrBadSignature", err)
			}
		})
	}
}

// The generic encoder must agree with nkeys for every kind nkeys knows.
func TestEncodingMatchesNKeys(t *testing.T) {
	for _, c := range []struct {
		kind   KeyKind
		prefix nkeys.PrefixByte
	}{
		{KindAccount, nkeys.PrefixByteAccount},
		{KindServer, nkeys.PrefixByteServer},
		{KindCluster, nkeys.PrefixByteCluster},
		{KindOperator, nkeys.PrefixByteOperator},
		{KindUser, nkeys.PrefixByteUser},
	} {
		t.Run(c.kind.String(), func(t *testing.T) {
			if byte(c.kind) != byte(c.prefix) {
				t.Fatalf("kind %d != nkeys prefix %d", c.kind, c.prefix)
			}
			nk, err := nkeys.CreatePair(c.prefix)
			if err != nil {
				t.Fatal(err)
			}
			nkSeed, _ := nk.Seed()
			nkPub, _ := nk.PublicKey()
			_, rawSeed, err := nkeys.DecodeSeed(nkSeed)
			if err != nil {
				t.Fatal(err)
			}

			// Our encoder on the same raw seed gives nkeys' encodings.
			ours, err := NewKeyPairFromRawSeed(c.kind, rawSeed)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(ours.Seed(), nkSeed) {
				t.Fatalf("seed encodings differ")
			}
			if ours.PublicKey() != nkPub {
				t.Fatalf("public key %s, nkeys %s", ours.PublicKey(), nkPub)
			}
			rawPub, _ := nkeys.Decode(c.prefix, []byte(nkPub))
			enc, err := EncodePublicKey(c.kind, rawPub)
			if err != nil || enc != nkPub {
				t.Fatalf("EncodePublicKey = %s, %v; nkeys %s", enc, err, nkPub)
			}

			// And each side parses the other's output.
			parsed, err := ParseSeedOf(c.kind, nkSeed)
			if err != nil || parsed.PublicKey() != nkPub {
				t.Fatalf("ParseSeedOf(nkeys seed) = %v, %v", parsed, err)
			}
			fresh := mustKey(t, c.kind)
			back, err := nkeys.FromSeed(fresh.Seed())
			if err != nil {
				t.Fatal(err)
			}
			if p, _ := back.PublicKey(); p != fresh.PublicKey() {
				t.Fatalf("nkeys reads our seed as %s, want %s", p, fresh.PublicKey())
			}
			if !nkeys.IsValidPublicKey(fresh.PublicKey()) {
				t.Fatalf("nkeys rejects our public key %s", fresh.PublicKey())
			}

			// Conversions, and signatures cross-verify.
			conv, err := fresh.NKeys()
			if err != nil {
				t.Fatal(err)
			}
			msg := []byte("cross-check")
			if err := conv.Verify(msg, fresh.Sign(msg)); err != nil {
				t.Fatalf("nkeys rejects our signature: %v", err)
			}
			sig, _ := nk.Sign(msg)
			if err := VerifySignature(nkPub, msg, sig); err != nil {
				t.Fatalf("we reject nkeys' signature: %v", err)
			}
			from, err := FromNKeys(nk)
			if err != nil || from.PublicKey() != nkPub {
				t.Fatalf("FromNKeys = %v, %v", from, err)
			}
		})
	}
}

func TestKnownPublicKeys(t *testing.T) {
	for _, c := range []struct {
		key  string
		kind KeyKind
	}{{loopIssuer, KindAccount}, {echoIssuer, KindAccount}, {loopSubject, KindModule}, {echoSubject, KindModule}} {
		pub, err := DecodePublicKey(c.kind, c.key)
		if err != nil {
			t.Fatalf("%s: %v", c.key, err)
		}
		if len(pub) != ed25519.PublicKeySize {
			t.Fatalf("%s: %d bytes", c.key, len(pub))
		}
		if enc, _ := EncodePublicKey(c.kind, pub); enc != c.key {
			t.Fatalf("re-encoded %s as %s", c.key, enc)
		}
	}
	if !nkeys.IsValidPublicAccountKey(loopIssuer) {
		t.Fatal("nkeys rejects the wascap issuer key")
	}
}

func TestWrongKindIsClearError(t *testing.T) {
	_, err := DecodePublicKey(KindModule, loopIssuer)
	if !errors.Is(err, ErrWrongKeyKind) {
		t.Fatalf("got %v, want ErrWrongKeyKind", err)
	}
	for _, want := range []string{"account key (A...)", "want a module key (M...)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	acct := mustKey(t, KindAccount)
	seed := acct.Seed()
	_, err = ParseSeedOf(KindModule, seed)
	if !errors.Is(err, ErrWrongKeyKind) {
		t.Fatalf("got %v, want ErrWrongKeyKind", err)
	}
	if strings.Contains(err.Error(), string(seed)) {
		t.Fatal("error message contains the seed")
	}
}

func TestInvalidKeys(t *testing.T) {
	mod := mustKey(t, KindModule)
	pub := mod.PublicKey()
	seed := string(mod.Seed())
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	for name, key := range map[string]string{
		"empty":     "",
		"short":     pub[:40],
		"checksum":  flip(pub, 20),
		"lowercase": strings.ToLower(pub),
		"seed":      seed,
		"unknown":   "Z" + pub[1:],
	} {
		if _, err := PublicKeyKind(key); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("%s: got %v, want ErrInvalidKey", name, err)
		} else if strings.Contains(err.Error(), seed) {
			t.Errorf("%s: error contains the seed", name)
		}
	}
	for name, s := range map[string]string{
		"checksum": flip(seed, 30),
		"short":    seed[:50],
		"public":   pub,
		"garbage":  strings.Repeat("!", 58),
	} {
		_, err := ParseSeed([]byte(s))
		if !errors.Is(err, ErrInvalidKey) {
			t.Errorf("%s: got %v, want ErrInvalidKey", name, err)
		} else if strings.Contains(err.Error(), s) || strings.Contains(err.Error(), seed[2:20]) {
			t.Errorf("%s: error %q contains the seed", name, err)
		}
	}
	if _, err := ParseSeed([]byte(seed + "\n")); err != nil {
		t.Errorf("trailing newline: %v", err)
	}
}

func TestKeyPairNeverPrintsSeed(t *testing.T) {
	kp := mustKey(t, KindModule)
	seed := string(kp.Seed())
	secret := seed[2:30]
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("key", "kp", kp)
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("key", "kp", kp)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T"} {
		fmt.Fprintf(&buf, verb+"\n", kp)
	}
	fmt.Fprintf(&buf, "%v\n", struct{ K *KeyPair }{kp})
	fmt.Fprintln(&buf, fmt.Errorf("wrapped: %v", kp))
	out := buf.String()
	if strings.Contains(out, secret) || strings.Contains(out, seed) {
		t.Fatalf("seed leaked into output:\n%s", out)
	}
	if !strings.Contains(out, kp.PublicKey()) {
		t.Fatalf("public key missing from output:\n%s", out)
	}
}

func TestParseKeyKind(t *testing.T) {
	for in, want := range map[string]KeyKind{
		"account": KindAccount, "module": KindModule, "Component": KindModule, "actor": KindModule,
		"service": KindService, "provider": KindService, "server": KindServer, "cluster": KindCluster,
		"operator": KindOperator, "user": KindUser, "m": KindModule, "A": KindAccount, "v": KindService,
	} {
		if got, err := ParseKeyKind(in); err != nil || got != want {
			t.Errorf("ParseKeyKind(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseKeyKind("curve"); err == nil {
		t.Error("curve keys are not ed25519 and must be rejected")
	}
}

func TestCRC16(t *testing.T) {
	// CRC-16/XMODEM check value.
	if got := crc16([]byte("123456789")); got != 0x31C3 {
		t.Fatalf("crc16 = %#x, want 0x31c3", got)
	}
}
