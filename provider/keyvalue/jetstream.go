package keyvalue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// jsStore keeps strings, lists and sets in one JetStream KV bucket. Lists
// and sets are JSON arrays under their own key prefix, changed by
// compare-and-set on the entry's revision, so concurrent writers (several
// instances, several hosts) never lose an update.
type jsStore struct {
	kv jetstream.KeyValue
}

// OpenJetStream opens (creating it if needed) the bucket on nc's JetStream.
// The bucket keeps one revision per key, allows per-key expiry, and is
// replicated up to three times when the server is part of a cluster.
func OpenJetStream(ctx context.Context, nc *nats.Conn, bucket string) (Store, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	cfg := jetstream.KeyValueConfig{
		Bucket:         bucket,
		Description:    "wisp wasmcloud:keyvalue store",
		History:        1,
		LimitMarkerTTL: time.Minute,
		Replicas:       1,
	}
	if nc.ConnectedClusterName() != "" {
		cfg.Replicas = 3
	}
	for {
		kv, err := js.CreateOrUpdateKeyValue(ctx, cfg)
		if err == nil {
			return &jsStore{kv: kv}, nil
		}
		var apiErr *jetstream.APIError
		if cfg.Replicas > 1 && errors.As(err, &apiErr) {
			cfg.Replicas-- // a smaller cluster than three servers
			continue
		}
		return nil, fmt.Errorf("key-value bucket %s: %w", bucket, err)
	}
}

func (s *jsStore) Close() error { return nil }

// kvKey maps an actor's key (any string) to a bucket key: bytes outside
// [A-Za-z0-9_-] are written =XX, and a prefix keeps strings, lists and sets
// apart.
func kvKey(prefix, key string) (string, error) {
	if key == "" {
		return "", errors.New("empty key")
	}
	var b strings.Builder
	b.WriteString(prefix)
	b.WriteByte('.')
	for i := 0; i < len(key); i++ {
		c := key[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "=%02X", c)
	}
	return b.String(), nil
}

func (s *jsStore) entry(ctx context.Context, k string) (jetstream.KeyValueEntry, error) {
	e, err := s.kv.Get(ctx, k)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	return e, err
}

func (s *jsStore) Get(ctx context.Context, key string) (string, bool, error) {
	k, err := kvKey("s", key)
	if err != nil {
		return "", false, err
	}
	e, err := s.entry(ctx, k)
	if err != nil || e == nil {
		return "", false, err
	}
	return string(e.Value()), true, nil
}

func (s *jsStore) Set(ctx context.Context, key, value string, expires time.Duration) error {
	k, err := kvKey("s", key)
	if err != nil {
		return err
	}
	if expires <= 0 {
		_, err = s.kv.PutString(ctx, k, value)
		return err
	}
	// A per-key TTL is set only on create: clear the key, then create it.
	for range maxRetries {
		if err := s.kv.Purge(ctx, k); err != nil {
			return err
		}
		_, err = s.kv.Create(ctx, k, []byte(value), jetstream.KeyTTL(expires))
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return err
		}
	}
	return errContended(key)
}

func (s *jsStore) Del(ctx context.Context, key string) (bool, error) {
	k, err := kvKey("s", key)
	if err != nil {
		return false, err
	}
	return s.remove(ctx, k)
}

// remove deletes k and reports whether it existed.
func (s *jsStore) remove(ctx context.Context, k string) (bool, error) {
	e, err := s.entry(ctx, k)
	if err != nil || e == nil {
		return false, err
	}
	if err := s.kv.Purge(ctx, k); err != nil {
		return false, err
	}
	return true, nil
}

func (s *jsStore) Contains(ctx context.Context, key string) (bool, error) {
	_, ok, err := s.Get(ctx, key)
	return ok, err
}

// maxRetries bounds compare-and-set attempts under contention.
const maxRetries = 1000

func errContended(key string) error {
	return fmt.Errorf("key %q: too many concurrent writers, gave up after %d attempts", key, maxRetries)
}

