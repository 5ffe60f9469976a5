package lattice_test

import (
	"errors"
	"fmt"

	"github.com/wisp-dev/wisp/lattice"
)

// A failed call comes back as a *RemoteError with the message and the code
// of the reply's Wisp-Error and Wisp-Error-Code headers; errors.Is tests
// the code.
func ExampleRemoteError() {
	// What Client.Call returns when every instance of echo is busy.
	err := fmt.Errorf("call echo Echo.Reply: %w", &lattice.RemoteError{
		Code:    lattice.CodeBusy,
		Message: "actor busy: all instances in use and the queue is full",
	})
	fmt.Println(errors.Is(err, lattice.ErrBusy), errors.Is(err, lattice.ErrTrap))
	fmt.Println(lattice.CodeOf(err))
	fmt.Println(err)
	// Output:
	// true false
	// busy
	// call echo Echo.Reply: actor busy: all instances in use and the queue is full
}
