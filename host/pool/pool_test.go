package pool_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/wisp-dev/wisp/host/engine"
	"github.com/wisp-dev/wisp/host/pool"
	"github.com/wisp-dev/wisp/internal/testwait"
	"github.com/wisp-dev/wisp/internal/testwasm"
)

// guest is the hand-written waPC guest of the engine tests: "echo", "trap",
// "loop", "hostcall" (answered by the instance config's HostCall).
func guest(t *testing.T, lim engine.Limits) engine.Module {
	t.Helper()
	ctx := context.Background()
	e, err := engine.New(engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := e.Compile(ctx, testwasm.Wat(t, filepath.Join("..", "engine", "testdata", "guest.wat")), lim)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(ctx); e.Close(ctx) })
	return m
}

func newPool(t *testing.T, m engine.Module, cfg pool.Config) *pool.Pool {
	t.Helper()
	p, err := pool.New(context.Background(), m, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(context.Background()) })
	return p
}

// gate is a host call that blocks until opened, to hold instances busy.
type gate struct {
	entered chan struct{}
	open    chan struct{}
}

func newGate() *gate { return &gate{entered: make(chan struct{}, 100), open: make(chan struct{})} }

func (g *gate) hostCall(ctx context.Context, c engine.HostCall) ([]byte, error) {
	g.entered <- struct{}{}
	<-g.open
	return append([]byte(nil), c.Payload...), nil
}

func TestPoolServesConcurrentCallers(t *testing.T) {
	p := newPool(t, guest(t, engine.Limits{}), pool.Config{Size: 4})
	var wg sync.WaitGroup
	for c := 0; c < 64; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for n := 0; n < 50; n++ {
				want := []byte(fmt.Sprintf("caller %d call %d", c, n))
				out, err := p.Invoke(context.Background(), "echo", want)
				if err != nil || !bytes.Equal(out, want) {
					t.Errorf("echo = %q, %v", out, err)
					return
				}
			}
		}(c)
	}
	wg.Wait()
	if st := p.Stats(); st.Live != 4 || st.Busy != 0 || st.Waiting != 0 {
		t.Fatalf("stats after load = %+v", st)
	}
}

func TestPoolRefusesWhenQueueFull(t *testing.T) {
	g := newGate()
	p := newPool(t, guest(t, engine.Limits{}), pool.Config{Size: 1, MaxQueue: 1,
		Instance: engine.InstanceConfig{HostCall: g.hostCall}})
	results := make(chan error, 2)
	go func() { _, err := p.Invoke(context.Background(), "hostcall", []byte("a")); results <- err }()
	<-g.entered // the only instance is busy
	go func() { _, err := p.Invoke(context.Background(), "hostcall", []byte("b")); results <- err }()
	testwait.Eventually(t, 10*time.Second, testwait.Holds("a call waiting for an instance", func() bool { return p.Stats().Waiting == 1 }))
	if _, err := p.Invoke(context.Background(), "echo", nil); !errors.Is(err, pool.ErrBusy) {
		t.Fatalf("third call = %v, want ErrBusy", err)
	}
	close(g.open)
	for k := 0; k < 2; k++ {
		if err := <-results; err != nil {
			t.Fatalf("queued call = %v", err)
		}
	}
}