// update applies fn to the value at k (nil when absent) by compare-and-set,
// retrying when another writer got there first. fn returns the new value,
// or nil to leave the entry as it is.
func (s *jsStore) update(ctx context.Context, k string, fn func(old []byte) ([]byte, error)) error {
	for range maxRetries {
		e, err := s.entry(ctx, k)
		if err != nil {
			return err
		}
		var old []byte
		if e != nil {
			old = e.Value()
		}
		next, err := fn(old)
		if err != nil || next == nil {
			return err
		}
		if e == nil {
			_, err = s.kv.Create(ctx, k, next)
		} else {
			_, err = s.kv.Update(ctx, k, next, e.Revision())
		}
		if err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !isWrongRevision(err) {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return errContended(k)
}

func isWrongRevision(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

func (s *jsStore) Increment(ctx context.Context, key string, by int32) (int32, error) {
	k, err := kvKey("s", key)
	if err != nil {
		return 0, err
	}
	var n int64
	err = s.update(ctx, k, func(old []byte) ([]byte, error) {
		n = 0
		if old != nil {
			v, err := strconv.ParseInt(string(old), 10, 32)
			if err != nil {
				return nil, fmt.Errorf("key %q holds %q, not an integer", key, old)
			}
			n = v
		}
		n += int64(by)
		if n > 1<<31-1 || n < -1<<31 {
			return nil, fmt.Errorf("key %q: increment overflows a 32-bit integer", key)
		}
		return []byte(strconv.FormatInt(n, 10)), nil
	})
	return int32(n), err
}

// strings reads the JSON array at k.
func decodeList(k string, b []byte) ([]string, error) {
	if b == nil {
		return nil, nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, fmt.Errorf("%s: not a list: %w", k, err)
	}
	return l, nil
}

func (s *jsStore) readList(ctx context.Context, prefix, name string) ([]string, error) {
	k, err := kvKey(prefix, name)
	if err != nil {
		return nil, err
	}
	e, err := s.entry(ctx, k)
	if err != nil || e == nil {
		return nil, err
	}
	return decodeList(k, e.Value())
}

// change applies fn to the list at prefix.name by compare-and-set; fn
// returns the new list and whether it changed.
func (s *jsStore) change(ctx context.Context, prefix, name string, fn func([]string) ([]string, bool)) error {
	k, err := kvKey(prefix, name)
	if err != nil {
		return err
	}
	return s.update(ctx, k, func(old []byte) ([]byte, error) {
		l, err := decodeList(k, old)
		if err != nil {
			return nil, err
		}
		next, changed := fn(l)
		if !changed {
			return nil, nil
		}
		if next == nil {
			next = []string{}
		}
		return json.Marshal(next)
	})
}

func (s *jsStore) ListAdd(ctx context.Context, list, value string) (uint32, error) {
	var n int
	err := s.change(ctx, "l", list, func(l []string) ([]string, bool) {
		l = append(l, value)
		n = len(l)
		return l, true
	})
	return uint32(n), err
}

func (s *jsStore) ListClear(ctx context.Context, list string) (bool, error) {
	k, err := kvKey("l", list)
	if err != nil {
		return false, err
	}
	return s.remove(ctx, k)
}

func (s *jsStore) ListDel(ctx context.Context, list, value string) (bool, error) {
	var found bool
	err := s.change(ctx, "l", list, func(l []string) ([]string, bool) {
		i := slices.Index(l, value)
		found = i >= 0
		if !found {
			return l, false
		}
		return slices.Delete(l, i, i+1), true
	})
	return found, err
}

func (s *jsStore) ListRange(ctx context.Context, list string, start, stop int32) ([]string, error) {
	l, err := s.readList(ctx, "l", list)
	if err != nil {
		return nil, err
	}
	lo, hi := rangeOf(len(l), start, stop)
	return l[lo:hi], nil
}

func (s *jsStore) SetAdd(ctx context.Context, set, value string) (uint32, error) {
	var added uint32
	err := s.change(ctx, "t", set, func(l []string) ([]string, bool) {
		i, found := slices.BinarySearch(l, value)
		added = 0
		if found {
			return l, false
		}
		added = 1
		return slices.Insert(l, i, value), true
	})
	return added, err
}

func (s *jsStore) SetDel(ctx context.Context, set, value string) (uint32, error) {
	var removed uint32
	err := s.change(ctx, "t", set, func(l []string) ([]string, bool) {
		i, found := slices.BinarySearch(l, value)
		removed = 0
		if !found {
			return l, false
		}
		removed = 1
		return slices.Delete(l, i, i+1), true
	})
	return removed, err
}

func (s *jsStore) SetClear(ctx context.Context, set string) (bool, error) {
	k, err := kvKey("t", set)
	if err != nil {
		return false, err
	}
	return s.remove(ctx, k)
}

func (s *jsStore) SetQuery(ctx context.Context, set string) ([]string, error) {
	return s.readList(ctx, "t", set)
}

func (s *jsStore) SetUnion(ctx context.Context, sets []string) ([]string, error) {
	var all []string
	for _, name := range sets {
		l, err := s.readList(ctx, "t", name)
		if err != nil {
			return nil, err
		}
		all = append(all, l...)
	}
	slices.Sort(all)
	return slices.Compact(all), nil
}

func (s *jsStore) SetIntersection(ctx context.Context, sets []string) ([]string, error) {
	var out []string
	for i, name := range sets {
		l, err := s.readList(ctx, "t", name)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			out = l
			continue
		}
		out = slices.DeleteFunc(out, func(v string) bool {
			_, found := slices.BinarySearch(l, v)
			return !found
		})
	}
	return out, nil
}
