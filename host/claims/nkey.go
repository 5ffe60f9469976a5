package claims

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/nats-io/nkeys"
)

// KeyKind is the role of an nkey, identified by the first letter of its
// public key (A for account, M for module, ...). Its value is the nkeys
// prefix byte for that role.
type KeyKind byte

// Key kinds used by wascap and NATS. Module (M) and service (V) keys are the
// two that github.com/nats-io/nkeys does not know about.
const (
	KindAccount  KeyKind = 0       // A: signs actors (the JWT issuer)
	KindCluster  KeyKind = 2 << 3  // C: a lattice/cluster
	KindModule   KeyKind = 12 << 3 // M: an actor module (the JWT subject)
	KindServer   KeyKind = 13 << 3 // N: a host/server
	KindOperator KeyKind = 14 << 3 // O: an operator
	KindUser     KeyKind = 20 << 3 // U: a NATS user
	KindService  KeyKind = 21 << 3 // V: a capability provider (service)
)

// seedPrefix is the prefix byte of every encoded seed ("S...").
const seedPrefix byte = 18 << 3

var kindNames = map[KeyKind]string{
	KindAccount:  "account",
	KindCluster:  "cluster",
	KindModule:   "module",
	KindServer:   "server",
	KindOperator: "operator",
	KindUser:     "user",
	KindService:  "service",
}

// Key errors. Errors that concern a seed never contain the seed itself.
var (
	// ErrInvalidKey reports a public key or seed that is not a well-formed nkey.
	ErrInvalidKey = errors.New("invalid nkey")
	// ErrWrongKeyKind reports a well-formed key of a role other than the one required.
	ErrWrongKeyKind = errors.New("wrong kind of key")
)

// String returns the lower-case role name ("account", "module", ...), the
// same names wash uses in key file names.
func (k KeyKind) String() string {
	if n, ok := kindNames[k]; ok {
		return n
	}
	return fmt.Sprintf("unknown(%d)", byte(k))
}

// Letter returns the first character of public keys of this kind.
func (k KeyKind) Letter() byte {
	return base32Alphabet[byte(k)>>3]
}

// aKey describes the kind with its article and key prefix, e.g.
// "an account key (A...)"; prefix "S" describes seeds ("(SA...)").
func (k KeyKind) aKey(prefix string) string {
	article := "a"
	if strings.ContainsRune("aeiou", rune(k.String()[0])) {
		article = "an"
	}
	return fmt.Sprintf("%s %s key (%s%c...)", article, k, prefix, k.Letter())
}

// Valid reports whether k is one of the kinds this package supports.
func (k KeyKind) Valid() bool {
	_, ok := kindNames[k]
	return ok
}

// ParseKeyKind returns the kind named by s: a role name as printed by
// KeyKind.String, "component" or "actor" for a module, or a single key letter.
func ParseKeyKind(s string) (KeyKind, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	switch s {
	case "component", "actor":
		return KindModule, nil
	case "provider":
		return KindService, nil
	}
	for k, n := range kindNames {
		if s == n || (len(s) == 1 && s[0] == k.Letter()+('a'-'A')) {
			return k, nil
		}
	}
	return 0, fmt.Errorf("unknown key kind %q (want one of account, module, service, server, cluster, operator, user)", s)
}

const base32Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

const (
	publicKeyLen = 1 + ed25519.PublicKeySize + 2 // prefix, key, crc16
	seedLen      = 2 + ed25519.SeedSize + 2      // two prefix bytes, seed, crc16
)

