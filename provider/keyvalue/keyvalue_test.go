package keyvalue_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/wisp-dev/wisp/internal/testwait"
	"github.com/wisp-dev/wisp/lattice/natsserver"
	"github.com/wisp-dev/wisp/provider"
	"github.com/wisp-dev/wisp/provider/keyvalue"
)

// runtime is the provider.Runtime of these tests: a NATS connection and a
// logger; the key-value provider never calls actors.
type runtime struct{ nc *nats.Conn }

func (r runtime) CallActor(context.Context, string, string, []byte) ([]byte, error) {
	return nil, errors.New("the key-value provider calls no actor")
}
func (r runtime) Logger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
func (r runtime) Conn() *nats.Conn     { return r.nc }
func (r runtime) Lattice() string      { return "default" }

func startNATS(t *testing.T) *nats.Conn {
	t.Helper()
	srv, err := natsserver.Start(context.Background(), natsserver.Config{Port: -1, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// startRedis runs Debian's redis-server on a free 127.0.0.1 port, without
// persistence, and returns its URL.
func startRedis(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: runs redis-server")
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server is not installed: .ci/run installs Debian's redis-server package")
		}
		t.Skip("redis-server is not installed (Debian package redis-server; bash .ci/run installs it)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", fmt.Sprint(port), "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	testwait.Eventually(t, 10*time.Second, func() error {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			return fmt.Errorf("redis-server did not start: %w", err)
		}
		return c.Close()
	})
	return fmt.Sprintf("redis://127.0.0.1:%d/0", port)
}

// actor calls the provider as a linked actor would: MessagePack in and out.
type actor struct {
	t    *testing.T
	p    handler
	name string
}

// handler is the provider as an actor reaches it.
type handler interface {
	Handle(context.Context, provider.Call) ([]byte, error)
}

// memory serves calls from a keyvalue.Memory, as the provider serves them
// from its backends.
type memory struct{ s *keyvalue.Memory }

func (m memory) Handle(ctx context.Context, c provider.Call) ([]byte, error) {
	return keyvalue.Dispatch(ctx, m.s, c.Operation, c.Payload)
}

func (a actor) call(op string, arg, result any) error {
	a.t.Helper()
	var payload []byte
	if arg != nil {
		var err error
		if payload, err = msgpack.Marshal(arg); err != nil {
			a.t.Fatal(err)
		}
	}
	out, err := a.p.Handle(context.Background(), provider.Call{Actor: a.name, LinkName: "default", Operation: op, Payload: payload})
	if err != nil {
		return err
	}
	if result != nil {
		if err := msgpack.Unmarshal(out, result); err != nil {
			a.t.Fatalf("%s answer %x: %v", op, out, err)
		}
	}
	return nil
}

func (a actor) must(op string, arg, result any) {
	a.t.Helper()
	if err := a.call(op, arg, result); err != nil {
		a.t.Fatalf("%s: %v", op, err)
	}
}

