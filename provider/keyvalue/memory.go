package keyvalue

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Memory is a Store in the process's memory, with the JetStream and Redis
// stores' semantics: strings and counters share one key space, lists and
// sets have their own. Nothing survives the process; it is the store of
// tests (package sdktest keeps an actor's keys in one) and of a host that
// needs no durability.
// It is safe for concurrent use.
type Memory struct {
	mu      sync.Mutex
	strings map[string]memValue
	lists   map[string][]string
	sets    map[string][]string // sorted
}

type memValue struct {
	value   string
	expires time.Time // zero: never
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	return &Memory{strings: map[string]memValue{}, lists: map[string][]string{}, sets: map[string][]string{}}
}

var errEmptyKey = errors.New("empty key")

// get returns the live string at key; m.mu is held.
func (m *Memory) get(key string) (string, bool) {
	v, ok := m.strings[key]
	if !ok {
		return "", false
	}
	if !v.expires.IsZero() && !time.Now().Before(v.expires) {
		delete(m.strings, key)
		return "", false
	}
	return v.value, true
}

// Get implements Store.
func (m *Memory) Get(_ context.Context, key string) (string, bool, error) {
	if key == "" {
		return "", false, errEmptyKey
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.get(key)
	return v, ok, nil
}

// Set implements Store.
func (m *Memory) Set(_ context.Context, key, value string, expires time.Duration) error {
	if key == "" {
		return errEmptyKey
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	v := memValue{value: value}
	if expires > 0 {
		v.expires = time.Now().Add(expires)
	}
	m.strings[key] = v
	return nil
}

// Del implements Store.
func (m *Memory) Del(_ context.Context, key string) (bool, error) {
	if key == "" {
		return false, errEmptyKey
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.get(key)
	delete(m.strings, key)
	return ok, nil
}

// Contains implements Store.
func (m *Memory) Contains(_ context.Context, key string) (bool, error) {
	if key == "" {
		return false, errEmptyKey
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.get(key)
	return ok, nil
}

// Increment implements Store.
func (m *Memory) Increment(_ context.Context, key string, by int32) (int32, error) {
	if key == "" {
		return 0, errEmptyKey
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var n int64
	if old, ok := m.get(key); ok {
		v, err := strconv.ParseInt(old, 10, 32)
		if err != nil {
			return 0, fmt.Errorf("key %q holds %q, not an integer", key, old)
		}
		n = v
	}
	n += int64(by)
	if n > 1<<31-1 || n < -1<<31 {
		return 0, fmt.Errorf("key %q: increment overflows a 32-bit integer", key)
	}
	m.strings[key] = memValue{value: strconv.FormatInt(n, 10), expires: m.strings[key].expires}
	return int32(n), nil
}

// ListAdd implements Store.
func (m *Memory) ListAdd(_ context.Context, list, value string) (uint32, error) {
	if list == "" {
		return 0, errEmptyKey
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lists[list] = append(m.lists[list], value)
	return uint32(len(m.lists[list])), nil
}

// ListClear implements Store.
func (m *Memory) ListClear(_ context.Context, list string) (bool, error) {
	return m.clear(m.lists, list)
}

// ListDel implements Store.
func (m *Memory) ListDel(_ context.Context, list, value string) (bool, error) {
	if list == "" {
		return false, errEmptyKey
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.lists[list]
	i := slices.Index(l, value)
	if i < 0 {
		return false, nil
	}
	m.lists[list] = slices.Delete(l, i, i+1)
	return true, nil
}

// ListRange implements Store.
func (m *Memory) ListRange(_ context.Context, list string, start, stop int32) ([]string, error) {
	if list == "" {
		return nil, errEmptyKey
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.lists[list]
	lo, hi := rangeOf(len(l), start, stop)
	return slices.Clone(l[lo:hi]), nil
}

// SetAdd implements Store.
func (m *Memory) SetAdd(_ context.Context, set, value string) (uint32, error) {
	if set == "" {
		return 0, errEmptyKey
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.sets[set]
	i, found := slices.BinarySearch(l, value)
	if found {
		return 0, nil
	}
	m.sets[set] = slices.Insert(l, i, value)
	return 1, nil
}

// SetDel implements Store.
func (m *Memory) SetDel(_ context.Context, set, value string) (uint32, error) {
	if set == "" {
		return 0, errEmptyKey
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.sets[set]
	i, found := slices.BinarySearch(l, value)
	if !found {
		return 0, nil
	}
	m.sets[set] = slices.Delete(l, i, i+1)
	return 1, nil
}

// SetClear implements Store.
func (m *Memory) SetClear(_ context.Context, set string) (bool, error) {
	return m.clear(m.sets, set)
}

// clear removes name from lists or sets and reports whether it was there.
func (m *Memory) clear(in map[string][]string, name string) (bool, error) {
	if name == "" {
		return false, errEmptyKey
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := in[name]
	delete(in, name)
	return ok, nil
}

// SetQuery implements Store.
func (m *Memory) SetQuery(_ context.Context, set string) ([]string, error) {
	if set == "" {
		return nil, errEmptyKey
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.sets[set]), nil
}

// SetUnion implements Store.
func (m *Memory) SetUnion(_ context.Context, sets []string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var all []string
	for _, name := range sets {
		all = append(all, m.sets[name]...)
	}
	slices.Sort(all)
	return slices.Compact(all), nil
}

// SetIntersection implements Store.
func (m *Memory) SetIntersection(_ context.Context, sets []string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for i, name := range sets {
		l := m.sets[name]
		if i == 0 {
			out = slices.Clone(l)
			continue
		}
		out = slices.DeleteFunc(out, func(v string) bool {
			_, found := slices.BinarySearch(l, v)
			return !found
		})
	}
	return out, nil
}

// Close implements Store; the store stays usable.
func (m *Memory) Close() error { return nil }
