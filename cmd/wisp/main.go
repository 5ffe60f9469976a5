// Command wisp runs and drives a wisp lattice: `wisp up` starts a host (with
// an embedded NATS server), the other verbs build, start, call and inspect
// actors from anywhere on the lattice.
//
// Exit codes, for scripts:
//
//	0  success
//	1  failure not covered below
//	2  bad usage (unknown flag, missing argument)
//	3  not found: actor not running, host not found, no hosts answered,
//	   no host bid in an auction (none matches the constraints), no such
//	   link, module file on the host, application or version
//	4  no NATS server at the URL
//	5  timed out, here or on the far side (a call stopped at its timeout)
//	6  the actor or host answered with an error
//	7  the module's claims are invalid or missing (wisp claims inspect), or
//	   an application manifest is invalid (wisp app deploy|validate)
//	8  the registry failed: unreachable, refused the credentials, or
//	   served something that is not a valid actor artifact
//	9  NATS refused the credentials, or the user's role does not allow
//	   what was asked
//	130 a second Ctrl-C (or SIGTERM) quit at once, without draining
//
// The first Ctrl-C or SIGTERM asks the command to stop cleanly: `wisp up`
// drains (calls in flight finish, instances close), a listing or a call
// gives up. A second one quits at once, as Caddy does.
//
// A failure of the lattice carries a code (lattice.Code, the
// Wisp-Error-Code header); the exit code follows from it: not_found is 3,
// timeout 5, every other code 6, whichever path the command took.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/app"
	"github.com/wisp-dev/wisp/lattice/auth"
	"github.com/wisp-dev/wisp/oci"
)

// Exit codes.
const (
	exitOK       = 0
	exitFailure  = 1
	exitUsage    = 2
	exitNotFound = 3
	exitNoServer = 4
	exitTimeout  = 5
	exitRemote   = 6
	exitInvalid  = 7
	exitRegistry = 8
	exitAuth     = 9
)

// usageError marks errors in how the command was called.
type usageError struct{ error }

// invalidError marks a verdict that a module's claims are invalid or
// missing. It is not exitRemote: no actor or host was asked.
type invalidError struct{ error }

// exitForced is the exit code of a second interrupt: 128 + SIGINT, as
// shells report a process an interrupt killed.
const exitForced = 130

func main() {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	ctx, stop := trapSignals(context.Background(), sigs, os.Stderr, os.Exit)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes the command tree with args and the given streams, prints
// a failure on stderr, and returns the exit code. Tests call it in
// process.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := newRootCmd()
	cmd.SetArgs(args)
	cmd.SetIn(stdin)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	err := cmd.ExecuteContext(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "wisp:", err)
	}
	return exitCode(err)
}

// trapSignals returns a context that the first signal from sigs cancels,
// so the command stops cleanly (wisp up drains); a second signal says so
// on stderr and calls exit(exitForced) at once, whatever the drain is
// waiting for. The returned stop ends the watch (and cancels the context).
func trapSignals(parent context.Context, sigs <-chan os.Signal, stderr io.Writer, exit func(int)) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	done := make(chan struct{})
	go func() {
		// stopped says whether the command ended: a signal that arrives
		// with the end, or after it, quits nothing.
		stopped := func() bool {
			select {
			case <-done:
				return true
			default:
				return false
			}
		}
		select {
		case sig := <-sigs:
			if stopped() {
				return
			}
			fmt.Fprintf(stderr, "\nwisp: %v: stopping cleanly; press Ctrl-C again to quit at once\n", sig)
			cancel()
		case <-done:
			return
		}
		select {
		case sig := <-sigs:
			if stopped() {
				return
			}
			fmt.Fprintf(stderr, "wisp: %v again: quitting at once, without draining\n", sig)
			exit(exitForced)
		case <-done:
		}
	}()
	var once sync.Once
	return ctx, func() {
		once.Do(func() { close(done) })
		cancel()
	}
}

func exitCode(err error) int {
	var re *lattice.RemoteError
	var ue usageError
	var ie invalidError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		return exitUsage
	case errors.As(err, &ie):
		return exitInvalid
	case errors.Is(err, oci.ErrLatest):
		return exitUsage
	case errors.Is(err, oci.ErrNotFound):
		return exitNotFound
	case errors.Is(err, oci.ErrUnreachable), errors.Is(err, oci.ErrUnauthorized), errors.Is(err, oci.ErrInsecure),
		errors.Is(err, oci.ErrNotActor), errors.Is(err, oci.ErrTooLarge), errors.Is(err, oci.ErrDigest),
		errors.Is(err, oci.ErrInterrupted):
		return exitRegistry
	case errors.Is(err, lattice.ErrNoServer):
		return exitNoServer
	case errors.Is(err, lattice.ErrNotAuthorized):
		return exitAuth
	case errors.Is(err, lattice.ErrBadConstraint):
		return exitUsage
	case errors.Is(err, errProviderNotRunning), errors.Is(err, app.ErrNotFound), errors.Is(err, auth.ErrNoUser):
		return exitNotFound
	}
	switch lattice.CodeOf(err) {
	case "":
	case lattice.CodeNotFound:
		return exitNotFound
	case lattice.CodeTimeout:
		return exitTimeout
	default:
		return exitRemote
	}
	if errors.As(err, &re) {
		return exitRemote // an answer without a code
	}
	return exitFailure
}
