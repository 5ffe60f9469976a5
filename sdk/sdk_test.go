package sdk_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/wisp-dev/wisp/sdk"
	"github.com/wisp-dev/wisp/sdk/sdktest"
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

func TestBuiltinsReachTheHost(t *testing.T) {
	h := sdktest.New(t)
	ctx := context.Background()
	if err := sdk.Log(ctx, "warn", "low battery"); err != nil {
		t.Fatal(err)
	}
	if l := h.Logs(); len(l) != 1 || l[0] != (sdktest.LogEntry{Level: "warn", Text: "low battery"}) {
		t.Fatalf("logs: %+v", l)
	}
	sdk.Print("console line")
	if p := h.Printed(); len(p) != 1 || p[0] != "console line" {
		t.Fatalf("printed: %q", p)
	}
	g1, err1 := sdk.GUID(ctx)
	g2, err2 := sdk.GUID(ctx)
	if err1 != nil || err2 != nil || g1 == g2 || len(g1) != 36 {
		t.Fatalf("GUIDs %q, %q: %v, %v", g1, g2, err1, err2)
	}
	if n, err := sdk.RandomInRange(ctx, 7, 9); err != nil || n != 7 {
		t.Fatalf("RandomInRange = %d, %v", n, err)
	}
	h.Handle("greeter", "Greet.Hello", func(_ context.Context, c sdktest.Call) ([]byte, error) {
		return append([]byte("hello, "), c.Payload...), nil
	})
	if out, err := sdk.CallActor(ctx, "greeter", "Greet.Hello", []byte("ada")); err != nil || string(out) != "hello, ada" {
		t.Fatalf("CallActor = %q, %v", out, err)
	}
	if _, err := sdk.CallActor(ctx, "nobody", "X.Y", nil); !errors.Is(err, sdktest.ErrNoFake) {
		t.Fatalf("CallActor of an actor with no fake = %v", err)
	}
	calls := h.Calls()
	if len(calls) != 6 || calls[4].Binding != "" || calls[4].Namespace != "greeter" || calls[5].Err == nil {
		t.Fatalf("calls: %+v", calls)
	}
}

func TestPanicsOfAnyValueAreReported(t *testing.T) {
	sdk.Handle("T.PanicInt", func(context.Context, []byte) ([]byte, error) { panic(42) })
	sdk.Handle("T.PanicErr", func(context.Context, []byte) ([]byte, error) { panic(errors.New("bad state")) })
	for op, want := range map[string]string{"T.PanicInt": "panic in T.PanicInt: 42", "T.PanicErr": "panic in T.PanicErr: bad state"} {
		if _, err := sdk.Dispatch(context.Background(), op, nil); err == nil || err.Error() != want {
			t.Fatalf("%s = %v, want %s", op, err, want)
		}
	}
}
