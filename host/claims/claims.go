// Package claims signs WebAssembly actor modules and verifies their
// signatures, in the format of wasmCloud's wascap: an Ed25519 JWT, issued by
// an account key for a module key, stored in a custom section of the module.
// Modules signed by wascap (wash) verify here and vice versa. See
// docs/claims.md for the format.
package claims

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/nats-io/nuid"
)

// Verification errors, for use with errors.Is. Errors returned by this
// package wrap them with details.
var (
	// ErrNoClaims reports a module without a claims section.
	ErrNoClaims = errors.New("module is not signed (no claims)")
	// ErrBadSignature reports a token whose signature is not its issuer's.
	ErrBadSignature = errors.New("bad claims signature")
	// ErrHashMismatch reports a module changed after it was signed.
	ErrHashMismatch = errors.New("module hash does not match its claims")
	// ErrExpired reports claims past their expiry time.
	ErrExpired = errors.New("claims have expired")
	// ErrNotYetValid reports claims before their not-before time.
	ErrNotYetValid = errors.New("claims are not yet valid")
	// ErrIssuerNotAllowed reports claims issued by an account not in the allow list.
	ErrIssuerNotAllowed = errors.New("claims issuer is not allowed")
)

// SignOptions are the claims to sign into a module. The module hash, issuer,
// subject and wascap revision are filled in by Sign.
type SignOptions struct {
	// Name is the actor's descriptive name. Required.
	Name string
	// Caps are the capability contract IDs the actor may use, e.g. CapMessaging.
	Caps []string
	// Tags are free-form tags.
	Tags []string
	// Rev is the optional revision number.
	Rev *int32
	// Ver is the optional human-friendly version, e.g. "1.2.0".
	Ver string
	// CallAlias is an optional alias; it is normalised as wascap does
	// (lower case, ASCII only, ' ', '-' and '.' replaced by '_').
	CallAlias string
	// Expires is when the claims expire; zero means never.
	Expires time.Time
	// NotBefore is when the claims become valid; zero means immediately.
	NotBefore time.Time
	// IssuedAt is the `iat` time; zero means now.
	IssuedAt time.Time
	// ID is the `jti`; empty means a new NUID, as wascap generates.
	ID string
	// Section is the custom section to write, SectionJWT (the default when
	// empty) or SectionWasmcloudJWT.
	Section string
}

// Sign returns a copy of module carrying claims issued by the account key
// issuer for the module key subject. Any existing claims section is
// replaced, and signing the same module again yields the same hash.
func Sign(module []byte, opts SignOptions, issuer, subject *KeyPair) ([]byte, error) {
	if issuer == nil || issuer.Kind() != KindAccount {
		return nil, fmt.Errorf("claims: sign: issuer: %w: want an account key (A...), got %s", ErrWrongKeyKind, describeKey(issuer))
	}
	if subject == nil || subject.Kind() != KindModule {
		return nil, fmt.Errorf("claims: sign: subject: %w: want a module key (M...), got %s", ErrWrongKeyKind, describeKey(subject))
	}
	if strings.TrimSpace(opts.Name) == "" {
		return nil, errors.New("claims: sign: a name is required")
	}
	section := opts.Section
	switch section {
	case "":
		section = SectionJWT
	case SectionJWT, SectionWasmcloudJWT:
	default:
		return nil, fmt.Errorf("claims: sign: section %q is neither %q nor %q", section, SectionJWT, SectionWasmcloudJWT)
	}
	sections, err := parseModule(module)
	if err != nil {
		return nil, fmt.Errorf("claims: sign: %w", err)
	}
	stripped := strip(module, sections)

	iat := opts.IssuedAt
	if iat.IsZero() {
		iat = time.Now()
	}
	id := opts.ID
	if id == "" {
		id = nuid.Next()
	}
	c := &Claims{
		ID:       id,
		IssuedAt: iat.Unix(),
		Issuer:   issuer.PublicKey(),
		Subject:  subject.PublicKey(),
		Wascap: &Actor{
			Name: opts.Name,
			Hash: hashHex(stripped),
			// wascap always writes tags and caps, [] when there are none.
			Tags:      append([]string{}, opts.Tags...),
			Caps:      append([]string{}, opts.Caps...),
			Ver:       opts.Ver,
			CallAlias: NormalizeCallAlias(opts.CallAlias),
		},
		Revision: WascapRevision,
	}
	if opts.Rev != nil {
		r := *opts.Rev
		c.Wascap.Rev = &r
	}
	if !opts.Expires.IsZero() {
		e := opts.Expires.Unix()
		c.Expires = &e
	}
	if !opts.NotBefore.IsZero() {
		n := opts.NotBefore.Unix()
		c.NotBefore = &n
	}
	jwt, err := encodeJWT(c, issuer)
	if err != nil {
		return nil, fmt.Errorf("claims: sign: %w", err)
	}
	return appendCustomSection(stripped, section, []byte(jwt)), nil
}

