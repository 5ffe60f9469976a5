// Package auth decides who may do what on a lattice, the way NATS operators
// secure their systems: decentralised JWT authentication. A Store holds an
// operator, its system account and one account per lattice; users of a
// lattice get a Role, which is a fixed set of subject permissions the NATS
// server enforces. Lattices on one server are apart by account, not only by
// subject prefix.
//
// A server trusts the operator (ServerConfig); credentials are minted
// without restarting it (a user JWT signed by the lattice's account), and a
// revocation reaches running servers through the system account
// (PushAccount), which close the user's connections at once.
//
// Replies go to a per-user inbox prefix (lattice.InboxPrefix): a user may subscribe
// to its own only, so no one reads another's replies. Only hosts publish
// provider calls, so the Wisp-Source header a provider sees is true; only
// hosts subscribe to actor calls, so no one answers in an actor's place.
package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
)

// ServerConfig is what a NATS server needs to enforce a store's users:
// the operator it trusts, its system account and the accounts' JWTs.
type ServerConfig struct {
	Operator      *jwt.OperatorClaims
	SystemAccount string
	// Accounts maps account public keys to their JWTs.
	Accounts map[string]string
	// LatticeAccounts maps lattice ids to their account public keys.
	LatticeAccounts map[string]string
}

// ServerConfig returns the configuration of a server trusting the store,
// with every lattice's account (those of lattices, created first).
func (s *Store) ServerConfig(lattices ...string) (*ServerConfig, error) {
	for _, L := range lattices {
		if _, _, err := s.Account(L); err != nil {
			return nil, err
		}
	}
	tok, err := s.OperatorJWT()
	if err != nil {
		return nil, err
	}
	op, err := jwt.DecodeOperatorClaims(tok)
	if err != nil {
		return nil, fmt.Errorf("operator.jwt: %w", err)
	}
	sys, err := os.ReadFile(s.path("system", "account.jwt"))
	if err != nil {
		return nil, err
	}
	cfg := &ServerConfig{Operator: op, SystemAccount: op.SystemAccount,
		Accounts: map[string]string{op.SystemAccount: string(sys)}, LatticeAccounts: map[string]string{}}
	all, err := s.Lattices()
	if err != nil {
		return nil, err
	}
	for _, L := range all {
		a, err := s.readAccount(L)
		if err != nil {
			return nil, err
		}
		cfg.Accounts[a.Key] = a.JWT
		cfg.LatticeAccounts[L] = a.Key
	}
	return cfg, nil
}

// claimsUpdateSubject is where the system account asks servers to take an
// account JWT (NATS's own subject for it).
const claimsUpdateSubject = "$SYS.REQ.CLAIMS.UPDATE"

// PushAccount hands an account's JWT to the servers of the system-account
// connection sys (every server of a cluster that has the operator's
// resolver takes it). They apply it at once: new limits, and revoked users
// disconnected.
func PushAccount(ctx context.Context, sys *nats.Conn, a Account) error {
	msg, err := sys.RequestWithContext(ctx, claimsUpdateSubject, []byte(a.JWT))
	if err != nil {
		return fmt.Errorf("push account of lattice %s: %w", a.Lattice, err)
	}
	var r struct {
		Error *struct {
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(msg.Data, &r); err != nil {
		return fmt.Errorf("push account of lattice %s: bad answer %q", a.Lattice, msg.Data)
	}
	if r.Error != nil {
		return fmt.Errorf("push account of lattice %s: %s", a.Lattice, r.Error.Description)
	}
	return nil
}

// CredsUser reads the user name and role out of a .creds file.
func CredsUser(path string) (name string, role Role, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", "", err
	}
	tok, err := jwt.ParseDecoratedJWT(b)
	if err != nil {
		return "", "", fmt.Errorf("%s: %w", path, err)
	}
	uc, err := jwt.DecodeUserClaims(tok)
	if err != nil {
		return "", "", fmt.Errorf("%s: %w", path, err)
	}
	for _, t := range uc.Tags {
		if r, ok := strings.CutPrefix(t, "wisp-role:"); ok {
			role = Role(r)
		}
	}
	return uc.Name, role, nil
}

// IsPermissionError says whether err is the NATS server refusing a
// subject to this user.
func IsPermissionError(err error) bool {
	return err != nil && (errors.Is(err, nats.ErrPermissionViolation) ||
		strings.Contains(strings.ToLower(err.Error()), "permissions violation"))
}
