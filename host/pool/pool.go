// Package pool keeps a set of instances of one actor and lends them out, one
// call per instance at a time.
//
// Calls take an idle instance; when all are busy they wait in a bounded FIFO
// queue, and beyond its bound they fail at once with ErrBusy rather than
// piling up. An instance whose call trapped or timed out is closed and
// replaced in the background, so one bad request costs one instance, never
// the actor.
//
// With an idle timeout the pool scales to zero: after that long without a
// call every instance is closed, and the next call instantiates one from
// the compiled module (milliseconds) while the rest come back behind it.
package pool

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/wisp-dev/wisp/host/engine"
)

// Defaults for Config fields left zero.
const (
	DefaultQueuePerInstance = 64
	DefaultQueueTimeout     = 5 * time.Second
)

// Sentinel errors, to be tested with errors.Is.
var (
	// ErrBusy reports a call refused because every instance was busy and the
	// wait queue was full.
	ErrBusy = errors.New("actor busy: all instances in use and the queue is full")
	// ErrClosed reports a call to a pool that is closing.
	ErrClosed = errors.New("actor stopping")
)

// Config sizes a pool.
type Config struct {
	// Size is the number of instances; at least 1.
	Size int
	// MaxQueue bounds the calls waiting for an instance. Default:
	// DefaultQueuePerInstance per instance.
	MaxQueue int
	// QueueTimeout bounds how long a call waits for an instance.
	QueueTimeout time.Duration
	// Instance configures every instance.
	Instance engine.InstanceConfig
	// OnReplace, if set, hears about each instance discarded after err.
	OnReplace func(err error)
	// IdleTimeout, when positive, closes every instance after that long
	// without a call; the next call starts them again.
	IdleTimeout time.Duration
}

// Stats is a snapshot of a pool.
type Stats struct {
	Size     int  `json:"size"`     // instances wanted
	Live     int  `json:"live"`     // instances that exist (idle + busy)
	Busy     int  `json:"busy"`     // instances serving a call
	Waiting  int  `json:"waiting"`  // calls queued for an instance
	Replaced int  `json:"replaced"` // instances discarded after a trap or timeout
	Asleep   bool `json:"asleep"`   // scaled to zero after IdleTimeout; the next call wakes it
	Wakes    int  `json:"wakes"`    // times a call woke the pool from zero
	// LastError is the latest failure to start a replacement instance.
	LastError string `json:"last_error,omitempty"`
}

// Pool lends instances of one module. It is safe for concurrent use.
type Pool struct {
	mod engine.Module
	cfg Config

	mu       sync.Mutex
	idle     []engine.Instance
	waiters  []chan engine.Instance // FIFO of calls waiting for an instance
	live     int                    // idle + busy + being created
	busy     int
	replaced int
	closed   bool
	asleep   bool          // scaled to zero by the idle timeout
	wakes    int           // times a call woke the pool
	lastUsed time.Time     // the latest acquire or release
	drained  chan struct{} // closed when busy drops to 0 after Close began

	wg       sync.WaitGroup // replacement goroutines
	stop     chan struct{}  // closed by Close: stops replacement retries
	lastErr  error          // the latest failure to create an instance
	stopOnce sync.Once
}

// New creates a pool of cfg.Size instances of mod. It fails if any instance
// fails to start.
func New(ctx context.Context, mod engine.Module, cfg Config) (*Pool, error) {
	if cfg.Size < 1 {
		cfg.Size = 1
	}
	if cfg.MaxQueue <= 0 {
		cfg.MaxQueue = DefaultQueuePerInstance * cfg.Size
	}
	if cfg.QueueTimeout <= 0 {
		cfg.QueueTimeout = DefaultQueueTimeout
	}
	p := &Pool{mod: mod, cfg: cfg, stop: make(chan struct{}), lastUsed: time.Now()}
	if err := p.Scale(ctx, cfg.Size); err != nil {
		p.Close(ctx)
		return nil, err
	}
	if cfg.IdleTimeout > 0 {
		p.wg.Add(1)
		go p.sleeper()
	}
	return p, nil
}

