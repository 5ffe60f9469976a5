package sdk_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/wisp-dev/wisp/sdk"
)

func TestDispatchRunsHandlersAndRecoversPanics(t *testing.T) {
	ctx := context.Background()
	sdk.Handle("T.Upper", func(_ context.Context, p []byte) ([]byte, error) {
		return []byte(strings.ToUpper(string(p))), nil
	})
	sdk.Handle("T.Panic", func(context.Context, []byte) ([]byte, error) { panic("boom") })
	if out, err := sdk.Dispatch(ctx, "T.Upper", []byte("wisp")); err != nil || string(out) != "WISP" {
		t.Fatalf("T.Upper = %q, %v", out, err)
	}
	if _, err := sdk.Dispatch(ctx, "T.Missing", nil); !errors.Is(err, sdk.ErrUnknownOperation) {
		t.Fatalf("T.Missing = %v", err)
	}
	if _, err := sdk.Dispatch(ctx, "T.Panic", nil); err == nil || !strings.Contains(err.Error(), "panic in T.Panic: boom") {
		t.Fatalf("T.Panic = %v", err)
	}
}

func TestHostCallsOutsideAHostSayWhy(t *testing.T) {
	if _, err := sdk.CallActor(context.Background(), "echo", "Echo.Reply", nil); !errors.Is(err, sdk.ErrNotInHost) {
		t.Fatalf("CallActor = %v", err)
	}
	if _, err := sdk.GUID(context.Background()); !errors.Is(err, sdk.ErrNotInHost) {
		t.Fatalf("GUID = %v", err)
	}
}
