package keyvalue

import (
	"context"
	"time"
)

// scoped is an actor's own view of a shared store: every key, list and set
// name is under the actor's prefix, so actors linked without BUCKET never
// see each other's data.
type scoped struct {
	Store
	prefix string
}

func (s scoped) Get(ctx context.Context, key string) (string, bool, error) {
	return s.Store.Get(ctx, s.name(key))
}

func (s scoped) Set(ctx context.Context, key, value string, expires time.Duration) error {
	return s.Store.Set(ctx, s.name(key), value, expires)
}

func (s scoped) Del(ctx context.Context, key string) (bool, error) {
	return s.Store.Del(ctx, s.name(key))
}

func (s scoped) Contains(ctx context.Context, key string) (bool, error) {
	return s.Store.Contains(ctx, s.name(key))
}

func (s scoped) Increment(ctx context.Context, key string, by int32) (int32, error) {
	return s.Store.Increment(ctx, s.name(key), by)
}

func (s scoped) ListAdd(ctx context.Context, list, value string) (uint32, error) {
	return s.Store.ListAdd(ctx, s.name(list), value)
}

func (s scoped) ListClear(ctx context.Context, list string) (bool, error) {
	return s.Store.ListClear(ctx, s.name(list))
}

func (s scoped) ListDel(ctx context.Context, list, value string) (bool, error) {
	return s.Store.ListDel(ctx, s.name(list), value)
}

func (s scoped) ListRange(ctx context.Context, list string, start, stop int32) ([]string, error) {
	return s.Store.ListRange(ctx, s.name(list), start, stop)
}

func (s scoped) SetAdd(ctx context.Context, set, value string) (uint32, error) {
	return s.Store.SetAdd(ctx, s.name(set), value)
}

func (s scoped) SetDel(ctx context.Context, set, value string) (uint32, error) {
	return s.Store.SetDel(ctx, s.name(set), value)
}

func (s scoped) SetClear(ctx context.Context, set string) (bool, error) {
	return s.Store.SetClear(ctx, s.name(set))
}

func (s scoped) SetQuery(ctx context.Context, set string) ([]string, error) {
	return s.Store.SetQuery(ctx, s.name(set))
}

func (s scoped) SetUnion(ctx context.Context, sets []string) ([]string, error) {
	return s.Store.SetUnion(ctx, s.names(sets))
}

func (s scoped) SetIntersection(ctx context.Context, sets []string) ([]string, error) {
	return s.Store.SetIntersection(ctx, s.names(sets))
}

// name is n under the prefix; an empty name stays empty, so the store
// refuses it as it would unscoped.
func (s scoped) name(n string) string {
	if n == "" {
		return ""
	}
	return s.prefix + n
}

func (s scoped) names(l []string) []string {
	out := make([]string, len(l))
	for i, n := range l {
		out[i] = s.name(n)
	}
	return out
}
