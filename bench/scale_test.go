package bench

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wisp-dev/wisp/internal/testwasm"
	"github.com/wisp-dev/wisp/lattice"
)

// BenchmarkScaleToZero measures the first call to a Go echo actor that
// scaled to zero instances (the wake: one instance from the compiled module
// the host holds, then the call) against a call to an awake one.
func BenchmarkScaleToZero(b *testing.B) {
	env := newEnv(b)
	p := filepath.Join(b.TempDir(), "echo.wasm")
	if err := os.WriteFile(p, testwasm.GoActor(b, "actors/echo"), 0o644); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	payload := []byte("wake up")
	warm, err := env.host.StartActor(ctx, lattice.StartActorRequest{Ref: p, Name: "warm"})
	if err != nil {
		b.Fatal(err)
	}
	sleepy, err := env.host.StartActor(ctx, lattice.StartActorRequest{Ref: p, Name: "sleepy",
		Limits: lattice.ActorLimits{IdleTimeoutMS: 1}})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("warm", func(b *testing.B) {
		a := warm
		for b.Loop() {
			if _, err := a.Invoke(ctx, "Echo.Reply", payload); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("wake-from-zero", func(b *testing.B) {
		a := sleepy
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			for !a.Describe().Asleep {
				time.Sleep(time.Millisecond)
			}
			b.StartTimer()
			if _, err := a.Invoke(ctx, "Echo.Reply", payload); err != nil {
				b.Fatal(err)
			}
		}
	})
}
