package host

import (
	"errors"
	"io/fs"

	"github.com/wisp-dev/wisp/host/claims"
	"github.com/wisp-dev/wisp/host/engine"
	"github.com/wisp-dev/wisp/host/pool"
	"github.com/wisp-dev/wisp/lattice"
)

// codes gives the sentinel errors of the host's parts their code on the
// wire, first match wins.
var codes = []struct {
	err  error
	code lattice.Code
}{
	{pool.ErrBusy, lattice.CodeBusy},
	{engine.ErrTimeout, lattice.CodeTimeout},
	{engine.ErrTrap, lattice.CodeTrap},
	{ErrPayloadTooLarge, lattice.CodePayloadTooLarge},
	{ErrRefused, lattice.CodeRefused},
	{ErrActorNotFound, lattice.CodeNotFound},
	{ErrProviderNotFound, lattice.CodeNotFound},
	{ErrNoLink, lattice.CodeNotFound},
	{fs.ErrNotExist, lattice.CodeNotFound},
	{pool.ErrClosed, lattice.CodeUnavailable},
	{ErrHostStopping, lattice.CodeUnavailable},
	{ErrLinksUnavailable, lattice.CodeUnavailable},
	{engine.ErrNotWasm, lattice.CodeBadRequest},
	{engine.ErrNotWaPC, lattice.CodeBadRequest},
	{claims.ErrNotWasm, lattice.CodeBadRequest},
}

// codeOf is the code of a failure the host reports: a guest's own error is
// CodeHandler, a sentinel of the engine, the pool or the host its code, an
// error that already has one (lattice.WithCode, a *lattice.RemoteError from
// another host) keeps it, and anything else is CodeInternal.
func codeOf(err error) lattice.Code {
	var ge *engine.GuestError
	if errors.As(err, &ge) {
		return lattice.CodeHandler
	}
	if c := lattice.CodeOf(err); c != "" {
		return c
	}
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return lattice.CodeInternal
}
