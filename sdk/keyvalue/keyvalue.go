// Package keyvalue is the actor side of wasmcloud:keyvalue: strings,
// counters, lists and sets kept by the key-value provider linked to the
// actor. The actor's claims must list the contract (wisp build --cap
// wasmcloud:keyvalue).
//
//	n, err := keyvalue.Increment(ctx, "hits", 1)
//
// The package-level functions use the link named "default"; New names
// another.
package keyvalue

import (
	"context"
	"time"

	"github.com/wisp-dev/wisp/internal/msgpack"
	"github.com/wisp-dev/wisp/internal/wrap"
	"github.com/wisp-dev/wisp/sdk"
)

// Contract is the contract id.
const Contract = "wasmcloud:keyvalue"

// Client reaches the provider linked under one link name.
type Client struct{ link string }

// New returns a client for the link named link.
func New(link string) Client { return Client{link: link} }

// Default is the client of the "default" link.
var Default = New("default")

func (c Client) call(ctx context.Context, op string, payload []byte) ([]byte, error) {
	out, err := sdk.HostCall(ctx, c.link, Contract, op, payload)
	if err != nil {
		return nil, wrap.Error(op, err)
	}
	return out, nil
}

// fields appends a map of string fields.
func fields(kv ...string) []byte {
	b := msgpack.AppendMapHeader(nil, len(kv)/2)
	for _, s := range kv {
		b = msgpack.AppendString(b, s)
	}
	return b
}

// Get returns the string at key and whether it exists.
func (c Client) Get(ctx context.Context, key string) (string, bool, error) {
	out, err := c.call(ctx, "KeyValue.Get", msgpack.AppendString(nil, key))
	if err != nil {
		return "", false, err
	}
	var value string
	var exists bool
	err = msgpack.ReadMap(out, func(k string, b []byte) ([]byte, error) {
		switch k {
		case "value":
			value, b, err = msgpack.ReadString(b)
		case "exists":
			exists, b, err = msgpack.ReadBool(b)
		default:
			b, err = msgpack.Skip(b)
		}
		return b, err
	})
	if err != nil {
		return "", false, wrap.Error("KeyValue.Get", err)
	}
	return value, exists, nil
}

// Set stores value at key; with expires > 0 the key goes away after that
// long (whole seconds).
func (c Client) Set(ctx context.Context, key, value string, expires time.Duration) error {
	b := msgpack.AppendMapHeader(nil, 3)
	b = msgpack.AppendString(b, "key")
	b = msgpack.AppendString(b, key)
	b = msgpack.AppendString(b, "value")
	b = msgpack.AppendString(b, value)
	b = msgpack.AppendString(b, "expires")
	b = msgpack.AppendUint(b, uint64(expires/time.Second))
	_, err := c.call(ctx, "KeyValue.Set", b)
	return err
}

// Del removes key and reports whether it existed.
func (c Client) Del(ctx context.Context, key string) (bool, error) {
	return c.boolOp(ctx, "KeyValue.Del", msgpack.AppendString(nil, key))
}

// Contains reports whether key exists.
func (c Client) Contains(ctx context.Context, key string) (bool, error) {
	return c.boolOp(ctx, "KeyValue.Contains", msgpack.AppendString(nil, key))
}

// Increment adds n (which may be negative) to the integer at key, 0 when
// absent, and returns the result.
func (c Client) Increment(ctx context.Context, key string, n int32) (int32, error) {
	b := msgpack.AppendMapHeader(nil, 2)
	b = msgpack.AppendString(b, "key")
	b = msgpack.AppendString(b, key)
	b = msgpack.AppendString(b, "value")
	b = msgpack.AppendInt(b, int64(n))
	out, err := c.call(ctx, "KeyValue.Increment", b)
	if err != nil {
		return 0, err
	}
	v, _, err := msgpack.ReadInt(out)
	if err != nil {
		return 0, wrap.Error("KeyValue.Increment", err)
	}
	return int32(v), nil
}

// ListAdd appends value to list and returns the list's new length.
func (c Client) ListAdd(ctx context.Context, list, value string) (uint32, error) {
	return c.uintOp(ctx, "KeyValue.ListAdd", fields("listName", list, "value", value))
}

// ListDel removes the first value from list and reports whether it was there.
func (c Client) ListDel(ctx context.Context, list, value string) (bool, error) {
	return c.boolOp(ctx, "KeyValue.ListDel", fields("listName", list, "value", value))
}

