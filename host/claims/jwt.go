package claims

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// WascapRevision is the wascap_revision wisp writes. Hashes are checked for
// tokens of revision MinHashRevision and later, as wascap does.
const (
	WascapRevision  = 3
	MinHashRevision = 3
)

// Header values of every wascap JWT.
const (
	HeaderType      = "jwt"
	HeaderAlgorithm = "Ed25519"
)

// ErrMalformedToken reports a claims section that is not a well-formed wascap JWT.
var ErrMalformedToken = errors.New("malformed claims token")

// ErrMultipleClaims reports a module with more than one claims section.
var ErrMultipleClaims = errors.New("more than one claims section")

// b64 is the JWT segment encoding: URL-safe alphabet, no padding, and
// (like wascap's decoder) no stray bits in the last character.
var b64 = base64.RawURLEncoding.Strict()

// headerSegment is the encoded header wascap writes, {"typ":"jwt","alg":"Ed25519"}.
var headerSegment = b64.EncodeToString([]byte(`{"typ":"` + HeaderType + `","alg":"` + HeaderAlgorithm + `"}`))

// Header is the JOSE header of a wascap JWT.
type Header struct {
	// Type is `typ`, "jwt" for wascap tokens.
	Type string `json:"typ"`
	// Algorithm is `alg`, "Ed25519" for wascap tokens.
	Algorithm string `json:"alg"`
}

// Claims is the payload of a wascap JWT for an actor. It marshals to and
// from JSON exactly as wascap does (see MarshalJSON).
type Claims struct {
	// Expires is the `exp` claim in Unix seconds; nil means never.
	Expires *int64
	// ID is the `jti` claim, a NUID.
	ID string
	// IssuedAt is the `iat` claim in Unix seconds.
	IssuedAt int64
	// Issuer is the `iss` claim, the public key of the signing account (A...).
	Issuer string
	// Subject is the `sub` claim, the public key of the module (M...).
	Subject string
	// NotBefore is the `nbf` claim in Unix seconds; nil means immediately.
	NotBefore *int64
	// Wascap is the `wascap` object describing the actor.
	Wascap *Actor
	// Revision is `wascap_revision`; 0 when absent (tokens from wascap before 0.9).
	Revision int
}

// Actor is the `wascap` object of an actor's claims.
type Actor struct {
	// Name is a descriptive name (`name`); empty means absent.
	Name string
	// Hash is the module hash (`hash`), see ModuleHash.
	Hash string
	// Tags are free-form tags (`tags`); nil means absent, as opposed to [].
	Tags []string
	// Caps are the capability contract IDs the actor may use (`caps`); nil means absent.
	Caps []string
	// Rev is the revision number (`rev`); nil means absent.
	Rev *int32
	// Ver is a human-friendly version (`ver`); empty means absent.
	Ver string
	// CallAlias is an alias for invocations (`call_alias`); empty means absent.
	CallAlias string
	// Provider is `prov`, whether the module is a capability provider.
	Provider bool
}

// HasCap reports whether the claims grant the capability contract (for
// example "wasmcloud:messaging").
func (c *Claims) HasCap(contract string) bool {
	return c != nil && c.Wascap != nil && slices.Contains(c.Wascap.Caps, contract)
}

// ExpiresAt returns the expiry time and whether there is one.
func (c *Claims) ExpiresAt() (time.Time, bool) { return unixPtr(c.Expires) }

// NotBeforeAt returns the time the claims become valid and whether there is one.
func (c *Claims) NotBeforeAt() (time.Time, bool) { return unixPtr(c.NotBefore) }

func unixPtr(p *int64) (time.Time, bool) {
	if p == nil {
		return time.Time{}, false
	}
	return time.Unix(*p, 0).UTC(), true
}

// Name returns the actor's name, or "Anonymous" like wascap when it has none.
func (c *Claims) Name() string {
	if c == nil || c.Wascap == nil || c.Wascap.Name == "" {
		return "Anonymous"
	}
	return c.Wascap.Name
}

// MarshalJSON encodes the claims byte for byte as wascap (serde_json)
// would: fields in wascap's order, absent optional fields omitted, no
// white space, and only `"`, `\` and control characters escaped. Note that
// json.Marshal re-escapes <, > and & in the result; Sign does not.
func (c Claims) MarshalJSON() ([]byte, error) { return c.appendJSON(nil) }