func TestPoolQueueHonoursContextAndTimeout(t *testing.T) {
	g := newGate()
	p := newPool(t, guest(t, engine.Limits{}), pool.Config{Size: 1, QueueTimeout: 50 * time.Millisecond,
		Instance: engine.InstanceConfig{HostCall: g.hostCall}})
	done := make(chan struct{})
	go func() { p.Invoke(context.Background(), "hostcall", nil); close(done) }()
	<-g.entered
	if _, err := p.Invoke(context.Background(), "echo", nil); !errors.Is(err, pool.ErrBusy) {
		t.Fatalf("queued past QueueTimeout = %v, want ErrBusy", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Invoke(ctx, "echo", nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled while queued = %v", err)
	}
	close(g.open)
	<-done
	if out, err := p.Invoke(context.Background(), "echo", []byte("ok")); err != nil || string(out) != "ok" {
		t.Fatalf("after release = %q, %v", out, err)
	}
}

func TestPoolReplacesTrappedAndLoopingInstances(t *testing.T) {
	var mu sync.Mutex
	var causes []error
	p := newPool(t, guest(t, engine.Limits{CallTimeout: 100 * time.Millisecond}), pool.Config{Size: 2,
		OnReplace: func(err error) { mu.Lock(); causes = append(causes, err); mu.Unlock() }})
	ctx := context.Background()
	if _, err := p.Invoke(ctx, "trap", nil); !errors.Is(err, engine.ErrTrap) {
		t.Fatalf("trap = %v", err)
	}
	if _, err := p.Invoke(ctx, "loop", nil); !errors.Is(err, engine.ErrTimeout) {
		t.Fatalf("loop = %v", err)
	}
	testwait.Eventually(t, 10*time.Second, testwait.Holds("both instances replaced and idle", func() bool { st := p.Stats(); return st.Live == 2 && st.Busy == 0 }))
	for n := 0; n < 10; n++ {
		if out, err := p.Invoke(ctx, "echo", []byte("alive")); err != nil || string(out) != "alive" {
			t.Fatalf("echo after replacement = %q, %v", out, err)
		}
	}
	if st := p.Stats(); st.Replaced != 2 {
		t.Fatalf("replaced = %d, want 2", st.Replaced)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(causes) != 2 || !errors.Is(causes[0], engine.ErrTrap) || !errors.Is(causes[1], engine.ErrTimeout) {
		t.Fatalf("OnReplace heard %v", causes)
	}
}

func TestPoolScales(t *testing.T) {
	p := newPool(t, guest(t, engine.Limits{}), pool.Config{Size: 1})
	ctx := context.Background()
	if err := p.Scale(ctx, 5); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.Size != 5 || st.Live != 5 {
		t.Fatalf("after scale up: %+v", st)
	}
	if err := p.Scale(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.Size != 2 || st.Live != 2 {
		t.Fatalf("after scale down: %+v", st)
	}
	if err := p.Scale(ctx, 0); err == nil {
		t.Fatal("scale to 0 accepted")
	}
}

func TestPoolCloseDrainsInFlightCalls(t *testing.T) {
	g := newGate()
	p := newPool(t, guest(t, engine.Limits{}), pool.Config{Size: 1, Instance: engine.InstanceConfig{HostCall: g.hostCall}})
	type result struct {
		out []byte
		err error
	}
	inflight := make(chan result, 1)
	go func() {
		out, err := p.Invoke(context.Background(), "hostcall", []byte("finish me"))
		inflight <- result{out, err}
	}()
	<-g.entered
	closed := make(chan error, 1)
	go func() { closed <- p.Close(context.Background()) }()
	testwait.Eventually(t, 10*time.Second, testwait.Holds("the pool to refuse calls as closed", func() bool {
		_, err := p.Invoke(context.Background(), "echo", nil)
		return errors.Is(err, pool.ErrClosed)
	}))
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a call was in flight", err)
	default:
	}
	close(g.open)
	if r := <-inflight; r.err != nil || string(r.out) != "finish me" {
		t.Fatalf("in-flight call = %q, %v", r.out, r.err)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.Live != 0 {
		t.Fatalf("after close: %+v", st)
	}
}

func TestPoolScalesToZeroAndWakes(t *testing.T) {
	ctx := context.Background()
	p := newPool(t, guest(t, engine.Limits{}), pool.Config{Size: 3, IdleTimeout: 50 * time.Millisecond})
	if out, err := p.Invoke(ctx, "echo", []byte("a")); err != nil || string(out) != "a" {
		t.Fatalf("first call = %q, %v", out, err)
	}
	testwait.Eventually(t, 10*time.Second, testwait.Holds("the pool asleep with no instance", func() bool { st := p.Stats(); return st.Asleep && st.Live == 0 }))

	// Scaling a sleeping pool changes what the next wake starts.
	if err := p.Scale(ctx, 4); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); !st.Asleep || st.Live != 0 || st.Size != 4 {
		t.Fatalf("scaled while asleep: %+v", st)
	}

	// Concurrent callers wake it: every call is answered, once.
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := fmt.Sprint(i)
			out, err := p.Invoke(ctx, "echo", []byte(msg))
			if err == nil && string(out) != msg {
				err = fmt.Errorf("call %d answered %q", i, out)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	testwait.Eventually(t, 10*time.Second, testwait.Holds("four instances awake", func() bool { st := p.Stats(); return st.Live == 4 && !st.Asleep }))
	if st := p.Stats(); st.Wakes != 1 {
		t.Fatalf("wakes = %d, want 1", st.Wakes)
	}
	// And it sleeps again.
	testwait.Eventually(t, 10*time.Second, testwait.Holds("the pool asleep again", func() bool { return p.Stats().Asleep }))
}

func TestPoolWithoutIdleTimeoutNeverSleeps(t *testing.T) {
	p := newPool(t, guest(t, engine.Limits{}), pool.Config{Size: 2})
	if _, err := p.Invoke(context.Background(), "echo", nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if st := p.Stats(); st.Asleep || st.Live != 2 {
		t.Fatalf("pool without idle timeout: %+v", st)
	}
}

func TestPoolBusyInstanceKeepsPoolAwake(t *testing.T) {
	g := newGate()
	p := newPool(t, guest(t, engine.Limits{}), pool.Config{Size: 1, IdleTimeout: 20 * time.Millisecond,
		Instance: engine.InstanceConfig{HostCall: g.hostCall}})
	done := make(chan error, 1)
	go func() {
		_, err := p.Invoke(context.Background(), "hostcall", []byte("x"))
		done <- err
	}()
	<-g.entered
	time.Sleep(100 * time.Millisecond) // several idle timeouts with a call running
	if st := p.Stats(); st.Asleep {
		t.Fatalf("slept during a call: %+v", st)
	}
	close(g.open)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