func describeKey(kp *KeyPair) string {
	if kp == nil {
		return "no key"
	}
	return fmt.Sprintf("%s: %s", kp.Kind().aKey(""), kp.PublicKey())
}

// NormalizeCallAlias is the call alias a signed module carries for a: the
// way wascap (and so wash) normalises it: trimmed, lower case, ASCII only,
// with ' ', '-' and '.' made '_' (hello-http becomes hello_http).
func NormalizeCallAlias(a string) string {
	a = strings.TrimSpace(strings.ToLower(a))
	a = strings.Map(func(r rune) rune {
		if r > unicode.MaxASCII {
			return -1
		}
		return r
	}, a)
	return strings.NewReplacer(" ", "_", "-", "_", ".", "_").Replace(a)
}

// Extract returns the token embedded in a module without verifying it. The
// first section named SectionJWT or SectionWasmcloudJWT is used. It returns
// an error wrapping ErrNoClaims for an unsigned module, ErrNotWasm or
// ErrComponent for input that is not a core module, and ErrMalformedToken
// for a section that does not hold a wascap JWT.
func Extract(module []byte) (*Token, error) {
	t, _, err := extract(module)
	return t, err
}

func extract(module []byte) (*Token, []section, error) {
	sections, err := parseModule(module)
	if err != nil {
		return nil, nil, fmt.Errorf("claims: %w", err)
	}
	var found []section
	for _, s := range sections {
		if s.isClaims() {
			found = append(found, s)
		}
	}
	switch len(found) {
	case 0:
		return nil, nil, fmt.Errorf("claims: %w", ErrNoClaims)
	case 1:
	default:
		// Tools disagree on which one counts; refuse rather than guess.
		names := make([]string, len(found))
		for i, s := range found {
			names[i] = s.name
		}
		return nil, nil, fmt.Errorf("claims: %w: the module carries %d claims sections (%s); re-sign it", ErrMultipleClaims, len(found), strings.Join(names, ", "))
	}
	t, err := ParseJWT(string(found[0].data))
	if err != nil {
		return nil, nil, fmt.Errorf("claims: section %q: %w", found[0].name, err)
	}
	t.Section = found[0].name
	return t, sections, nil
}

// VerifyOptions control Verify and Inspect.
type VerifyOptions struct {
	// Now is the time to check expiry and not-before against; zero means time.Now().
	Now time.Time
	// AllowedIssuers, when not empty, lists the account public keys (A...)
	// whose claims are accepted.
	AllowedIssuers []string
	// CheckLegacyHash also checks the hash of tokens older than wascap
	// revision 3, which wascap accepts unchecked. It rejects modules signed
	// by wascap 0.9 and 0.10 whose hash was computed differently (over the
	// module's original section size encodings).
	CheckLegacyHash bool
}

// Verify checks a module's claims and returns them if the module is
// acceptable: the token is well formed, issued by an account key (A...) for a
// module key (M...), signed by its issuer, the module hash matches (for
// wascap_revision 3 and later, as wascap does, unless
// VerifyOptions.CheckLegacyHash asks for more), the claims are neither
// expired nor not yet valid, and the issuer is allowed. Errors wrap the
// package's sentinel errors (ErrNoClaims, ErrBadSignature, ...).
func Verify(module []byte, opts VerifyOptions) (*Claims, error) {
	t, sections, err := extract(module)
	if err != nil {
		return nil, err
	}
	if err := check(module, sections, t, opts); err != nil {
		return nil, err
	}
	return &t.Claims, nil
}