func (c *Claims) appendJSON(b []byte) ([]byte, error) {
	for _, s := range []string{c.ID, c.Issuer, c.Subject} {
		if !utf8.ValidString(s) {
			return nil, errors.New("claims: string field is not valid UTF-8")
		}
	}
	for _, t := range []*int64{c.Expires, &c.IssuedAt, c.NotBefore} {
		if t != nil && *t < 0 {
			return nil, errors.New("claims: times before 1970 cannot be encoded")
		}
	}
	b = append(b, '{')
	if c.Expires != nil {
		b = append(b, `"exp":`...)
		b = strconv.AppendInt(b, *c.Expires, 10)
		b = append(b, ',')
	}
	b = append(b, `"jti":`...)
	b = appendJSONString(b, c.ID)
	b = append(b, `,"iat":`...)
	b = strconv.AppendInt(b, c.IssuedAt, 10)
	b = append(b, `,"iss":`...)
	b = appendJSONString(b, c.Issuer)
	b = append(b, `,"sub":`...)
	b = appendJSONString(b, c.Subject)
	if c.NotBefore != nil {
		b = append(b, `,"nbf":`...)
		b = strconv.AppendInt(b, *c.NotBefore, 10)
	}
	if c.Wascap != nil {
		b = append(b, `,"wascap":`...)
		var err error
		if b, err = c.Wascap.appendJSON(b); err != nil {
			return nil, err
		}
	}
	if c.Revision != 0 {
		b = append(b, `,"wascap_revision":`...)
		b = strconv.AppendInt(b, int64(c.Revision), 10)
	}
	return append(b, '}'), nil
}

// MarshalJSON encodes the object as wascap would; see Claims.MarshalJSON.
func (a Actor) MarshalJSON() ([]byte, error) { return a.appendJSON(nil) }

func (a *Actor) appendJSON(b []byte) ([]byte, error) {
	strs := append([]string{a.Name, a.Hash, a.Ver, a.CallAlias}, a.Tags...)
	for _, s := range append(strs, a.Caps...) {
		if !utf8.ValidString(s) {
			return nil, errors.New("claims: string field is not valid UTF-8")
		}
	}
	b = append(b, '{')
	if a.Name != "" {
		b = append(b, `"name":`...)
		b = appendJSONString(b, a.Name)
		b = append(b, ',')
	}
	b = append(b, `"hash":`...)
	b = appendJSONString(b, a.Hash)
	if a.Tags != nil {
		b = append(b, `,"tags":`...)
		b = appendJSONStrings(b, a.Tags)
	}
	if a.Caps != nil {
		b = append(b, `,"caps":`...)
		b = appendJSONStrings(b, a.Caps)
	}
	if a.Rev != nil {
		b = append(b, `,"rev":`...)
		b = strconv.AppendInt(b, int64(*a.Rev), 10)
	}
	if a.Ver != "" {
		b = append(b, `,"ver":`...)
		b = appendJSONString(b, a.Ver)
	}
	if a.CallAlias != "" {
		b = append(b, `,"call_alias":`...)
		b = appendJSONString(b, a.CallAlias)
	}
	b = append(b, `,"prov":`...)
	b = strconv.AppendBool(b, a.Provider)
	return append(b, '}'), nil
}

func appendJSONStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s)
	}
	return append(b, ']')
}

// appendJSONString quotes s the way serde_json does.
func appendJSONString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			b = append(b, '\\', '"')
		case c == '\\':
			b = append(b, '\\', '\\')
		case c == '\b':
			b = append(b, '\\', 'b')
		case c == '\f':
			b = append(b, '\\', 'f')
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// UnmarshalJSON decodes claims as wascap does: field names are matched
// exactly (case-sensitively), unknown fields are ignored, `jti`, `iat`,
// `iss` and `sub` are required, and numbers must be non-negative integers.
func (c *Claims) UnmarshalJSON(data []byte) error {
	m, err := jsonObject(data)
	if err != nil {
		return err
	}
	var out Claims
	if out.Expires, err = optUnix(m, "exp"); err != nil {
		return err
	}
	if out.NotBefore, err = optUnix(m, "nbf"); err != nil {
		return err
	}
	if err := reqString(m, "jti", &out.ID); err != nil {
		return err
	}
	iat, err := optUnix(m, "iat")
	if err != nil {
		return err
	}
	if iat == nil {
		return errors.New(`missing field "iat"`)
	}
	out.IssuedAt = *iat
	if err := reqString(m, "iss", &out.Issuer); err != nil {
		return err
	}
	if err := reqString(m, "sub", &out.Subject); err != nil {
		return err
	}
	if raw, ok := m["wascap"]; ok && !isNull(raw) {
		out.Wascap = new(Actor)
		if err := out.Wascap.UnmarshalJSON(raw); err != nil {
			return fmt.Errorf("wascap: %w", err)
		}
	}
	if raw, ok := m["wascap_revision"]; ok && !isNull(raw) {
		var r uint32
		if err := json.Unmarshal(raw, &r); err != nil {
			return fmt.Errorf("wascap_revision: %w", err)
		}
		out.Revision = int(r)
	}
	*c = out
	return nil
}

