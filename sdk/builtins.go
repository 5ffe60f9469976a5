package sdk

import (
	"context"

	"github.com/wisp-dev/wisp/internal/msgpack"
	"github.com/wisp-dev/wisp/internal/wrap"
)

// The contracts every wisp host answers itself.
const (
	contractLogging   = "wasmcloud:builtin:logging"
	contractNumberGen = "wasmcloud:builtin:numbergen"
)

// Log writes text to the host's log at level ("debug", "info", "warn" or
// "error") through wasmCloud's logging contract. A signed actor needs the
// claim: wisp build --cap wasmcloud:builtin:logging.
func Log(ctx context.Context, level, text string) error {
	b := msgpack.AppendMapHeader(nil, 2)
	b = msgpack.AppendString(b, "level")
	b = msgpack.AppendString(b, level)
	b = msgpack.AppendString(b, "text")
	b = msgpack.AppendString(b, text)
	_, err := HostCall(ctx, "default", contractLogging, "Logging.WriteLog", b)
	return err
}

// GUID returns a random UUID from the host. A signed actor needs the claim
// wasmcloud:builtin:numbergen, as for RandomInRange.
func GUID(ctx context.Context) (string, error) {
	out, err := HostCall(ctx, "default", contractNumberGen, "NumberGen.GenerateGuid", nil)
	if err != nil {
		return "", err
	}
	s, _, err := msgpack.ReadString(out)
	if err != nil {
		return "", wrap.Error("NumberGen.GenerateGuid", err)
	}
	return s, nil
}

// RandomInRange returns a random number in [min, max] from the host.
func RandomInRange(ctx context.Context, min, max uint32) (uint32, error) {
	b := msgpack.AppendMapHeader(nil, 2)
	b = msgpack.AppendString(b, "min")
	b = msgpack.AppendUint(b, uint64(min))
	b = msgpack.AppendString(b, "max")
	b = msgpack.AppendUint(b, uint64(max))
	out, err := HostCall(ctx, "default", contractNumberGen, "NumberGen.RandomInRange", b)
	if err != nil {
		return 0, err
	}
	n, _, err := msgpack.ReadUint(out)
	if err != nil {
		return 0, wrap.Error("NumberGen.RandomInRange", err)
	}
	return uint32(n), nil
}

// CallActor calls operation on another actor, by its call alias or module
// key, wherever it runs on the lattice.
func CallActor(ctx context.Context, actor, operation string, payload []byte) ([]byte, error) {
	return HostCall(ctx, "", actor, operation, payload)
}
