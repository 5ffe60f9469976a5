package host

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/wisp-dev/wisp/host/claims"
	"github.com/wisp-dev/wisp/lattice"
)

// Policy decides which actors a host runs. The zero value runs any actor
// with valid claims and refuses unsigned ones.
type Policy struct {
	// AllowedIssuers, when set, lists the only accounts (A…) whose actors
	// may start.
	AllowedIssuers []string
	// AllowUnsigned lets modules without claims start, for development.
	// Such actors may use every contract.
	AllowUnsigned bool
}

// WithPolicy sets the host's policy.
func WithPolicy(p Policy) Option { return func(o *options) { o.policy = p } }

// ErrRefused reports a module the host's policy does not let start.
var ErrRefused = errors.New("refused by the host's policy")

// identity is who an actor is, from its claims or, unsigned, its name.
type identity struct {
	name   string // the call alias it is known by on the host
	key    string // module key (M…); empty when unsigned
	claims *claims.Claims
	sum    [sha256.Size]byte // the module's SHA-256
}

// admit checks wasm against the policy and returns the actor's identity,
// with the module's SHA-256, its name in caches and versions. want is the
// name the start request asked for, if any.
func (h *Host) admit(wasm []byte, ref, want string, wantIsHint bool) (identity, error) {
	// The sum is taken on another core while the claims are checked,
	// which hash the module too: one core's time for both, not two.
	var sum [sha256.Size]byte
	hashed := make(chan struct{})
	go func() {
		sum = sha256.Sum256(wasm)
		close(hashed)
	}()
	id, err := h.checkClaims(wasm, ref, want, wantIsHint)
	<-hashed
	id.sum = sum
	return id, err
}

// checkClaims checks wasm's claims against the policy and returns the
// actor's identity, without its sum.
func (h *Host) checkClaims(wasm []byte, ref, want string, wantIsHint bool) (identity, error) {
	c, err := claims.Verify(wasm, claims.VerifyOptions{Now: time.Now(), AllowedIssuers: h.opts.policy.AllowedIssuers})
	switch {
	case errors.Is(err, claims.ErrNoClaims):
		if !h.opts.policy.AllowUnsigned {
			return identity{}, fmt.Errorf("%w: %w: sign it with `wisp claims sign` (`wisp build` signs by default), or start the host with --allow-unsigned for development", ErrRefused, err)
		}
		name := want
		if name == "" {
			name = baseName(ref)
		}
		if err := lattice.ValidateAlias("actor name", name); err != nil {
			return identity{}, fmt.Errorf("%w (choose one with --name)", err)
		}
		return identity{name: name}, nil
	case errors.Is(err, claims.ErrNotWasm):
		return identity{}, err
	case err != nil:
		return identity{}, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	id := identity{name: c.Subject, key: c.Subject, claims: c}
	if c.Wascap != nil && c.Wascap.CallAlias != "" {
		id.name = c.Wascap.CallAlias
	}
	if want != "" && want != id.name && want != id.key {
		if c.Wascap != nil && c.Wascap.CallAlias != "" {
			if wantIsHint {
				// An application's component name: wadm lets it
				// differ from the actor's own alias, which stays.
				return id, lattice.ValidateAlias("actor call alias", id.name)
			}
			return identity{}, fmt.Errorf("--name %q: the module's claims set its call alias to %q", want, c.Wascap.CallAlias)
		}
		id.name = want
	}
	if err := lattice.ValidateAlias("actor call alias", id.name); err != nil {
		return identity{}, err
	}
	return id, nil
}

// mayUse reports whether the actor may call contract: signed actors only
// the contracts their claims list, unsigned ones (development) all.
func (id identity) mayUse(contract string) bool {
	if id.claims == nil {
		return true
	}
	return id.claims.HasCap(contract)
}

// caps lists the contracts the claims grant.
func (id identity) caps() []string {
	if id.claims == nil || id.claims.Wascap == nil {
		return nil
	}
	return slices.Clone(id.claims.Wascap.Caps)
}

// baseName names an unsigned actor after where it came from: the file name
// without .wasm, or an OCI reference's last path element without its tag
// or digest.
func baseName(ref string) string {
	name := ref[strings.LastIndex(ref, "/")+1:]
	name, _, _ = strings.Cut(name, "@")
	name, _, _ = strings.Cut(name, ":")
	return strings.TrimSuffix(name, ".wasm")
}