// UnmarshalJSON decodes the `wascap` object as wascap does; `hash` is required.
func (a *Actor) UnmarshalJSON(data []byte) error {
	m, err := jsonObject(data)
	if err != nil {
		return err
	}
	var out Actor
	if err := reqString(m, "hash", &out.Hash); err != nil {
		return err
	}
	for key, dst := range map[string]*string{"name": &out.Name, "ver": &out.Ver, "call_alias": &out.CallAlias} {
		if raw, ok := m[key]; ok && !isNull(raw) {
			if err := decodeString(raw, dst); err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
		}
	}
	for key, dst := range map[string]*[]string{"tags": &out.Tags, "caps": &out.Caps} {
		if raw, ok := m[key]; ok && !isNull(raw) {
			var items []json.RawMessage
			if err := json.Unmarshal(raw, &items); err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
			list := make([]string, len(items))
			for i, it := range items {
				if err := decodeString(it, &list[i]); err != nil {
					return fmt.Errorf("%s[%d]: %w", key, i, err)
				}
			}
			*dst = list
		}
	}
	if raw, ok := m["rev"]; ok && !isNull(raw) {
		out.Rev = new(int32)
		if err := json.Unmarshal(raw, out.Rev); err != nil {
			return fmt.Errorf("rev: %w", err)
		}
	}
	if raw, ok := m["prov"]; ok {
		if isNull(raw) {
			return errors.New("prov: null is not a boolean")
		}
		if err := json.Unmarshal(raw, &out.Provider); err != nil {
			return fmt.Errorf("prov: %w", err)
		}
	}
	*a = out
	return nil
}

func jsonObject(data []byte) (map[string]json.RawMessage, error) {
	if !bytes.HasPrefix(bytes.TrimSpace(data), []byte("{")) {
		return nil, errors.New("not a JSON object")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	return m, nil
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

func decodeString(raw json.RawMessage, dst *string) error {
	if isNull(raw) || !bytes.HasPrefix(bytes.TrimSpace(raw), []byte(`"`)) {
		return errors.New("not a string")
	}
	return json.Unmarshal(raw, dst)
}

func reqString(m map[string]json.RawMessage, key string, dst *string) error {
	raw, ok := m[key]
	if !ok {
		return fmt.Errorf("missing field %q", key)
	}
	if err := decodeString(raw, dst); err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	return nil
}

func optUnix(m map[string]json.RawMessage, key string) (*int64, error) {
	raw, ok := m[key]
	if !ok || isNull(raw) {
		return nil, nil
	}
	var u uint64
	if err := json.Unmarshal(raw, &u); err != nil {
		return nil, fmt.Errorf("%s: want a non-negative integer: %w", key, err)
	}
	if u > math.MaxInt64 {
		u = math.MaxInt64 // effectively "never"; a u64 in wascap
	}
	v := int64(u)
	return &v, nil
}

// Token is a wascap JWT as found in a module: the raw text, its decoded
// header and claims, and the section it came from.
type Token struct {
	// JWT is the compact token: header.claims.signature.
	JWT string `json:"jwt"`
	// Section is the custom section the token was read from (empty for ParseJWT).
	Section string `json:"section,omitempty"`
	// Header is the decoded JOSE header.
	Header Header `json:"header"`
	// Claims are the decoded claims.
	Claims Claims `json:"claims"`
}

// ParseJWT decodes a compact wascap JWT without checking its signature.
func ParseJWT(jwt string) (*Token, error) {
	segs := strings.Split(jwt, ".")
	if len(segs) != 3 {
		return nil, fmt.Errorf("%w: %d segments, want 3", ErrMalformedToken, len(segs))
	}
	t := &Token{JWT: jwt}
	hdr, err := b64.DecodeString(segs[0])
	if err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrMalformedToken, err)
	}
	if err := json.Unmarshal(hdr, &t.Header); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrMalformedToken, err)
	}
	payload, err := b64.DecodeString(segs[1])
	if err != nil {
		return nil, fmt.Errorf("%w: claims: %v", ErrMalformedToken, err)
	}
	if err := t.Claims.UnmarshalJSON(payload); err != nil {
		return nil, fmt.Errorf("%w: claims: %v", ErrMalformedToken, err)
	}
	return t, nil
}

// CheckSignature checks the header and that the token is signed by its
// issuer. It does not check the issuer's kind, times or the module hash.
func (t *Token) CheckSignature() error {
	if t.Header.Algorithm != HeaderAlgorithm {
		return fmt.Errorf("%w: algorithm %q, want %q", ErrMalformedToken, t.Header.Algorithm, HeaderAlgorithm)
	}
	if t.Header.Type != HeaderType {
		return fmt.Errorf("%w: type %q, want %q", ErrMalformedToken, t.Header.Type, HeaderType)
	}
	i := strings.LastIndexByte(t.JWT, '.')
	if i < 0 {
		return fmt.Errorf("%w: no signature", ErrMalformedToken)
	}
	sig, err := b64.DecodeString(t.JWT[i+1:])
	if err != nil {
		return fmt.Errorf("%w: signature is not base64url: %v", ErrBadSignature, err)
	}
	if err := VerifySignature(t.Claims.Issuer, []byte(t.JWT[:i]), sig); err != nil {
		if errors.Is(err, ErrBadSignature) {
			return err
		}
		return fmt.Errorf("%w: issuer: %w", ErrMalformedToken, err)
	}
	return nil
}

// encodeJWT signs the claims with the issuer key and returns the compact JWT.
func encodeJWT(c *Claims, issuer *KeyPair) (string, error) {
	payload, err := c.appendJSON(nil)
	if err != nil {
		return "", err
	}
	signed := headerSegment + "." + b64.EncodeToString(payload)
	return signed + "." + b64.EncodeToString(issuer.Sign([]byte(signed))), nil
}
