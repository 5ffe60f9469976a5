package oci

import (
	"context"
	"testing"
)

// BenchmarkPull measures pulling a 3 MiB module (the size of a Go echo
// actor) from an in-process registry into an empty cache, and from the
// cache with its digest checks.
func BenchmarkPull(b *testing.B) {
	ctx := context.Background()
	reg := newRegistryB(b)
	ref := reg.ref("bench/echo:1")
	mod := module(b, 3<<20)
	c, err := New(WithCacheDir(b.TempDir()), WithDockerConfig(b.TempDir()+"/none.json"))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := c.Push(ctx, ref, mod, nil); err != nil {
		b.Fatal(err)
	}
	b.Run("registry", func(b *testing.B) {
		b.SetBytes(int64(len(mod)))
		for b.Loop() {
			b.StopTimer()
			fresh, _ := New(WithCacheDir(b.TempDir()), WithDockerConfig(b.TempDir()+"/none.json"))
			b.StartTimer()
			if _, err := fresh.Pull(ctx, ref, IfNotPresent); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cache", func(b *testing.B) {
		if _, err := c.Pull(ctx, ref, IfNotPresent); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(mod)))
		for b.Loop() {
			a, err := c.Pull(ctx, ref, IfNotPresent)
			if err != nil || !a.Cached {
				b.Fatal(err)
			}
		}
	})
}