// sleeper closes every instance once the pool has been idle for
// IdleTimeout. It stops when the pool closes.
func (p *Pool) sleeper() {
	defer p.wg.Done()
	t := time.NewTicker(max(p.cfg.IdleTimeout/4, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		p.mu.Lock()
		var idle []engine.Instance
		// Only a pool with every instance idle sleeps: none busy, none
		// being created or replaced.
		if !p.closed && !p.asleep && p.busy == 0 && len(p.waiters) == 0 && p.live == len(p.idle) &&
			time.Since(p.lastUsed) >= p.cfg.IdleTimeout {
			idle, p.idle = p.idle, nil
			p.live = 0
			p.asleep = true
		}
		p.mu.Unlock()
		for _, inst := range idle {
			inst.Close(context.Background())
		}
	}
}

// wake starts the instances of a sleeping pool: one now, for the caller,
// the others in the background. p.mu is held and released.
func (p *Pool) wake(ctx context.Context) (engine.Instance, error) {
	p.asleep = false
	p.wakes++
	p.live = p.cfg.Size
	p.busy++
	rest := p.cfg.Size - 1
	p.wg.Add(rest)
	p.mu.Unlock()
	for range rest {
		go p.replace()
	}
	inst, err := p.mod.Instantiate(ctx, p.cfg.Instance)
	if err != nil {
		p.mu.Lock()
		p.busy--
		p.live--
		p.lastErr = err
		if p.live == 0 {
			p.asleep = true // the next call tries again
		}
		p.signalDrained()
		p.mu.Unlock()
		return nil, fmt.Errorf("wake from zero instances: %w", err)
	}
	return inst, nil
}

// Invoke runs operation on an instance, waiting for one if all are busy.
func (p *Pool) Invoke(ctx context.Context, operation string, payload []byte) ([]byte, error) {
	return p.InvokeAppend(ctx, operation, payload, nil)
}

// InvokeAppend is Invoke that appends the response to dst (see
// engine.Instance.InvokeAppend).
func (p *Pool) InvokeAppend(ctx context.Context, operation string, payload, dst []byte) ([]byte, error) {
	inst, err := p.acquire(ctx)
	if err != nil {
		return nil, err
	}
	out, err := inst.InvokeAppend(ctx, operation, payload, dst)
	var ge *engine.GuestError
	p.release(inst, err == nil || errors.As(err, &ge), err)
	return out, err
}

func (p *Pool) acquire(ctx context.Context) (engine.Instance, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	p.lastUsed = time.Now()
	if p.asleep {
		return p.wake(ctx)
	}
	if n := len(p.idle); n > 0 {
		inst := p.idle[n-1]
		p.idle[n-1] = nil // the backing array must not keep it alive
		p.idle = p.idle[:n-1]
		p.busy++
		p.mu.Unlock()
		return inst, nil
	}
	if len(p.waiters) >= p.cfg.MaxQueue {
		p.mu.Unlock()
		return nil, ErrBusy
	}
	w := make(chan engine.Instance, 1)
	p.waiters = append(p.waiters, w)
	p.mu.Unlock()

	t := time.NewTimer(p.cfg.QueueTimeout)
	defer t.Stop()
	var why error
	select {
	case inst, ok := <-w:
		if !ok {
			return nil, ErrClosed
		}
		return inst, nil // release counted it busy
	case <-ctx.Done():
		why = ctx.Err()
	case <-t.C:
		why = fmt.Errorf("%w: no instance free after %s", ErrBusy, p.cfg.QueueTimeout)
	}
	p.mu.Lock()
	for i, x := range p.waiters {
		if x == w {
			p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
			p.mu.Unlock()
			return nil, why
		}
	}
	p.mu.Unlock()
	// An instance was handed over while we gave up: pass it on.
	if inst, ok := <-w; ok {
		p.release(inst, true, nil)
	}
	return nil, why
}

// release returns inst after a call; an unhealthy one is replaced.
func (p *Pool) release(inst engine.Instance, healthy bool, cause error) {
	p.mu.Lock()
	p.lastUsed = time.Now()
	if !healthy {
		p.busy--
		p.live--
		p.replaced++
		replace := !p.closed && p.live < p.cfg.Size
		if replace {
			p.live++
			p.wg.Add(1)
		}
		p.signalDrained()
		p.mu.Unlock()
		go inst.Close(context.Background())
		if p.cfg.OnReplace != nil {
			p.cfg.OnReplace(cause)
		}
		if replace {
			go p.replace()
		}
		return
	}
	p.handOver(inst)
	p.mu.Unlock()
}

// handOver gives a free instance (already counted busy) to the first waiter,
// or puts it back idle, or closes it if the pool shrank. p.mu is held.
func (p *Pool) handOver(inst engine.Instance) {
	if len(p.waiters) > 0 && !p.closed {
		w := p.waiters[0]
		p.waiters = p.waiters[1:]
		w <- inst
		return
	}
	p.busy--
	if p.closed || p.live > p.cfg.Size {
		p.live--
		p.signalDrained()
		go inst.Close(context.Background())
		return
	}
	p.idle = append(p.idle, inst)
	p.signalDrained()
}

func (p *Pool) signalDrained() {
	if p.closed && p.busy == 0 && p.drained != nil {
		close(p.drained)
		p.drained = nil
	}
}

// replace creates an instance in place of a discarded one, retrying with
// backoff until it succeeds or the pool closes.
func (p *Pool) replace() {
	defer p.wg.Done()
	backoff := 50 * time.Millisecond
	for {
		inst, err := p.mod.Instantiate(context.Background(), p.cfg.Instance)
		if err == nil {
			p.mu.Lock()
			p.busy++ // handOver expects a busy instance
			p.handOver(inst)
			p.mu.Unlock()
			return
		}
		p.mu.Lock()
		p.lastErr = err
		p.mu.Unlock()
		select {
		case <-p.stop:
			p.mu.Lock()
			p.live--
			p.mu.Unlock()
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// Scale changes the number of instances to n (at least 1). Growing creates
// the instances before returning; shrinking closes idle ones now and busy
// ones when their call ends.
func (p *Pool) Scale(ctx context.Context, n int) error {
	if n < 1 {
		return fmt.Errorf("scale to %d: an actor needs at least one instance (stop it instead)", n)
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	p.cfg.Size = n
	if p.asleep {
		p.mu.Unlock()
		return nil // the next call wakes n instances
	}
	grow := n - p.live
	var extra []engine.Instance
	for grow < 0 && len(p.idle) > 0 {
		extra = append(extra, p.idle[len(p.idle)-1])
		// Cleared, or the backing array would keep the closed instance
		// (and its linear memory) alive after a scale-down.
		p.idle[len(p.idle)-1] = nil
		p.idle = p.idle[:len(p.idle)-1]
		p.live--
		grow++
	}
	if grow > 0 {
		p.live += grow
	}
	p.mu.Unlock()
	for _, inst := range extra {
		inst.Close(ctx)
	}
	for k := 0; k < grow; k++ {
		inst, err := p.mod.Instantiate(ctx, p.cfg.Instance)
		if err != nil {
			p.mu.Lock()
			p.live -= grow - k
			p.mu.Unlock()
			return fmt.Errorf("start instance %d of %d: %w", k+1, grow, err)
		}
		p.mu.Lock()
		p.busy++
		p.handOver(inst)
		p.mu.Unlock()
	}
	return nil
}

// QueueLimits are the bound on calls waiting for an instance and how long
// one may wait (Config.MaxQueue and QueueTimeout, defaults applied), for a
// caller that queues calls of its own in front of the pool.
func (p *Pool) QueueLimits() (maxQueue int, timeout time.Duration) {
	return p.cfg.MaxQueue, p.cfg.QueueTimeout
}

// Stats reports the pool's state.
func (p *Pool) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := Stats{Size: p.cfg.Size, Live: p.live, Busy: p.busy, Waiting: len(p.waiters), Replaced: p.replaced, Asleep: p.asleep, Wakes: p.wakes}
	if p.lastErr != nil {
		st.LastError = p.lastErr.Error()
	}
	return st
}

// Close stops the pool: new calls fail with ErrClosed, queued calls too,
// calls in flight finish (until ctx ends), then every instance is closed.
func (p *Pool) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	for _, w := range p.waiters {
		close(w)
	}
	p.waiters = nil
	drained := make(chan struct{})
	if p.busy == 0 {
		close(drained)
	} else {
		p.drained = drained
	}
	idle := p.idle
	p.idle = nil
	p.live -= len(idle)
	p.mu.Unlock()
	p.stopOnce.Do(func() { close(p.stop) })

	var err error
	select {
	case <-drained:
	case <-ctx.Done():
		err = fmt.Errorf("close pool: %d calls still running: %w", p.Stats().Busy, ctx.Err())
	}
	for _, inst := range idle {
		inst.Close(ctx)
	}
	p.wg.Wait()
	return err
}
