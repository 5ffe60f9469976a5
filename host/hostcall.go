package host

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/big"

	"github.com/nats-io/nats.go"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/wisp-dev/wisp/host/engine"
	"github.com/wisp-dev/wisp/internal/msgpack/bounded"
	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/chunked"
	"github.com/wisp-dev/wisp/lattice/trace"
)

// Contracts the host answers itself, as wasmCloud hosts do.
const (
	ContractLogging   = "wasmcloud:builtin:logging"
	ContractNumberGen = "wasmcloud:builtin:numbergen"
)

// Router answers the host calls the host does not answer itself: calls to
// capability providers over links. actor is the calling actor's name.
type Router interface {
	Route(ctx context.Context, actor string, call engine.HostCall) ([]byte, error)
}

// ErrNoLink reports a host call for which no link exists.
var ErrNoLink = errors.New("no link")

// hostCallFor routes the host calls of actor a: builtins, then
// actor-to-actor calls (binding ""), then the Router.
func (h *Host) hostCallFor(a *Actor) engine.HostCallFunc {
	return h.observeHostCall(a, func(ctx context.Context, call engine.HostCall) ([]byte, error) {
		switch call.Namespace {
		case ContractLogging, ContractNumberGen:
			// Builtins too need the claim, as in wasmCloud (wash claims
			// sign --logging); unsigned actors may use everything.
			if !a.id.mayUse(call.Namespace) {
				return nil, lattice.WithCode(lattice.CodeRefused, fmt.Errorf("actor %s may not use %s: its claims do not list it (sign it with --cap %s)", a.name, call.Namespace, call.Namespace))
			}
			if call.Namespace == ContractLogging {
				return nil, a.writeLog(ctx, call)
			}
			return numberGen(call)
		}
		if call.Binding == "" {
			return h.callActor(ctx, call)
		}
		if !a.id.mayUse(call.Namespace) {
			return nil, lattice.WithCode(lattice.CodeRefused, fmt.Errorf("actor %s may not use %s: its claims do not list it (sign it with --cap %s)", a.name, call.Namespace, call.Namespace))
		}
		if h.opts.router != nil {
			return h.opts.router.Route(ctx, a.name, call)
		}
		return nil, fmt.Errorf("%w for %s on %s (link name %q)", ErrNoLink, call.Operation, call.Namespace, call.Binding)
	})
}

// callActor runs an actor-to-actor call: in process when the target runs
// on this host, over the lattice otherwise.
func (h *Host) callActor(ctx context.Context, call engine.HostCall) ([]byte, error) {
	if target, ok := h.Actor(call.Namespace); ok {
		return target.Invoke(ctx, call.Operation, call.Payload)
	}
	if err := lattice.ValidateAlias("actor", call.Namespace); err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.opts.limits.CallTimeout())
		defer cancel()
	}
	msg := &nats.Msg{
		Subject: lattice.RPCSubject(h.opts.lattice, call.Namespace),
		Data:    call.Payload,
		Header:  nats.Header{lattice.HeaderOperation: []string{call.Operation}},
	}
	trace.Inject(ctx, msg.Header)
	reply, err := chunked.Request(ctx, h.nc, msg, chunked.Options{})
	if errors.Is(err, nats.ErrNoResponders) {
		return nil, fmt.Errorf("call %s: %w", call.Namespace, lattice.ErrActorNotRunning)
	}
	if err != nil {
		return nil, fmt.Errorf("call %s: %w", call.Namespace, err)
	}
	if err := lattice.ReplyError(reply); err != nil {
		return nil, err
	}
	return reply.Data, nil
}

// logEntry is wasmCloud's Logging.WriteLog argument.
type logEntry struct {
	Level string `msgpack:"level"`
	Text  string `msgpack:"text"`
}

func (a *Actor) writeLog(ctx context.Context, call engine.HostCall) error {
	if call.Operation != "Logging.WriteLog" {
		return fmt.Errorf("%s: unknown operation %q", ContractLogging, call.Operation)
	}
	var e logEntry
	if err := bounded.Unmarshal(call.Payload, &e); err != nil {
		return fmt.Errorf("Logging.WriteLog: bad payload: %w", err)
	}
	level := slog.LevelInfo
	switch e.Level {
	case "debug", "trace":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	a.log.Log(ctx, level, e.Text, "source", "actor")
	return nil
}

// rangeLimit is wasmCloud's NumberGen.RandomInRange argument.
type rangeLimit struct {
	Min uint32 `msgpack:"min"`
	Max uint32 `msgpack:"max"`
}

func numberGen(call engine.HostCall) ([]byte, error) {
	switch call.Operation {
	case "NumberGen.GenerateGuid":
		return msgpack.Marshal(newUUID())
	case "NumberGen.Random32":
		var b [4]byte
		rand.Read(b[:])
		return msgpack.Marshal(binary.LittleEndian.Uint32(b[:]))
	case "NumberGen.RandomInRange":
		var r rangeLimit
		if err := bounded.Unmarshal(call.Payload, &r); err != nil {
			return nil, fmt.Errorf("NumberGen.RandomInRange: bad payload: %w", err)
		}
		if r.Min > r.Max {
			return nil, fmt.Errorf("NumberGen.RandomInRange: min %d > max %d", r.Min, r.Max)
		}
		n, err := rand.Int(rand.Reader, big.NewInt(int64(r.Max)-int64(r.Min)+1))
		if err != nil {
			return nil, err
		}
		return msgpack.Marshal(r.Min + uint32(n.Uint64()))
	}
	return nil, fmt.Errorf("%s: unknown operation %q", ContractNumberGen, call.Operation)
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
