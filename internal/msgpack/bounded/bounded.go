// Package bounded decodes MessagePack that a peer sent (a guest's host
// call, an actor's payload to a provider, an actor's answer) with
// github.com/vmihailenco/msgpack, after checking that every length the
// input declares fits in the input. That library allocates a str or bin
// of the length its header declares before reading it: 8 bytes that
// declare a 2 GiB bin made it allocate 2 GiB (found by FuzzDispatch), which
// one call from any actor could do to a host or a provider.
package bounded

import (
	"errors"

	"github.com/vmihailenco/msgpack/v5"

	wire "github.com/wisp-dev/wisp/internal/msgpack"
)

// Check reports whether b starts with one whole MessagePack value whose
// declared lengths and element counts all fit in b (nested at most 256
// deep).
func Check(b []byte) error {
	if _, err := wire.Skip(b); err != nil {
		if errors.Is(err, wire.ErrShort) {
			return errors.New("msgpack: a length or count runs past the end of the input")
		}
		return err
	}
	return nil
}

// Unmarshal decodes b into v as msgpack.Unmarshal does, once Check holds.
func Unmarshal(b []byte, v any) error {
	if err := Check(b); err != nil {
		return err
	}
	return msgpack.Unmarshal(b, v)
}
