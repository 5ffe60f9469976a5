package engine

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// The waPC import modules. The host registers the same functions under both:
// wasmCloud actors import "wasmbus", plain waPC guests import "wapc".
const (
	ModuleWaPC    = "wapc"
	ModuleWasmbus = "wasmbus"
	moduleWASI    = "wasi_snapshot_preview1"
)

// Exports a waPC guest has or may have.
const (
	exportGuestCall  = "__guest_call"
	exportMemory     = "memory"
	exportInitialize = "_initialize"
	exportStart      = "_start"
	exportWaPCInit   = "wapc_init"
)

// errNoHostCall answers host calls from instances configured without a
// HostCallFunc.
var errNoHostCall = errors.New("host calls are not available to this actor")

// callState is what the waPC host functions of one instance read and write
// during an invocation. The instance owns it; one invocation runs at a time,
// so it needs no lock.
type callState struct {
	cfg *InstanceConfig

	// Set for each invocation.
	ctx       context.Context
	operation string
	payload   []byte

	// Written by the guest through __guest_response / __guest_error.
	response    []byte
	guestErr    string
	hasGuestErr bool

	// The result of the guest's latest __host_call.
	hostResp []byte
	hostErr  string

	// While recordEffects is set (during the initialisation of an instance
	// that may be snapshotted), effect notes that the guest called the host,
	// logged or wrote output: effects a copy of its state would not repeat.
	recordEffects bool
	effect        bool
}

// begin resets the state for an invocation.
func (s *callState) begin(ctx context.Context, op string, payload []byte) {
	s.ctx = ctx
	s.operation = op
	s.payload = payload
	s.response = nil
	s.guestErr = ""
	s.hasGuestErr = false
	s.hostResp = nil
	s.hostErr = ""
}

// end drops references to the caller's data so the pool does not pin them.
func (s *callState) end() {
	s.ctx = nil
	s.payload = nil
	s.response = nil
	s.hostResp = nil
}

// hostCall runs the guest's host call and records the result; it reports
// whether the call succeeded, as __host_call returns it.
func (s *callState) hostCall(call HostCall) bool {
	s.effect = s.effect || s.recordEffects
	s.hostResp, s.hostErr = nil, ""
	if s.cfg.HostCall == nil {
		s.hostErr = errNoHostCall.Error()
		return false
	}
	resp, err := s.cfg.HostCall(s.ctx, call)
	if err != nil {
		s.hostErr = err.Error()
		return false
	}
	s.hostResp = resp
	return true
}

// result turns the value __guest_call returned into the invocation's outcome.
func (s *callState) result(ok bool) ([]byte, error) {
	if ok && !s.hasGuestErr {
		return s.response, nil
	}
	msg := s.guestErr
	if !s.hasGuestErr {
		msg = "guest call failed without an error message"
	}
	return nil, &GuestError{Message: msg}
}

// consoleLog hands a __console_log message to the configured sink.
func (s *callState) consoleLog(msg []byte) {
	s.effect = s.effect || s.recordEffects
	if s.cfg.ConsoleLog != nil {
		s.cfg.ConsoleLog(string(msg))
	}
}

// timeoutError describes a call stopped at its deadline.
func timeoutError(op string, d time.Duration) error {
	return fmt.Errorf("%s: %w after %s", op, ErrTimeout, d)
}

// startTimeoutError describes a start function (the start section's,
// `_initialize`, `_start` or `wapc_init`) stopped at its deadline: start
// functions run under the call timeout like any call.
func startTimeoutError(fn string, d time.Duration) error {
	return fmt.Errorf("%s: module start function ran past %s (%w; the limit is the actor's call timeout, wisp up --call-timeout)", fn, d, ErrTimeout)
}

// wasmMagic starts every Wasm binary: "\0asm" and version 1.
var wasmMagic = []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}

// checkWasm reports whether b looks like a Wasm binary module.
func checkWasm(b []byte) error {
	if len(b) < len(wasmMagic) || string(b[:4]) != string(wasmMagic[:4]) {
		return ErrNotWasm
	}
	if string(b[4:8]) != string(wasmMagic[4:8]) {
		return fmt.Errorf("%w: binary version %x is not 1 (a component, not a core module?)", ErrNotWasm, b[4:8])
	}
	return nil
}
