package provider

import (
	"fmt"

	"github.com/wisp-dev/wisp/internal/msgpack/bounded"
)

// DecodePayload decodes an actor's MessagePack payload into v, as
// github.com/vmihailenco/msgpack's Unmarshal does, after checking that every
// length and count the payload declares fits in it: that library allocates
// what a header declares before reading it, so 8 bytes could make a
// provider allocate 2 GiB. A payload that does not decode is ErrBadPayload.
func DecodePayload(payload []byte, v any) error {
	if err := bounded.Unmarshal(payload, v); err != nil {
		return fmt.Errorf("%w: %v", ErrBadPayload, err)
	}
	return nil
}