// crc16 is CRC-16/XMODEM (polynomial 0x1021, initial value 0), the checksum
// nkeys appends to every encoded key.
func crc16(data []byte) uint16 {
	var crc uint16
	for _, b := range data {
		crc ^= uint16(b) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

func appendChecksummed(raw []byte) string {
	raw = binary.LittleEndian.AppendUint16(raw, crc16(raw))
	return b32.EncodeToString(raw)
}

// decodeChecked base32-decodes s and verifies and removes its checksum.
func decodeChecked(s string, wantLen int) ([]byte, error) {
	if b32.EncodedLen(wantLen) != len(s) {
		return nil, fmt.Errorf("%w: length %d, want %d characters", ErrInvalidKey, len(s), b32.EncodedLen(wantLen))
	}
	raw, err := b32.DecodeString(s)
	if err != nil || len(raw) != wantLen {
		return nil, fmt.Errorf("%w: not base32", ErrInvalidKey)
	}
	body := raw[:len(raw)-2]
	if binary.LittleEndian.Uint16(raw[len(raw)-2:]) != crc16(body) {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrInvalidKey)
	}
	return body, nil
}

// EncodePublicKey encodes an ed25519 public key as an nkey of the given kind.
func EncodePublicKey(kind KeyKind, pub ed25519.PublicKey) (string, error) {
	if !kind.Valid() {
		return "", fmt.Errorf("%w: unsupported kind %s", ErrInvalidKey, kind)
	}
	if len(pub) != ed25519.PublicKeySize {
		return "", fmt.Errorf("%w: public key is %d bytes, want %d", ErrInvalidKey, len(pub), ed25519.PublicKeySize)
	}
	raw := make([]byte, 0, publicKeyLen)
	raw = append(raw, byte(kind))
	raw = append(raw, pub...)
	return appendChecksummed(raw), nil
}

// DecodePublicKey decodes an nkey public key that must be of the given kind.
func DecodePublicKey(kind KeyKind, key string) (ed25519.PublicKey, error) {
	got, pub, err := decodeAnyPublicKey(key)
	if err != nil {
		return nil, err
	}
	if got != kind {
		return nil, fmt.Errorf("%w: %s is %s, want %s", ErrWrongKeyKind, key, got.aKey(""), kind.aKey(""))
	}
	return pub, nil
}

// PublicKeyKind returns the kind of a well-formed nkey public key.
func PublicKeyKind(key string) (KeyKind, error) {
	k, _, err := decodeAnyPublicKey(key)
	return k, err
}

func decodeAnyPublicKey(key string) (KeyKind, ed25519.PublicKey, error) {
	if strings.HasPrefix(key, "S") {
		// No public key starts with S; never echo what may be a seed.
		return 0, nil, fmt.Errorf("%w: got a seed where a public key was expected", ErrInvalidKey)
	}
	body, err := decodeChecked(key, publicKeyLen)
	if err != nil {
		return 0, nil, fmt.Errorf("public key %q: %w", key, err)
	}
	kind := KeyKind(body[0])
	if !kind.Valid() {
		return 0, nil, fmt.Errorf("public key %q: %w: unknown prefix %q", key, ErrInvalidKey, key[:1])
	}
	return kind, ed25519.PublicKey(body[1:]), nil
}

// EncodeSeed encodes a 32-byte ed25519 seed as an nkey seed ("S" followed by
// the kind's letter).
func EncodeSeed(kind KeyKind, seed []byte) ([]byte, error) {
	if !kind.Valid() {
		return nil, fmt.Errorf("%w: unsupported kind %s", ErrInvalidKey, kind)
	}
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("%w: seed is %d bytes, want %d", ErrInvalidKey, len(seed), ed25519.SeedSize)
	}
	raw := make([]byte, 0, seedLen)
	raw = append(raw, seedPrefix|byte(kind)>>5, (byte(kind)&31)<<3)
	raw = append(raw, seed...)
	return []byte(appendChecksummed(raw)), nil
}

// DecodeSeed decodes an nkey seed into its kind and raw 32-byte ed25519 seed.
// Errors never include the seed.
func DecodeSeed(seed []byte) (KeyKind, []byte, error) {
	body, err := decodeChecked(string(seed), seedLen)
	if err != nil {
		return 0, nil, fmt.Errorf("seed: %w", err)
	}
	if body[0]&0xf8 != seedPrefix {
		return 0, nil, fmt.Errorf("seed: %w: does not start with S", ErrInvalidKey)
	}
	kind := KeyKind((body[0]&7)<<5 | body[1]>>3)
	if !kind.Valid() || body[1]&7 != 0 {
		return 0, nil, fmt.Errorf("seed: %w: unknown key kind", ErrInvalidKey)
	}
	return kind, body[2:], nil
}

// KeyPair is an ed25519 key pair of a given kind. Its String, Format, GoString
// and LogValue methods all print the public key only, so a KeyPair can be
// logged or put in an error without leaking its seed.
type KeyPair struct {
	kind KeyKind
	priv ed25519.PrivateKey
}

// GenerateKeyPair creates a new random key pair of the given kind.
func GenerateKeyPair(kind KeyKind) (*KeyPair, error) {
	return GenerateKeyPairFrom(kind, rand.Reader)
}

// GenerateKeyPairFrom creates a new key pair of the given kind from 32 bytes of r.
func GenerateKeyPairFrom(kind KeyKind, r io.Reader) (*KeyPair, error) {
	var seed [ed25519.SeedSize]byte
	if _, err := io.ReadFull(r, seed[:]); err != nil {
		return nil, fmt.Errorf("generating %s key: %w", kind, err)
	}
	defer clear(seed[:])
	return NewKeyPairFromRawSeed(kind, seed[:])
}