// ListClear removes list and reports whether it existed.
func (c Client) ListClear(ctx context.Context, list string) (bool, error) {
	return c.boolOp(ctx, "KeyValue.ListClear", msgpack.AppendString(nil, list))
}

// ListRange returns the items start..stop of list, inclusive; negative
// indices count from the end (0, -1 is the whole list).
func (c Client) ListRange(ctx context.Context, list string, start, stop int32) ([]string, error) {
	b := msgpack.AppendMapHeader(nil, 3)
	b = msgpack.AppendString(b, "listName")
	b = msgpack.AppendString(b, list)
	b = msgpack.AppendString(b, "start")
	b = msgpack.AppendInt(b, int64(start))
	b = msgpack.AppendString(b, "stop")
	b = msgpack.AppendInt(b, int64(stop))
	return c.listOp(ctx, "KeyValue.ListRange", b)
}

// SetAdd adds value to set and returns 1 if it was new, 0 if not.
func (c Client) SetAdd(ctx context.Context, set, value string) (uint32, error) {
	return c.uintOp(ctx, "KeyValue.SetAdd", fields("setName", set, "value", value))
}

// SetDel removes value from set and returns 1 if it was there, 0 if not.
func (c Client) SetDel(ctx context.Context, set, value string) (uint32, error) {
	return c.uintOp(ctx, "KeyValue.SetDel", fields("setName", set, "value", value))
}

// SetClear removes set and reports whether it existed.
func (c Client) SetClear(ctx context.Context, set string) (bool, error) {
	return c.boolOp(ctx, "KeyValue.SetClear", msgpack.AppendString(nil, set))
}

// SetQuery returns the members of set, sorted.
func (c Client) SetQuery(ctx context.Context, set string) ([]string, error) {
	return c.listOp(ctx, "KeyValue.SetQuery", msgpack.AppendString(nil, set))
}

// SetUnion returns the members of any of sets, sorted.
func (c Client) SetUnion(ctx context.Context, sets ...string) ([]string, error) {
	return c.listOp(ctx, "KeyValue.SetUnion", stringArray(sets))
}

// SetIntersection returns the members of every one of sets, sorted.
func (c Client) SetIntersection(ctx context.Context, sets ...string) ([]string, error) {
	return c.listOp(ctx, "KeyValue.SetIntersection", stringArray(sets))
}

func stringArray(l []string) []byte {
	b := msgpack.AppendArrayHeader(nil, len(l))
	for _, s := range l {
		b = msgpack.AppendString(b, s)
	}
	return b
}

func (c Client) boolOp(ctx context.Context, op string, payload []byte) (bool, error) {
	out, err := c.call(ctx, op, payload)
	if err != nil {
		return false, err
	}
	v, _, err := msgpack.ReadBool(out)
	if err != nil {
		return false, wrap.Error(op, err)
	}
	return v, nil
}

func (c Client) uintOp(ctx context.Context, op string, payload []byte) (uint32, error) {
	out, err := c.call(ctx, op, payload)
	if err != nil {
		return 0, err
	}
	v, _, err := msgpack.ReadUint(out)
	if err != nil {
		return 0, wrap.Error(op, err)
	}
	return uint32(v), nil
}

func (c Client) listOp(ctx context.Context, op string, payload []byte) ([]string, error) {
	out, err := c.call(ctx, op, payload)
	if err != nil {
		return nil, err
	}
	n, rest, err := msgpack.ReadArrayHeader(out)
	if err != nil {
		return nil, wrap.Error(op, err)
	}
	l := make([]string, 0, n)
	for range n {
		var s string
		if s, rest, err = msgpack.ReadString(rest); err != nil {
			return nil, wrap.Error(op, err)
		}
		l = append(l, s)
	}
	return l, nil
}

// Get returns the string at key on the default link.
func Get(ctx context.Context, key string) (string, bool, error) { return Default.Get(ctx, key) }

// Set stores value at key on the default link.
func Set(ctx context.Context, key, value string, expires time.Duration) error {
	return Default.Set(ctx, key, value, expires)
}

// Del removes key on the default link.
func Del(ctx context.Context, key string) (bool, error) { return Default.Del(ctx, key) }

// Contains reports whether key exists on the default link.
func Contains(ctx context.Context, key string) (bool, error) { return Default.Contains(ctx, key) }

// Increment adds n to the integer at key on the default link.
func Increment(ctx context.Context, key string, n int32) (int32, error) {
	return Default.Increment(ctx, key, n)
}
