package auth

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/nats-io/jwt/v2"

	"github.com/wisp-dev/wisp/lattice"
)

// The server announces every closed client connection of an account on
// the system account's $SYS.ACCOUNT.<account>.DISCONNECT. The store's
// system account exports that stream, each account only its own (the
// account's key is the subject's third token, as nsc's
// account-monitoring-streams export does), and each lattice account
// imports its own under lattice.DisconnectSubject: a host killed with -9
// is then known to be gone at once, without anyone pinging it.
const (
	disconnectExport = "wisp-client-disconnects"
	sysDisconnects   = "$SYS.ACCOUNT.*.DISCONNECT"
)

func systemExports(ac *jwt.AccountClaims) bool {
	for _, e := range ac.Exports {
		if e.Name == disconnectExport {
			return false
		}
	}
	ac.Exports.Add(&jwt.Export{Name: disconnectExport, Subject: sysDisconnects, Type: jwt.Stream, AccountTokenPosition: 3})
	return true
}

// latticeImports adds the lattice's import of its disconnect events to
// ac; it reports whether ac changed.
func latticeImports(ac *jwt.AccountClaims, L, sysKey string) bool {
	local := jwt.RenamingSubject(lattice.DisconnectSubject(L))
	for _, i := range ac.Imports {
		if i.Name == disconnectExport && i.Account == sysKey && i.LocalSubject == local {
			return false
		}
	}
	ac.Imports.Add(&jwt.Import{Name: disconnectExport, Account: sysKey, Type: jwt.Stream,
		Subject: jwt.Subject("$SYS.ACCOUNT." + ac.Subject + ".DISCONNECT"), LocalSubject: local})
	return true
}

// upgrade re-signs the system account and the lattices' accounts of a
// store made before they exported and imported disconnect events. The
// caller holds the store's lock.
func (s *Store) upgrade() error {
	op, err := s.seed("operator.nk")
	if err != nil {
		return err
	}
	b, err := os.ReadFile(s.path("system", "account.jwt"))
	if err != nil {
		return err
	}
	sys, err := jwt.DecodeAccountClaims(string(b))
	if err != nil {
		return fmt.Errorf("system account.jwt: %w", err)
	}
	if systemExports(sys) {
		tok, err := sys.Encode(op)
		if err != nil {
			return fmt.Errorf("sign system account: %w", err)
		}
		if err := writePrivate(s.path("system", "account.jwt"), []byte(tok)); err != nil {
			return err
		}
	}
	all, err := s.Lattices()
	if err != nil {
		return err
	}
	for _, L := range all {
		b, err := os.ReadFile(s.path("lattices", L, "account.jwt"))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		ac, err := jwt.DecodeAccountClaims(string(b))
		if err != nil {
			return fmt.Errorf("account.jwt of %s: %w", L, err)
		}
		if !latticeImports(ac, L, sys.Subject) {
			continue
		}
		tok, err := ac.Encode(op)
		if err != nil {
			return fmt.Errorf("sign account of %s: %w", L, err)
		}
		if err := writePrivate(s.path("lattices", L, "account.jwt"), []byte(tok)); err != nil {
			return err
		}
	}
	return nil
}