// NewKeyPairFromRawSeed returns the key pair of the given kind for a raw
// 32-byte ed25519 seed.
func NewKeyPairFromRawSeed(kind KeyKind, seed []byte) (*KeyPair, error) {
	if !kind.Valid() {
		return nil, fmt.Errorf("%w: unsupported kind %s", ErrInvalidKey, kind)
	}
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("%w: seed is %d bytes, want %d", ErrInvalidKey, len(seed), ed25519.SeedSize)
	}
	return &KeyPair{kind: kind, priv: ed25519.NewKeyFromSeed(seed)}, nil
}

// ParseSeed parses an encoded nkey seed ("SA...", "SM...", ...) of any kind.
// Surrounding white space is ignored. Errors never include the seed.
func ParseSeed(seed []byte) (*KeyPair, error) {
	kind, raw, err := DecodeSeed([]byte(strings.TrimSpace(string(seed))))
	if err != nil {
		return nil, err
	}
	return NewKeyPairFromRawSeed(kind, raw)
}

// ParseSeedOf parses an encoded nkey seed that must be of the given kind.
func ParseSeedOf(kind KeyKind, seed []byte) (*KeyPair, error) {
	kp, err := ParseSeed(seed)
	if err != nil {
		return nil, err
	}
	if kp.kind != kind {
		return nil, fmt.Errorf("%w: seed is for %s, want %s", ErrWrongKeyKind, kp.kind.aKey("S"), kind.aKey("S"))
	}
	return kp, nil
}

// FromNKeys converts a github.com/nats-io/nkeys key pair that holds a seed.
func FromNKeys(kp nkeys.KeyPair) (*KeyPair, error) {
	seed, err := kp.Seed()
	if err != nil {
		return nil, fmt.Errorf("nkeys key pair has no seed: %w", err)
	}
	defer clear(seed)
	return ParseSeed(seed)
}

// NKeys returns the same key as a github.com/nats-io/nkeys key pair. Module
// and service keys are not supported by that package and return an error.
func (kp *KeyPair) NKeys() (nkeys.KeyPair, error) {
	seed := kp.priv.Seed()
	defer clear(seed)
	nk, err := nkeys.FromRawSeed(nkeys.PrefixByte(kp.kind), seed)
	if err != nil {
		return nil, fmt.Errorf("nkeys cannot hold a %s key: %w", kp.kind, err)
	}
	return nk, nil
}

// Kind returns the role of the key.
func (kp *KeyPair) Kind() KeyKind { return kp.kind }

// PublicKey returns the encoded public key ("A...", "M...", ...).
func (kp *KeyPair) PublicKey() string {
	s, err := EncodePublicKey(kp.kind, kp.priv.Public().(ed25519.PublicKey))
	if err != nil {
		// Unreachable: kind and key length are checked on construction.
		panic(err)
	}
	return s
}

// Seed returns the encoded seed. It is the secret: store it with care and
// clear the returned slice when done.
func (kp *KeyPair) Seed() []byte {
	raw := kp.priv.Seed()
	defer clear(raw)
	s, err := EncodeSeed(kp.kind, raw)
	if err != nil {
		panic(err) // unreachable, see PublicKey
	}
	return s
}

// Sign returns the ed25519 signature of msg.
func (kp *KeyPair) Sign(msg []byte) []byte { return ed25519.Sign(kp.priv, msg) }

// Verify checks an ed25519 signature of msg made by this key.
func (kp *KeyPair) Verify(msg, sig []byte) error {
	return VerifySignature(kp.PublicKey(), msg, sig)
}

// Wipe overwrites the private key in memory; the key pair is unusable afterwards.
func (kp *KeyPair) Wipe() { clear(kp.priv) }

// String returns the public key.
func (kp *KeyPair) String() string { return kp.PublicKey() }

// GoString returns the public key, so %#v does not print the seed.
func (kp *KeyPair) GoString() string { return "claims.KeyPair(" + kp.PublicKey() + ")" }

// Format prints the public key for every verb, so no fmt verb prints the seed.
func (kp *KeyPair) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = io.WriteString(f, kp.GoString())
		return
	}
	_, _ = io.WriteString(f, kp.PublicKey())
}

// LogValue logs the kind and public key only.
func (kp *KeyPair) LogValue() slog.Value {
	return slog.GroupValue(slog.String("kind", kp.kind.String()), slog.String("public_key", kp.PublicKey()))
}

// VerifySignature checks an ed25519 signature of msg made by the key whose
// encoded public key (of any kind) is given.
func VerifySignature(publicKey string, msg, sig []byte) error {
	_, pub, err := decodeAnyPublicKey(publicKey)
	if err != nil {
		return err
	}
	if len(sig) != ed25519.SignatureSize || !ed25519.Verify(pub, msg, sig) {
		return fmt.Errorf("%w: not made by %s", ErrBadSignature, publicKey)
	}
	return nil
}
