//go:build !wasip1

package sdk

import (
	"context"

	"github.com/wisp-dev/wisp/internal/wrap"
	"github.com/wisp-dev/wisp/sdk/internal/fakehost"
)

// hostCall outside a wisp host goes to the fake host sdktest installed.
func hostCall(ctx context.Context, binding, namespace, operation string, payload []byte) ([]byte, error) {
	h := fakehost.Current()
	if h == nil {
		return nil, wrap.Error("host call "+binding+" "+namespace+"."+operation, ErrNotInHost)
	}
	return h.HostCall(ctx, binding, namespace, operation, payload)
}

// Print writes msg to the host's console log (waPC `__console_log`).
// Outside a host it goes to the fake host sdktest installed, if any.
func Print(msg string) {
	if h := fakehost.Current(); h != nil {
		h.ConsoleLog(msg)
	}
}
