//go:build wasip1

package sdk

import (
	"context"
	"errors"
	"unsafe"
)

//go:wasmimport wasmbus __guest_request
func guestRequest(opPtr, payloadPtr unsafe.Pointer)

//go:wasmimport wasmbus __guest_response
func guestResponse(ptr unsafe.Pointer, n uint32)

//go:wasmimport wasmbus __guest_error
func guestError(ptr unsafe.Pointer, n uint32)

//go:wasmimport wasmbus __host_call
func hostCallABI(bdPtr unsafe.Pointer, bdLen uint32, nsPtr unsafe.Pointer, nsLen uint32, opPtr unsafe.Pointer, opLen uint32, ptr unsafe.Pointer, n uint32) uint32

//go:wasmimport wasmbus __host_response_len
func hostResponseLen() uint32

//go:wasmimport wasmbus __host_response
func hostResponse(ptr unsafe.Pointer)

//go:wasmimport wasmbus __host_error_len
func hostErrorLen() uint32

//go:wasmimport wasmbus __host_error
func hostError(ptr unsafe.Pointer)

//go:wasmimport wasmbus __console_log
func consoleLog(ptr unsafe.Pointer, n uint32)

// opBuf holds the current operation name; it is reused across calls.
var opBuf []byte

//go:wasmexport __guest_call
func guestCall(opLen, payloadLen uint32) uint32 {
	if cap(opBuf) < int(opLen) {
		opBuf = make([]byte, opLen)
	}
	op := opBuf[:opLen]
	payload := make([]byte, payloadLen)
	guestRequest(unsafe.Pointer(unsafe.SliceData(op)), unsafe.Pointer(unsafe.SliceData(payload)))

	resp, err := dispatch(context.Background(), op, payload)
	if err != nil {
		msg := err.Error()
		guestError(unsafe.Pointer(unsafe.StringData(msg)), uint32(len(msg)))
		return 0
	}
	guestResponse(unsafe.Pointer(unsafe.SliceData(resp)), uint32(len(resp)))
	return 1
}

func hostCall(_ context.Context, binding, namespace, operation string, payload []byte) ([]byte, error) {
	ok := hostCallABI(
		unsafe.Pointer(unsafe.StringData(binding)), uint32(len(binding)),
		unsafe.Pointer(unsafe.StringData(namespace)), uint32(len(namespace)),
		unsafe.Pointer(unsafe.StringData(operation)), uint32(len(operation)),
		unsafe.Pointer(unsafe.SliceData(payload)), uint32(len(payload)))
	if ok != 1 {
		msg := make([]byte, hostErrorLen())
		hostError(unsafe.Pointer(unsafe.SliceData(msg)))
		return nil, errors.New(string(msg))
	}
	resp := make([]byte, hostResponseLen())
	hostResponse(unsafe.Pointer(unsafe.SliceData(resp)))
	return resp, nil
}

// Print writes msg to the host's console log (waPC `__console_log`).
func Print(msg string) {
	consoleLog(unsafe.Pointer(unsafe.StringData(msg)), uint32(len(msg)))
}