func check(module []byte, sections []section, t *Token, opts VerifyOptions) error {
	c := &t.Claims
	who := fmt.Sprintf("claims: module %s (%q)", c.Subject, c.Name())
	if c.Wascap == nil {
		return fmt.Errorf("%s: %w: no wascap object", who, ErrMalformedToken)
	}
	if _, err := DecodePublicKey(KindAccount, c.Issuer); err != nil {
		return fmt.Errorf("%s: %w: issuer: %w", who, ErrMalformedToken, err)
	}
	if _, err := DecodePublicKey(KindModule, c.Subject); err != nil {
		return fmt.Errorf("%s: %w: subject: %w", who, ErrMalformedToken, err)
	}
	if err := t.CheckSignature(); err != nil {
		return fmt.Errorf("%s: %w", who, err)
	}
	if c.Revision >= MinHashRevision || opts.CheckLegacyHash {
		if got := strippedHash(module, sections); got != c.Wascap.Hash {
			return fmt.Errorf("%s: %w: module hashes to %s, claims say %s", who, ErrHashMismatch, got, c.Wascap.Hash)
		}
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	// Same comparisons as wascap, in whole seconds: valid through the
	// second of exp, and from the second of nbf.
	if c.Expires != nil && *c.Expires < now.Unix() {
		return fmt.Errorf("%s: %w at %s", who, ErrExpired, time.Unix(*c.Expires, 0).UTC().Format(time.RFC3339))
	}
	if c.NotBefore != nil && now.Unix() < *c.NotBefore {
		return fmt.Errorf("%s: %w until %s", who, ErrNotYetValid, time.Unix(*c.NotBefore, 0).UTC().Format(time.RFC3339))
	}
	if len(opts.AllowedIssuers) > 0 && !slices.Contains(opts.AllowedIssuers, c.Issuer) {
		return fmt.Errorf("%s: %w: %s", who, ErrIssuerNotAllowed, c.Issuer)
	}
	return nil
}

// Report summarises a signed module for display, e.g. by `wisp claims inspect`.
type Report struct {
	// Name is the actor's name.
	Name string `json:"name"`
	// Module is the module's public key (the JWT subject, M...).
	Module string `json:"module"`
	// Issuer is the signing account's public key (A...).
	Issuer string `json:"issuer"`
	// Caps are the capability contract IDs granted.
	Caps []string `json:"caps"`
	// Tags are the free-form tags.
	Tags []string `json:"tags"`
	// Hash is the module hash recorded in the claims.
	Hash string `json:"hash"`
	// ModuleHash is the hash of the module as it is now (see ModuleHash).
	ModuleHash string `json:"module_hash"`
	// Rev is the revision number, if any.
	Rev *int32 `json:"rev,omitempty"`
	// Ver is the version string, if any.
	Ver string `json:"ver,omitempty"`
	// CallAlias is the call alias, if any.
	CallAlias string `json:"call_alias,omitempty"`
	// IssuedAt is when the claims were issued.
	IssuedAt time.Time `json:"issued_at"`
	// Expires is when the claims expire; nil means never.
	Expires *time.Time `json:"expires,omitempty"`
	// NotBefore is when the claims become valid; nil means immediately.
	NotBefore *time.Time `json:"not_before,omitempty"`
	// ID is the token ID (jti).
	ID string `json:"jti"`
	// WascapRevision is the token's wascap_revision (0 when absent).
	WascapRevision int `json:"wascap_revision"`
	// HashChecked says whether Valid includes the hash check (revision 3
	// and later, or any revision with VerifyOptions.CheckLegacyHash).
	HashChecked bool `json:"hash_checked"`
	// Section is the custom section the token was read from.
	Section string `json:"section"`
	// Valid says whether Verify would accept the module with the same options.
	Valid bool `json:"valid"`
	// Reason says why the module is not valid; empty when it is.
	Reason string `json:"reason,omitempty"`
	// Err is the verification error, for errors.Is; nil when valid.
	Err error `json:"-"`
	// JWT is the raw token.
	JWT string `json:"jwt"`
}

// Inspect reads a module's claims and reports them together with the
// outcome of Verify. It returns an error only when there are no readable
// claims (ErrNoClaims, ErrNotWasm, ErrComponent, ErrMalformedToken).
func Inspect(module []byte, opts VerifyOptions) (*Report, error) {
	t, sections, err := extract(module)
	if err != nil {
		return nil, err
	}
	c := &t.Claims
	r := &Report{
		Name:           c.Name(),
		Module:         c.Subject,
		Issuer:         c.Issuer,
		IssuedAt:       time.Unix(c.IssuedAt, 0).UTC(),
		ID:             c.ID,
		WascapRevision: c.Revision,
		HashChecked:    c.Revision >= MinHashRevision || opts.CheckLegacyHash,
		Section:        t.Section,
		ModuleHash:     strippedHash(module, sections),
		JWT:            t.JWT,
		Caps:           []string{},
		Tags:           []string{},
	}
	if a := c.Wascap; a != nil {
		r.Caps = append(r.Caps, a.Caps...)
		r.Tags = append(r.Tags, a.Tags...)
		r.Hash, r.Rev, r.Ver, r.CallAlias = a.Hash, a.Rev, a.Ver, a.CallAlias
	}
	if e, ok := c.ExpiresAt(); ok {
		r.Expires = &e
	}
	if n, ok := c.NotBeforeAt(); ok {
		r.NotBefore = &n
	}
	r.Err = check(module, sections, t, opts)
	r.Valid = r.Err == nil
	if r.Err != nil {
		r.Reason = r.Err.Error()
	}
	return r, nil
}
