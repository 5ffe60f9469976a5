package sdktest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/wisp-dev/wisp/sdk"
	"github.com/wisp-dev/wisp/sdk/sdktest"
)

func TestTheHostIsInstalledForOneTestOnly(t *testing.T) {
	t.Run("with a host", func(t *testing.T) {
		h := sdktest.New(t)
		h.Handle("greeter", "Greet.Hello", func(context.Context, sdktest.Call) ([]byte, error) { return []byte("hi"), nil })
		if out, err := sdk.CallActor(context.Background(), "greeter", "Greet.Hello", nil); err != nil || string(out) != "hi" {
			t.Fatalf("CallActor = %q, %v", out, err)
		}
	})
	if _, err := sdk.CallActor(context.Background(), "greeter", "Greet.Hello", nil); !errors.Is(err, sdk.ErrNotInHost) {
		t.Fatalf("CallActor after the test that installed a host ended = %v", err)
	}
}

// fatals records Fatal instead of ending the test.
type fatals struct {
	testing.TB
	msg string
}

func (f *fatals) Fatal(args ...any) { f.msg = fmt.Sprint(args...) }

func TestASecondHostIsRefused(t *testing.T) {
	first := sdktest.New(t)
	f := &fatals{TB: t}
	sdktest.New(f)
	if !strings.Contains(f.msg, "cannot run in parallel") {
		t.Fatalf("a second New: %q", f.msg)
	}
	// The first host still serves.
	if err := sdk.Log(context.Background(), "info", "still here"); err != nil || len(first.Logs()) != 1 {
		t.Fatalf("the first host after a refused second: %v, %+v", err, first.Logs())
	}
}