func newProvider(t *testing.T, nc *nats.Conn, links ...provider.Link) provider.Provider {
	t.Helper()
	p, err := provider.New("keyvalue")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := p.Start(ctx, runtime{nc}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop(ctx) })
	for _, l := range links {
		if err := p.PutLink(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// backends runs fn against the JetStream bucket, Redis and the in-memory
// store: all three keep the same semantics.
func backends(t *testing.T, fn func(t *testing.T, a actor)) {
	t.Run("memory", func(t *testing.T) {
		fn(t, actor{t, memory{keyvalue.NewMemory()}, "kv"})
	})
	t.Run("jetstream", func(t *testing.T) {
		p := newProvider(t, startNATS(t), provider.Link{Actor: "kv", Contract: keyvalue.Contract, Values: map[string]string{"bucket": "test_kv"}})
		fn(t, actor{t, p, "kv"})
	})
	t.Run("redis", func(t *testing.T) {
		p := newProvider(t, nil, provider.Link{Actor: "kv", Contract: keyvalue.Contract, Values: map[string]string{"URL": startRedis(t)}})
		fn(t, actor{t, p, "kv"})
	})
}

func TestEveryOperation(t *testing.T) {
	backends(t, func(t *testing.T, a actor) {
		var got keyvalue.GetResponse
		a.must("KeyValue.Get", "counter:/hello world", &got)
		if got.Exists {
			t.Fatalf("Get of a new key: %+v", got)
		}
		a.must("KeyValue.Set", keyvalue.SetRequest{Key: "counter:/hello world", Value: "v1"}, nil)
		a.must("KeyValue.Get", "counter:/hello world", &got)
		if !got.Exists || got.Value != "v1" {
			t.Fatalf("Get after Set: %+v", got)
		}
		var ok bool
		a.must("KeyValue.Contains", "counter:/hello world", &ok)
		if !ok {
			t.Fatal("Contains after Set = false")
		}
		a.must("KeyValue.Del", "counter:/hello world", &ok)
		if !ok {
			t.Fatal("Del of an existing key = false")
		}
		a.must("KeyValue.Del", "counter:/hello world", &ok)
		a.must("KeyValue.Contains", "counter:/hello world", &ok)
		if ok {
			t.Fatal("Contains after Del = true")
		}

		var n int32
		a.must("KeyValue.Increment", keyvalue.IncrementRequest{Key: "hits", Value: 5}, &n)
		a.must("KeyValue.Increment", keyvalue.IncrementRequest{Key: "hits", Value: -2}, &n)
		if n != 3 {
			t.Fatalf("Increment = %d, want 3", n)
		}
		a.must("KeyValue.Get", "hits", &got)
		if got.Value != "3" {
			t.Fatalf("a counter reads as %q", got.Value)
		}
		a.must("KeyValue.Set", keyvalue.SetRequest{Key: "word", Value: "abc"}, nil)
		if err := a.call("KeyValue.Increment", keyvalue.IncrementRequest{Key: "word", Value: 1}, nil); err == nil {
			t.Fatal("Increment of a non-number succeeded")
		}

		var length uint32
		for _, v := range []string{"a", "b", "c", "b"} {
			a.must("KeyValue.ListAdd", keyvalue.ListAddRequest{ListName: "l", Value: v}, &length)
		}
		if length != 4 {
			t.Fatalf("ListAdd length = %d", length)
		}
		var items []string
		a.must("KeyValue.ListRange", keyvalue.ListRangeRequest{ListName: "l", Start: 0, Stop: -1}, &items)
		if strings.Join(items, ",") != "a,b,c,b" {
			t.Fatalf("ListRange 0..-1 = %v", items)
		}
		a.must("KeyValue.ListRange", keyvalue.ListRangeRequest{ListName: "l", Start: 1, Stop: 2}, &items)
		if strings.Join(items, ",") != "b,c" {
			t.Fatalf("ListRange 1..2 = %v", items)
		}
		a.must("KeyValue.ListDel", keyvalue.ListDelRequest{ListName: "l", Value: "b"}, &ok)
		a.must("KeyValue.ListRange", keyvalue.ListRangeRequest{ListName: "l", Start: 0, Stop: -1}, &items)
		if !ok || strings.Join(items, ",") != "a,c,b" {
			t.Fatalf("after ListDel: %v %v", ok, items)
		}
		a.must("KeyValue.ListClear", "l", &ok)
		a.must("KeyValue.ListRange", keyvalue.ListRangeRequest{ListName: "l", Start: 0, Stop: -1}, &items)
		if !ok || len(items) != 0 {
			t.Fatalf("after ListClear: %v %v", ok, items)
		}

		var added uint32
		for _, v := range []string{"x", "y", "x"} {
			a.must("KeyValue.SetAdd", keyvalue.SetAddRequest{SetName: "s1", Value: v}, &added)
		}
		if added != 0 {
			t.Fatalf("SetAdd of a member = %d", added)
		}
		for _, v := range []string{"y", "z"} {
			a.must("KeyValue.SetAdd", keyvalue.SetAddRequest{SetName: "s2", Value: v}, &added)
		}
		a.must("KeyValue.SetQuery", "s1", &items)
		if strings.Join(items, ",") != "x,y" {
			t.Fatalf("SetQuery = %v", items)
		}
		a.must("KeyValue.SetUnion", []string{"s1", "s2"}, &items)
		if strings.Join(items, ",") != "x,y,z" {
			t.Fatalf("SetUnion = %v", items)
		}
		a.must("KeyValue.SetIntersection", []string{"s1", "s2"}, &items)
		if strings.Join(items, ",") != "y" {
			t.Fatalf("SetIntersection = %v", items)
		}
		a.must("KeyValue.SetDel", keyvalue.SetDelRequest{SetName: "s1", Value: "x"}, &added)
		a.must("KeyValue.SetQuery", "s1", &items)
		if added != 1 || strings.Join(items, ",") != "y" {
			t.Fatalf("after SetDel: %d %v", added, items)
		}
		a.must("KeyValue.SetClear", "s1", &ok)
		a.must("KeyValue.SetQuery", "s1", &items)
		if !ok || len(items) != 0 {
			t.Fatalf("after SetClear: %v %v", ok, items)
		}

		// Set with an expiry: there, then gone.
		a.must("KeyValue.Set", keyvalue.SetRequest{Key: "session", Value: "s", Expires: 1}, nil)
		a.must("KeyValue.Get", "session", &got)
		if !got.Exists {
			t.Fatal("a key with an expiry is missing at once")
		}
		testwait.Eventually(t, 15*time.Second, func() error {
			if a.must("KeyValue.Get", "session", &got); got.Exists {
				return errors.New("a key set to expire after 1s is still there")
			}
			return nil
		})
	})
}

func TestConcurrentIncrementsLoseNothing(t *testing.T) {
	backends(t, func(t *testing.T, a actor) {
		const writers, each = 8, 25
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range each {
					if err := a.call("KeyValue.Increment", keyvalue.IncrementRequest{Key: "n", Value: 1}, nil); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		var got keyvalue.GetResponse
		a.must("KeyValue.Get", "n", &got)
		if got.Value != fmt.Sprint(writers*each) {
			t.Fatalf("after %d increments: %q", writers*each, got.Value)
		}
	})
}

func TestBadCalls(t *testing.T) {
	nc := startNATS(t)
	p := newProvider(t, nc, provider.Link{Actor: "kv", Contract: keyvalue.Contract})
	a := actor{t, p, "kv"}
	if err := a.call("KeyValue.Explode", "x", nil); !errors.Is(err, provider.ErrUnknownOperation) {
		t.Fatalf("unknown operation: %v", err)
	}
	if _, err := p.Handle(context.Background(), provider.Call{Actor: "kv", LinkName: "default", Operation: "KeyValue.Set", Payload: []byte{0xc1}}); !errors.Is(err, provider.ErrBadPayload) {
		t.Fatalf("malformed payload: %v", err)
	}
	if err := (actor{t, p, "stranger"}).call("KeyValue.Get", "x", nil); !errors.Is(err, provider.ErrNotLinked) {
		t.Fatalf("unlinked actor: %v", err)
	}
	if err := a.call("KeyValue.Get", "", nil); err == nil {
		t.Fatal("empty key accepted")
	}
	// A bad Redis URL fails the link, not the provider.
	ctx := context.Background()
	if err := p.PutLink(ctx, provider.Link{Actor: "r", Contract: keyvalue.Contract, Values: map[string]string{"URL": "http://x"}}); err == nil {
		t.Fatal("non-redis URL accepted")
	}
	if err := p.PutLink(ctx, provider.Link{Actor: "r", Contract: keyvalue.Contract, Values: map[string]string{"URL": "redis://127.0.0.1:1"}}); err == nil {
		t.Fatal("unreachable redis accepted")
	}
	// Deleting the link cuts the actor off.
	if err := p.DelLink(ctx, provider.Link{Actor: "kv", Contract: keyvalue.Contract}); err != nil {
		t.Fatal(err)
	}
	if err := a.call("KeyValue.Get", "x", nil); !errors.Is(err, provider.ErrNotLinked) {
		t.Fatalf("after DelLink: %v", err)
	}
}

// TestBucketsIsolateActors: two actors on different buckets do not see
// each other's keys; two on one bucket do, and the data outlives the
// provider.
func TestBucketsIsolateActors(t *testing.T) {
	nc := startNATS(t)
	link := func(actor, bucket string) provider.Link {
		return provider.Link{Actor: actor, Contract: keyvalue.Contract, Values: map[string]string{"BUCKET": bucket}}
	}
	p := newProvider(t, nc, link("a", "one"), link("b", "two"), link("c", "one"))
	actor{t, p, "a"}.must("KeyValue.Set", keyvalue.SetRequest{Key: "k", Value: "from a"}, nil)
	var got keyvalue.GetResponse
	actor{t, p, "b"}.must("KeyValue.Get", "k", &got)
	if got.Exists {
		t.Fatal("bucket two sees bucket one's key")
	}
	actor{t, p, "c"}.must("KeyValue.Get", "k", &got)
	if got.Value != "from a" {
		t.Fatalf("same bucket: %+v", got)
	}
	p.Stop(context.Background())
	p2 := newProvider(t, nc, link("a", "one"))
	actor{t, p2, "a"}.must("KeyValue.Get", "k", &got)
	if got.Value != "from a" {
		t.Fatalf("after a provider restart: %+v", got)
	}
}

// TestActorsKeepTheirOwnKeysUnlessTheyShareABucket: links without BUCKET
// give each actor its own keys in the default bucket; a BUCKET named in
// both links is shared.
func TestActorsKeepTheirOwnKeysUnlessTheyShareABucket(t *testing.T) {
	nc := startNATS(t)
	p := newProvider(t, nc,
		provider.Link{Actor: "alice", Contract: keyvalue.Contract},
		provider.Link{Actor: "mallory", Contract: keyvalue.Contract},
		provider.Link{Actor: "shop", Contract: keyvalue.Contract, Values: map[string]string{"BUCKET": "orders"}},
		provider.Link{Actor: "billing", Contract: keyvalue.Contract, Values: map[string]string{"BUCKET": "orders"}})
	alice, mallory := actor{t, p, "alice"}, actor{t, p, "mallory"}
	if err := alice.call("KeyValue.Set", keyvalue.SetRequest{Key: "secret", Value: "42"}, nil); err != nil {
		t.Fatal(err)
	}
	var got keyvalue.GetResponse
	if err := mallory.call("KeyValue.Get", "secret", &got); err != nil || got.Exists {
		t.Fatalf("mallory read alice's key: %+v %v", got, err)
	}
	if err := mallory.call("KeyValue.SetAdd", keyvalue.SetAddRequest{SetName: "s", Value: "m"}, nil); err != nil {
		t.Fatal(err)
	}
	var members []string
	if err := alice.call("KeyValue.SetUnion", []string{"s"}, &members); err != nil || len(members) != 0 {
		t.Fatalf("alice saw mallory's set: %v %v", members, err)
	}
	if err := alice.call("KeyValue.Get", "secret", &got); err != nil || got.Value != "42" {
		t.Fatalf("alice's own key: %+v %v", got, err)
	}
	if err := (actor{t, p, "shop"}).call("KeyValue.Set", keyvalue.SetRequest{Key: "o1", Value: "paid"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := (actor{t, p, "billing"}).call("KeyValue.Get", "o1", &got); err != nil || got.Value != "paid" {
		t.Fatalf("a shared BUCKET: %+v %v", got, err)
	}
}

// TestANewLinkValueLosesNoCall: 8 callers increment a counter while the
// actor's link moves from one Redis database to another and back, 20
// times: no call fails (the backend a call took stays open until the call
// ends), and the two databases' counters add up to the calls.
func TestANewLinkValueLosesNoCall(t *testing.T) {
	url := startRedis(t)
	db1 := strings.TrimSuffix(url, "/0") + "/1"
	link := func(u string) provider.Link {
		return provider.Link{Actor: "kv", Contract: keyvalue.Contract, Values: map[string]string{"URL": u}}
	}
	p := newProvider(t, nil, link(url))
	var (
		wg    sync.WaitGroup
		stop  = make(chan struct{})
		calls atomic.Int64
		fails atomic.Int64
		first atomic.Value
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				payload, _ := msgpack.Marshal(keyvalue.IncrementRequest{Key: "n", Value: 1})
				_, err := p.Handle(context.Background(), provider.Call{Actor: "kv", LinkName: "default", Operation: "KeyValue.Increment", Payload: payload})
				calls.Add(1)
				if err != nil {
					fails.Add(1)
					first.CompareAndSwap(nil, err.Error())
				}
			}
		}()
	}
	for i := range 20 {
		from := calls.Load()
		testwait.Eventually(t, 10*time.Second, func() error {
			if calls.Load()-from < 50 {
				return fmt.Errorf("%d calls since the last link change", calls.Load()-from)
			}
			return nil
		})
		u := url
		if i%2 == 0 {
			u = db1
		}
		if err := p.PutLink(context.Background(), link(u)); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if fails.Load() > 0 {
		t.Errorf("%d of %d calls failed while the link changed; first: %v", fails.Load(), calls.Load(), first.Load())
	}
	total := int64(0)
	for _, u := range []string{url, db1} {
		q := newProvider(t, nil, link(u))
		var n int64
		var got keyvalue.GetResponse
		actor{t, q, "kv"}.must("KeyValue.Get", "n", &got)
		fmt.Sscan(got.Value, &n)
		total += int64(n)
	}
	if total != calls.Load()-fails.Load() {
		t.Errorf("the counters of both databases add to %d; %d calls succeeded", total, calls.Load()-fails.Load())
	}
	t.Logf("20 link changes under 8 callers: %d calls, %d failed", calls.Load(), fails.Load())
}
