// Package sdk is how an actor is written in Go: register a handler per
// operation, call the host, log. It hides the waPC ABI.
//
// An actor is a main package built with the standard Go toolchain as a
// WASI reactor (`wisp build` does this):
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o echo.wasm .
//
// In that mode main is never run; package initialisers are, once per
// instance, so handlers are registered in init:
//
//	func init() {
//		sdk.Handle("Echo.Reply", func(ctx context.Context, payload []byte) ([]byte, error) {
//			return payload, nil
//		})
//	}
//
//	func main() {}
//
// # Notes
//
//   - Each instance serves one call at a time; a host runs several instances
//     of an actor for parallelism, so package-level state is per instance.
//   - The payload passed to a handler belongs to it; the returned slice is
//     copied by the host.
//   - A handler's error reaches the caller as the call's error. A panic in a
//     handler is recovered and reported the same way.
//   - Built for any other GOOS, the package compiles so that handlers can be
//     unit tested: Dispatch runs them, and host calls go to the fake host
//     that package sdktest installs, or fail with ErrNotInHost without one.
//   - The SDK does not import fmt, which would add most of a megabyte to
//     every actor's module; an actor that imports it (or net/url, which
//     does) pays for it itself.
package sdk

import (
	"context"
	"errors"
	"strconv"
	"unsafe"
)

// HandlerFunc serves one operation.
type HandlerFunc func(ctx context.Context, payload []byte) ([]byte, error)

var handlers = map[string]HandlerFunc{}

// Handle registers fn for operation, such as "Echo.Reply" or
// "HttpServer.HandleRequest". Registering an operation twice replaces it.
func Handle(operation string, fn HandlerFunc) {
	handlers[operation] = fn
}

// ErrUnknownOperation is returned for an operation with no handler.
var ErrUnknownOperation = errors.New("unknown operation")

// ErrNotInHost is returned by host calls made outside a wisp host.
var ErrNotInHost = errors.New("not running in a wisp host")

// Dispatch runs the handler for operation. The host calls it through the ABI;
// tests may call it directly.
func Dispatch(ctx context.Context, operation string, payload []byte) (resp []byte, err error) {
	return dispatch(ctx, unsafe.Slice(unsafe.StringData(operation), len(operation)), payload)
}

// dispatch is Dispatch for an operation name in bytes the caller reuses
// (the guest's ABI): it becomes a string only in an error, not per call.
func dispatch(ctx context.Context, op []byte, payload []byte) (resp []byte, err error) {
	fn, ok := handlers[string(op)] // a map index makes no string
	if !ok {
		return nil, unknownOperation(string(op))
	}
	defer func() {
		if r := recover(); r != nil {
			resp, err = nil, errors.New("panic in "+string(op)+": "+describe(r))
		}
	}()
	return fn(ctx, payload)
}

// unknownOperation reads `unknown operation "Op"` and is ErrUnknownOperation.
type unknownOperation string

func (op unknownOperation) Error() string {
	return ErrUnknownOperation.Error() + " " + `"` + string(op) + `"`
}
func (op unknownOperation) Unwrap() error { return ErrUnknownOperation }

// describe formats a recovered panic value as fmt's %v would for the
// values panics carry, without fmt.
func describe(r any) string {
	switch v := r.(type) {
	case string:
		return v
	case error:
		return v.Error()
	case interface{ String() string }:
		return v.String()
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case uint64:
		return strconv.FormatUint(v, 10)
	case bool:
		return strconv.FormatBool(v)
	}
	return "a value of an unprintable type"
}

// HostCall asks the host to run operation in namespace over binding (a link
// name; "default" for most links, "" to call another actor by its key or
// call alias) and returns the result.
func HostCall(ctx context.Context, binding, namespace, operation string, payload []byte) ([]byte, error) {
	return hostCall(ctx, binding, namespace, operation, payload)
}
