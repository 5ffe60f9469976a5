// Package keyvalue is the wasmcloud:keyvalue provider: strings, counters,
// lists and sets for actors, stored in a JetStream key-value bucket of the
// lattice (durable, replicated with the NATS cluster) or, when a link sets
// URL=redis://…, in Redis.
//
// Link values:
//
//	BUCKET   JetStream bucket the actors linked to it share; without it an
//	         actor's keys are its own (the bucket "wisp_kv", each key
//	         under the actor's id), so no actor reads another's data
//	URL      redis://[user:password@]host:port[/db] to use Redis instead,
//	         shared by the actors linked to it
//
// Payloads are wasmCloud's: MessagePack, structs as maps with camelCase
// field names, a bare string for single-key operations.
package keyvalue

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/wisp-dev/wisp/provider"
)

// Contract is the contract id the provider serves.
const Contract = "wasmcloud:keyvalue"

// DefaultBucket is the JetStream bucket of links that name none.
const DefaultBucket = "wisp_kv"

func init() {
	provider.Register("keyvalue", func() provider.Provider { return &Provider{} })
}

// Request and response payloads of wasmcloud:keyvalue.
type (
	// GetResponse answers KeyValue.Get.
	GetResponse struct {
		Value  string `msgpack:"value"`
		Exists bool   `msgpack:"exists"`
	}
	// SetRequest is KeyValue.Set's argument; Expires is in seconds, 0 for
	// never.
	SetRequest struct {
		Key     string `msgpack:"key"`
		Value   string `msgpack:"value"`
		Expires uint32 `msgpack:"expires"`
	}
	// IncrementRequest is KeyValue.Increment's argument.
	IncrementRequest struct {
		Key   string `msgpack:"key"`
		Value int32  `msgpack:"value"`
	}
	// ListAddRequest is KeyValue.ListAdd's argument.
	ListAddRequest struct {
		ListName string `msgpack:"listName"`
		Value    string `msgpack:"value"`
	}
	// ListDelRequest is KeyValue.ListDel's argument.
	ListDelRequest struct {
		ListName string `msgpack:"listName"`
		Value    string `msgpack:"value"`
	}
	// ListRangeRequest is KeyValue.ListRange's argument; Start and Stop are
	// inclusive and may count from the end (-1 is the last item).
	ListRangeRequest struct {
		ListName string `msgpack:"listName"`
		Start    int32  `msgpack:"start"`
		Stop     int32  `msgpack:"stop"`
	}
	// SetAddRequest is KeyValue.SetAdd's argument.
	SetAddRequest struct {
		SetName string `msgpack:"setName"`
		Value   string `msgpack:"value"`
	}
	// SetDelRequest is KeyValue.SetDel's argument.
	SetDelRequest struct {
		SetName string `msgpack:"setName"`
		Value   string `msgpack:"value"`
	}
)

// Store is a backend of the provider.
type Store interface {
	Get(ctx context.Context, key string) (string, bool, error)
	Set(ctx context.Context, key, value string, expires time.Duration) error
	Del(ctx context.Context, key string) (bool, error)
	Contains(ctx context.Context, key string) (bool, error)
	Increment(ctx context.Context, key string, by int32) (int32, error)
	ListAdd(ctx context.Context, list, value string) (uint32, error)
	ListClear(ctx context.Context, list string) (bool, error)
	ListDel(ctx context.Context, list, value string) (bool, error)
	ListRange(ctx context.Context, list string, start, stop int32) ([]string, error)
	SetAdd(ctx context.Context, set, value string) (uint32, error)
	SetDel(ctx context.Context, set, value string) (uint32, error)
	SetClear(ctx context.Context, set string) (bool, error)
	SetQuery(ctx context.Context, set string) ([]string, error)
	SetUnion(ctx context.Context, sets []string) ([]string, error)
	SetIntersection(ctx context.Context, sets []string) ([]string, error)
	Close() error
}

// Provider serves wasmcloud:keyvalue.
type Provider struct {
	rt provider.Runtime

	mu     sync.Mutex
	links  map[string]binding // actor/link name → its backend
	stores map[string]*shared // backend key → store
}

// binding is the backend of one link and the prefix that keeps the
// actor's names its own ("" when the link shares the backend).
type binding struct {
	backend string
	prefix  string
}

