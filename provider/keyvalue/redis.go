package keyvalue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisStore maps the contract onto Redis commands one to one, as
// wasmCloud's Redis provider does: strings with SET/GET/INCRBY, lists with
// RPUSH/LREM/LRANGE, sets with SADD/SREM/SMEMBERS/SUNION/SINTER.
type redisStore struct {
	c *redis.Client
}

// OpenRedis connects to the Redis server at url (redis://host:port[/db])
// and checks it answers.
func OpenRedis(ctx context.Context, url string) (Store, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis URL: %w", err)
	}
	c := redis.NewClient(opts)
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("redis %s: %w", opts.Addr, err)
	}
	return &redisStore{c: c}, nil
}

func (s *redisStore) Close() error { return s.c.Close() }

func (s *redisStore) Get(ctx context.Context, key string) (string, bool, error) {
	v, err := s.c.Get(ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	return v, err == nil, err
}

func (s *redisStore) Set(ctx context.Context, key, value string, expires time.Duration) error {
	return s.c.Set(ctx, key, value, expires).Err()
}

func (s *redisStore) Del(ctx context.Context, key string) (bool, error) {
	n, err := s.c.Del(ctx, key).Result()
	return n > 0, err
}

func (s *redisStore) Contains(ctx context.Context, key string) (bool, error) {
	n, err := s.c.Exists(ctx, key).Result()
	return n > 0, err
}

func (s *redisStore) Increment(ctx context.Context, key string, by int32) (int32, error) {
	n, err := s.c.IncrBy(ctx, key, int64(by)).Result()
	return int32(n), err
}

func (s *redisStore) ListAdd(ctx context.Context, list, value string) (uint32, error) {
	n, err := s.c.RPush(ctx, list, value).Result()
	return uint32(n), err
}

func (s *redisStore) ListClear(ctx context.Context, list string) (bool, error) {
	return s.Del(ctx, list)
}

func (s *redisStore) ListDel(ctx context.Context, list, value string) (bool, error) {
	n, err := s.c.LRem(ctx, list, 1, value).Result()
	return n > 0, err
}

func (s *redisStore) ListRange(ctx context.Context, list string, start, stop int32) ([]string, error) {
	return s.c.LRange(ctx, list, int64(start), int64(stop)).Result()
}

func (s *redisStore) SetAdd(ctx context.Context, set, value string) (uint32, error) {
	n, err := s.c.SAdd(ctx, set, value).Result()
	return uint32(n), err
}

func (s *redisStore) SetDel(ctx context.Context, set, value string) (uint32, error) {
	n, err := s.c.SRem(ctx, set, value).Result()
	return uint32(n), err
}

func (s *redisStore) SetClear(ctx context.Context, set string) (bool, error) {
	return s.Del(ctx, set)
}

func (s *redisStore) SetQuery(ctx context.Context, set string) ([]string, error) {
	return sorted(s.c.SMembers(ctx, set).Result())
}

func (s *redisStore) SetUnion(ctx context.Context, sets []string) ([]string, error) {
	return sorted(s.c.SUnion(ctx, sets...).Result())
}

func (s *redisStore) SetIntersection(ctx context.Context, sets []string) ([]string, error) {
	return sorted(s.c.SInter(ctx, sets...).Result())
}
