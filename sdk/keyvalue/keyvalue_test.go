package keyvalue_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wisp-dev/wisp/sdk/keyvalue"
	"github.com/wisp-dev/wisp/sdk/sdktest"
)

func TestEveryOperationReachesTheStore(t *testing.T) {
	h := sdktest.New(t)
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	if _, found, err := keyvalue.Get(ctx, "k"); err != nil || found {
		t.Fatalf("Get of a new key: %v, %v", found, err)
	}
	must(keyvalue.Set(ctx, "k", "v1", 0))
	if v, found, err := keyvalue.Get(ctx, "k"); err != nil || !found || v != "v1" {
		t.Fatalf("Get after Set = %q, %v, %v", v, found, err)
	}
	if ok, err := keyvalue.Contains(ctx, "k"); err != nil || !ok {
		t.Fatalf("Contains after Set = %v, %v", ok, err)
	}
	if ok, err := keyvalue.Del(ctx, "k"); err != nil || !ok {
		t.Fatalf("Del of an existing key = %v, %v", ok, err)
	}
	if ok, err := keyvalue.Del(ctx, "k"); err != nil || ok {
		t.Fatalf("Del of a gone key = %v, %v", ok, err)
	}
	if n, err := keyvalue.Increment(ctx, "n", 5); err != nil || n != 5 {
		t.Fatalf("Increment of a new key = %d, %v", n, err)
	}
	if n, err := keyvalue.Increment(ctx, "n", -2); err != nil || n != 3 {
		t.Fatalf("Increment by -2 = %d, %v", n, err)
	}

	c := keyvalue.Default
	for i, v := range []string{"a", "b", "c"} {
		if n, err := c.ListAdd(ctx, "l", v); err != nil || n != uint32(i+1) {
			t.Fatalf("ListAdd %s = %d, %v", v, n, err)
		}
	}
	if l, err := c.ListRange(ctx, "l", 1, -1); err != nil || !slices.Equal(l, []string{"b", "c"}) {
		t.Fatalf("ListRange 1 -1 = %q, %v", l, err)
	}
	if ok, err := c.ListDel(ctx, "l", "b"); err != nil || !ok {
		t.Fatalf("ListDel = %v, %v", ok, err)
	}
	if ok, err := c.ListClear(ctx, "l"); err != nil || !ok {
		t.Fatalf("ListClear = %v, %v", ok, err)
	}
	if l, err := c.ListRange(ctx, "l", 0, -1); err != nil || len(l) != 0 {
		t.Fatalf("ListRange of a cleared list = %q, %v", l, err)
	}

	for _, m := range []struct{ set, v string }{{"s1", "x"}, {"s1", "y"}, {"s2", "y"}, {"s2", "z"}} {
		if n, err := c.SetAdd(ctx, m.set, m.v); err != nil || n != 1 {
			t.Fatalf("SetAdd %s %s = %d, %v", m.set, m.v, n, err)
		}
	}
	if n, err := c.SetAdd(ctx, "s1", "x"); err != nil || n != 0 {
		t.Fatalf("SetAdd of a member = %d, %v", n, err)
	}
	if l, err := c.SetUnion(ctx, "s1", "s2"); err != nil || !slices.Equal(l, []string{"x", "y", "z"}) {
		t.Fatalf("SetUnion = %q, %v", l, err)
	}
	if l, err := c.SetIntersection(ctx, "s1", "s2"); err != nil || !slices.Equal(l, []string{"y"}) {
		t.Fatalf("SetIntersection = %q, %v", l, err)
	}
	if n, err := c.SetDel(ctx, "s1", "x"); err != nil || n != 1 {
		t.Fatalf("SetDel = %d, %v", n, err)
	}
	if l, err := c.SetQuery(ctx, "s1"); err != nil || !slices.Equal(l, []string{"y"}) {
		t.Fatalf("SetQuery = %q, %v", l, err)
	}
	if ok, err := c.SetClear(ctx, "s1"); err != nil || !ok {
		t.Fatalf("SetClear = %v, %v", ok, err)
	}

	// What the actor wrote is in the host's store, for the test to read.
	if v, found, _ := h.KeyValue("default").Get(ctx, "n"); !found || v != "3" {
		t.Fatalf("the store holds n = %q, %v", v, found)
	}
}

func TestSetWithExpiryForgetsTheKey(t *testing.T) {
	sdktest.New(t)
	ctx := context.Background()
	if err := keyvalue.Set(ctx, "brief", "v", time.Second); err != nil {
		t.Fatal(err)
	}
	if ok, _ := keyvalue.Contains(ctx, "brief"); !ok {
		t.Fatal("a key set to expire in 1s is gone at once")
	}
	time.Sleep(1100 * time.Millisecond)
	if ok, err := keyvalue.Contains(ctx, "brief"); err != nil || ok {
		t.Fatalf("Contains after the expiry = %v, %v", ok, err)
	}
}

func TestNamedLinksKeepTheirOwnKeys(t *testing.T) {
	h := sdktest.New(t)
	ctx := context.Background()
	if err := keyvalue.New("cache").Set(ctx, "k", "cached", 0); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := keyvalue.Get(ctx, "k"); found {
		t.Fatal("a key set over the cache link is on the default link")
	}
	if v, found, _ := h.KeyValue("cache").Get(ctx, "k"); !found || v != "cached" {
		t.Fatalf("cache store: %q, %v", v, found)
	}
	calls := h.Calls()
	if len(calls) != 2 || calls[0].Binding != "cache" || calls[0].Operation != "KeyValue.Set" || calls[1].Binding != "default" {
		t.Fatalf("calls: %+v", calls)
	}
}

func TestErrorsNameTheOperation(t *testing.T) {
	h := sdktest.New(t)
	ctx := context.Background()
	if err := h.KeyValue("default").Set(ctx, "word", "seven", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := keyvalue.Increment(ctx, "word", 1); err == nil || !strings.HasPrefix(err.Error(), "KeyValue.Increment: ") || !strings.Contains(err.Error(), "not an integer") {
		t.Fatalf("Increment of a word = %v", err)
	}
	down := errors.New("bucket unavailable")
	h.Handle(keyvalue.Contract, "KeyValue.Get", func(context.Context, sdktest.Call) ([]byte, error) { return nil, down })
	if _, _, err := keyvalue.Get(ctx, "word"); !errors.Is(err, down) || !strings.HasPrefix(err.Error(), "KeyValue.Get: ") {
		t.Fatalf("Get from a failing store = %v", err)
	}
	h.Handle(keyvalue.Contract, "KeyValue.Contains", func(context.Context, sdktest.Call) ([]byte, error) { return []byte{0xa1, 'x'}, nil })
	if _, err := keyvalue.Contains(ctx, "word"); err == nil || !strings.HasPrefix(err.Error(), "KeyValue.Contains: msgpack: not a boolean") {
		t.Fatalf("Contains answered with a string = %v", err)
	}
}
