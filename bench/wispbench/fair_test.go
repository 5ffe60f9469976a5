package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/wisp-dev/wisp/host/engine"
	"github.com/wisp-dev/wisp/internal/testwasm"
	"github.com/wisp-dev/wisp/sdk/httpserver"
)

// fixed_http.wat holds its answer as bytes written out by hand: they must
// stay the response the Go SDK encodes for the answer the net/http baseline
// gives on /fixed (fixedAnswer), which the provider decodes.
func TestFixedHTTPAnswersAsTheSDKWould(t *testing.T) {
	ctx := context.Background()
	eng, err := engine.New(engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(ctx)
	mod, err := eng.Compile(ctx, testwasm.Wat(t, "fixed_http.wat"), engine.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	inst, err := mod.Instantiate(ctx, engine.InstanceConfig{Name: "fixed_http"})
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close(ctx)
	want := httpserver.Text(200, fixedAnswer).Encode()
	// A small request, and one near the 120 KiB the module has room for.
	for _, size := range []int{150, 120 << 10} {
		got, err := inst.Invoke(ctx, httpserver.Operation, bytes.Repeat([]byte{'r'}, size))
		if err != nil {
			t.Fatalf("request of %d bytes: %v", size, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("request of %d bytes: answer %q, want the SDK's %q", size, got, want)
		}
	}
}
