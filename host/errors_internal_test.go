package host

import (
	"fmt"
	"testing"

	"github.com/wisp-dev/wisp/host/engine"
	"github.com/wisp-dev/wisp/host/pool"
	"github.com/wisp-dev/wisp/lattice"
)

// TestCodeOfMapsSentinelsNotMessages covers the failures a test cannot
// easily provoke over the lattice (a pool closing under a call, a host
// draining, the link store away) and the precedence of the table.
func TestCodeOfMapsSentinelsNotMessages(t *testing.T) {
	for err, want := range map[error]lattice.Code{
		fmt.Errorf("call: %w", pool.ErrClosed):                                                            lattice.CodeUnavailable,
		fmt.Errorf("start: %w", ErrHostStopping):                                                          lattice.CodeUnavailable,
		fmt.Errorf("%w: JetStream is not reachable yet", ErrLinksUnavailable):                             lattice.CodeUnavailable,
		fmt.Errorf("op: %w: no instance free after 5s", pool.ErrBusy):                                     lattice.CodeBusy,
		fmt.Errorf("op: %w after 2s", engine.ErrTimeout):                                                  lattice.CodeTimeout,
		&engine.GuestError{Message: "call timed out, says the guest"}:                                     lattice.CodeHandler,
		fmt.Errorf("stop x: %w", ErrActorNotFound):                                                        lattice.CodeNotFound,
		fmt.Errorf("call x: %w", &lattice.RemoteError{Code: lattice.CodeBusy}):                            lattice.CodeBusy,
		lattice.WithCode(lattice.CodeRefused, fmt.Errorf("link refused: %w", lattice.ErrActorNotRunning)): lattice.CodeRefused,
		fmt.Errorf("busy, timed out, trapped: words are not kinds"):                                       lattice.CodeInternal,
	} {
		if got := codeOf(err); got != want {
			t.Errorf("codeOf(%v) = %s, want %s", err, got, want)
		}
	}
}
