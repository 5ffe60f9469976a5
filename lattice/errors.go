package lattice

import (
	"context"
	"errors"

	"github.com/nats-io/nats.go"
)

// Code is the kind of a failure, carried across NATS next to its message:
// in the header Wisp-Error-Code of a failed call and in Ack.Code of a
// refused command. Codes are short lower-case words, stable across
// versions; a client maps each to a sentinel error (Code.Err), so that
// errors.Is(err, ErrBusy) holds on the far side of NATS.
type Code string

// The codes. A failure gets exactly one; a host with nothing more precise
// to say sends CodeInternal.
const (
	// CodeNotFound: no such actor, host, provider or link (ErrNotFound).
	CodeNotFound Code = "not_found"
	// CodeBusy: every instance was busy and the queue full, or no instance
	// came free within the queue timeout; the call never ran (ErrBusy).
	CodeBusy Code = "busy"
	// CodeTimeout: the call ran past its timeout and was stopped
	// (ErrTimeout).
	CodeTimeout Code = "timeout"
	// CodeTrap: the guest trapped, exited or ran out of memory; its
	// instance was replaced (ErrTrap).
	CodeTrap Code = "trap"
	// CodeHandler: the code that served the call, the actor's or a
	// provider's, returned an error of its own (ErrHandler). The message is
	// that error; the instance is healthy.
	CodeHandler Code = "handler"
	// CodeRefused: the host's policy or the actor's claims do not allow it
	// (an unsigned module, an issuer not allowed, a contract not claimed, a
	// link to an actor that runs nowhere) (ErrRefused).
	CodeRefused Code = "refused"
	// CodePayloadTooLarge: a payload or an answer above the actor's limit
	// (ErrPayloadTooLarge).
	CodePayloadTooLarge Code = "payload_too_large"
	// CodeBadRequest: a malformed command or call (bad JSON, a missing
	// header, a module that is not a waPC actor) (ErrBadRequest).
	CodeBadRequest Code = "bad_request"
	// CodeUnavailable: the actor or host is stopping, or the lattice's
	// state is not reachable; try again later (ErrUnavailable).
	CodeUnavailable Code = "unavailable"
	// CodeInternal: any other failure (ErrInternal).
	CodeInternal Code = "internal"
)

// Sentinel errors for the codes, to be tested with errors.Is. A
// *RemoteError is its code's sentinel; so are local errors of the same
// kind (ErrActorNotRunning is ErrNotFound).
var (
	ErrNotFound        = errors.New("not found")
	ErrBusy            = errors.New("busy")
	ErrTimeout         = errors.New("timed out")
	ErrTrap            = errors.New("guest trapped")
	ErrHandler         = errors.New("handler failed")
	ErrRefused         = errors.New("refused")
	ErrPayloadTooLarge = errors.New("payload too large")
	ErrBadRequest      = errors.New("bad request")
	ErrUnavailable     = errors.New("unavailable")
	ErrInternal        = errors.New("internal error")
)

var codeErrs = []struct {
	code Code
	err  error
}{
	{CodeNotFound, ErrNotFound},
	{CodeBusy, ErrBusy},
	{CodeTimeout, ErrTimeout},
	{CodeTrap, ErrTrap},
	{CodeHandler, ErrHandler},
	{CodeRefused, ErrRefused},
	{CodePayloadTooLarge, ErrPayloadTooLarge},
	{CodeBadRequest, ErrBadRequest},
	{CodeUnavailable, ErrUnavailable},
	{CodeInternal, ErrInternal},
}

// Err is the sentinel error of c; nil for a code this version does not
// know.
func (c Code) Err() error {
	for _, ce := range codeErrs {
		if ce.code == c {
			return ce.err
		}
	}
	return nil
}

// CodeOf is the code err carries: the one given by WithCode, a
// *RemoteError's, or the one whose sentinel err is (a NATS or context
// timeout is CodeTimeout). It is "" when err has none.
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	var ce *codedError
	if errors.As(err, &ce) {
		return ce.code
	}
	var re *RemoteError
	if errors.As(err, &re) && re.Code != "" {
		return re.Code // even a code this version does not know
	}
	for _, c := range codeErrs {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) {
		return CodeTimeout
	}
	return ""
}

// WithCode gives err the code c, keeping its message: CodeOf returns c and
// errors.Is(err, c.Err()) holds. A nil err stays nil.
func WithCode(c Code, err error) error {
	if err == nil {
		return nil
	}
	return &codedError{err: err, code: c}
}

type codedError struct {
	err  error
	code Code
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }
func (e *codedError) Is(target error) bool {
	s := e.code.Err()
	return s != nil && s == target
}

// RemoteError is a failure reported by the far side: an actor's or a
// provider's (headers Wisp-Error and Wisp-Error-Code) or a refused control
// command (Ack). errors.Is(err, ErrBusy) and its kin test its code.
type RemoteError struct {
	// Code is the kind of failure; empty when the far side sent none (a
	// hand-written provider, or a host older than codes).
	Code    Code
	Message string
}

func (e *RemoteError) Error() string { return e.Message }

// Is reports whether target is the sentinel of e's code.
func (e *RemoteError) Is(target error) bool {
	s := e.Code.Err()
	return s != nil && s == target
}

// SetReplyError marks reply, the answer to an actor or provider call, as
// failed: Wisp-Error carries err's message and Wisp-Error-Code c.
func SetReplyError(reply *nats.Msg, c Code, err error) {
	if reply.Header == nil {
		reply.Header = nats.Header{}
	}
	reply.Header.Set(HeaderError, err.Error())
	reply.Header.Set(HeaderErrorCode, string(c))
	reply.Data = nil
}

// ReplyError is the failure the answer to an actor or provider call
// reports, as a *RemoteError, or nil when the call succeeded.
func ReplyError(reply *nats.Msg) error {
	e := reply.Header.Get(HeaderError)
	if e == "" {
		return nil
	}
	return &RemoteError{Code: Code(reply.Header.Get(HeaderErrorCode)), Message: e}
}

// kindError is a sentinel error that is also the sentinel kind, keeping
// its own message: ErrActorNotRunning is ErrNotFound.
type kindError struct {
	msg  string
	kind error
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

// AlreadyRunning is in the message of a start a host refuses because an
// actor of that name, or a provider of that contract and link name, runs
// there already: a reconciler whose plan was older than the host's
// inventory takes it as done.
const AlreadyRunning = "already running on this host"