type shared struct {
	Store
	refs  int // links that use it
	calls int // calls under way on it: it closes when both are 0
}

// Contract implements provider.Provider.
func (p *Provider) Contract() string { return Contract }

// Start implements provider.Provider.
func (p *Provider) Start(_ context.Context, rt provider.Runtime) error {
	p.rt = rt
	p.links = map[string]binding{}
	p.stores = map[string]*shared{}
	return nil
}

func linkKey(actor, name string) string {
	if name == "" {
		name = "default"
	}
	return actor + "/" + name
}

// PutLink opens (or shares) the backend the link names. A new value of
// a link already put moves it to its new backend in place: the new one
// opens first (a backend that cannot open leaves the link as it was),
// calls under way finish on the old one, which closes after them when
// no other link uses it.
func (p *Provider) PutLink(ctx context.Context, l provider.Link) error {
	backend, open, err := p.backend(l)
	if err != nil {
		return err
	}
	b := binding{backend: backend}
	if l.Value("BUCKET", "") == "" && l.Value("URL", "") == "" {
		b.prefix = l.Actor + "."
	}
	k := linkKey(l.Actor, l.LinkName())
	p.mu.Lock()
	old, had := p.links[k]
	_, opened := p.stores[backend]
	p.mu.Unlock()
	if had && old == b {
		return nil
	}
	var st Store
	if !opened {
		// Opened without the lock: calls on other links go on meanwhile.
		if st, err = open(ctx); err != nil {
			return fmt.Errorf("link %s: %w", l.Key(), err)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.stores[backend]
	switch {
	case !ok && st == nil:
		// The backend closed since: open it again, under the lock.
		if st, err = open(ctx); err != nil {
			return fmt.Errorf("link %s: %w", l.Key(), err)
		}
		fallthrough
	case !ok:
		s = &shared{Store: st}
		p.stores[backend] = s
	case st != nil:
		st.Close() // another put opened it meanwhile
	}
	s.refs++
	if old, ok := p.links[k]; ok {
		p.release(old.backend)
	}
	p.links[k] = b
	return nil
}

// backend names the store a link uses and how to open it.
func (p *Provider) backend(l provider.Link) (string, func(context.Context) (Store, error), error) {
	if url := l.Value("URL", ""); url != "" {
		if !strings.HasPrefix(url, "redis://") && !strings.HasPrefix(url, "rediss://") {
			scheme, _, _ := strings.Cut(url, ":") // the rest may hold a password
			return "", nil, fmt.Errorf("link %s: URL with scheme %q: want redis://host:port", l.Key(), scheme)
		}
		return url, func(ctx context.Context) (Store, error) { return OpenRedis(ctx, url) }, nil
	}
	bucket := l.Value("BUCKET", DefaultBucket)
	return "js:" + bucket, func(ctx context.Context) (Store, error) {
		return OpenJetStream(ctx, p.rt.Conn(), bucket)
	}, nil
}

// release drops a reference to a backend; p.mu is held.
func (p *Provider) release(backend string) {
	s := p.stores[backend]
	if s == nil {
		return
	}
	if s.refs--; s.refs <= 0 {
		delete(p.stores, backend)
		if s.calls == 0 {
			s.Close()
		}
	}
}

// DelLink implements provider.Provider.
func (p *Provider) DelLink(_ context.Context, l provider.Link) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := linkKey(l.Actor, l.LinkName())
	if b, ok := p.links[k]; ok {
		delete(p.links, k)
		p.release(b.backend)
	}
	return nil
}

// Stop implements provider.Provider.
func (p *Provider) Stop(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for b, s := range p.stores {
		errs = append(errs, s.Close())
		delete(p.stores, b)
	}
	clear(p.links)
	return errors.Join(errs...)
}

// store is the backend of the call's link and the done the call must run
// when it ends: the backend stays open until then.
func (p *Provider) store(c provider.Call) (Store, func(), error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b, ok := p.links[linkKey(c.Actor, c.LinkName)]
	if !ok {
		return nil, nil, fmt.Errorf("%w: %s has no %s link named %q", provider.ErrNotLinked, c.Actor, Contract, c.LinkName)
	}
	sh := p.stores[b.backend]
	sh.calls++
	done := func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if sh.calls--; sh.calls == 0 && sh.refs <= 0 {
			sh.Close() // its links moved on while the call ran
		}
	}
	if b.prefix != "" {
		return scoped{sh.Store, b.prefix}, done, nil
	}
	return sh.Store, done, nil
}

// Handle implements provider.Provider: it decodes the operation's
// argument, runs it on the actor's store and encodes the answer.
func (p *Provider) Handle(ctx context.Context, c provider.Call) ([]byte, error) {
	s, done, err := p.store(c)
	if err != nil {
		return nil, err
	}
	defer done()
	out, err := Dispatch(ctx, s, c.Operation, c.Payload)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.Operation, err)
	}
	return out, nil
}

// Dispatch runs one wasmcloud:keyvalue operation on s.
func Dispatch(ctx context.Context, s Store, op string, payload []byte) ([]byte, error) {
	var (
		key     string
		sets    []string
		result  any
		err     error
		decode  = func(v any) error { return provider.DecodePayload(payload, v) }
		oneName = func() error { return decode(&key) }
	)
	switch op {
	case "KeyValue.Get":
		if err = oneName(); err == nil {
			var r GetResponse
			r.Value, r.Exists, err = s.Get(ctx, key)
			result = r
		}
	case "KeyValue.Set":
		var r SetRequest
		if err = decode(&r); err == nil {
			err = s.Set(ctx, r.Key, r.Value, time.Duration(r.Expires)*time.Second)
		}
	case "KeyValue.Del":
		if err = oneName(); err == nil {
			result, err = s.Del(ctx, key)
		}
	case "KeyValue.Contains":
		if err = oneName(); err == nil {
			result, err = s.Contains(ctx, key)
		}
	case "KeyValue.Increment":
		var r IncrementRequest
		if err = decode(&r); err == nil {
			result, err = s.Increment(ctx, r.Key, r.Value)
		}
	case "KeyValue.ListAdd":
		var r ListAddRequest
		if err = decode(&r); err == nil {
			result, err = s.ListAdd(ctx, r.ListName, r.Value)
		}
	case "KeyValue.ListClear":
		if err = oneName(); err == nil {
			result, err = s.ListClear(ctx, key)
		}
	case "KeyValue.ListDel":
		var r ListDelRequest
		if err = decode(&r); err == nil {
			result, err = s.ListDel(ctx, r.ListName, r.Value)
		}
	case "KeyValue.ListRange":
		var r ListRangeRequest
		if err = decode(&r); err == nil {
			result, err = s.ListRange(ctx, r.ListName, r.Start, r.Stop)
		}
	case "KeyValue.SetAdd":
		var r SetAddRequest
		if err = decode(&r); err == nil {
			result, err = s.SetAdd(ctx, r.SetName, r.Value)
		}
	case "KeyValue.SetDel":
		var r SetDelRequest
		if err = decode(&r); err == nil {
			result, err = s.SetDel(ctx, r.SetName, r.Value)
		}
	case "KeyValue.SetClear":
		if err = oneName(); err == nil {
			result, err = s.SetClear(ctx, key)
		}
	case "KeyValue.SetQuery":
		if err = oneName(); err == nil {
			result, err = s.SetQuery(ctx, key)
		}
	case "KeyValue.SetUnion":
		if err = decode(&sets); err == nil {
			result, err = s.SetUnion(ctx, sets)
		}
	case "KeyValue.SetIntersection":
		if err = decode(&sets); err == nil {
			result, err = s.SetIntersection(ctx, sets)
		}
	default:
		return nil, fmt.Errorf("%w %q for %s", provider.ErrUnknownOperation, op, Contract)
	}
	if err != nil {
		return nil, err
	}
	if result == nil {
		return nil, nil
	}
	if l, ok := result.([]string); ok && l == nil {
		result = []string{}
	}
	return msgpack.Marshal(result)
}

// rangeOf resolves Redis-style inclusive indices (negative from the end)
// over n items to a half-open [lo, hi).
func rangeOf(n int, start, stop int32) (int, int) {
	lo, hi := int(start), int(stop)
	if lo < 0 {
		lo += n
	}
	if hi < 0 {
		hi += n
	}
	lo = max(lo, 0)
	hi = min(hi, n-1)
	if lo > hi {
		return 0, 0
	}
	return lo, hi + 1
}

// sorted sorts a set's members, so both backends answer in one order.
func sorted(l []string, err error) ([]string, error) {
	slices.Sort(l)
	return l, err
}
