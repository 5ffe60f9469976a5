package host

import (
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wisp-dev/wisp/host/pool"
)

// Calls from the lattice reach an actor's instances through long-lived
// workers, one per instance, that take them from a FIFO queue: the NATS
// subscription's goroutine only appends a call and wakes a worker. A
// goroutine per message would be made and dropped for every call, and each
// would grow its stack anew through the engine's call path; a worker grew
// its stack once.
//
// The queue keeps the pool's admission rules (pool.Pool.QueueLimits): at
// most maxQueue calls wait, the next one is refused at once as busy, and a
// call that waited longer than the queue timeout is refused as busy when a
// worker gets to it. Calls made in process (providers, other actors) go
// straight to the pool, which lends its instances to both.
type callQueue struct {
	mu      sync.Mutex
	calls   []queuedCall // FIFO; calls[head:] are waiting
	head    int
	workers int
	signal  chan struct{} // wakes one idle worker; capacity 1
}

type queuedCall struct {
	m  *nats.Msg
	at time.Time
}

// push queues m unless max calls are waiting already.
func (q *callQueue) push(m *nats.Msg, max int) bool {
	q.mu.Lock()
	if len(q.calls)-q.head >= max {
		q.mu.Unlock()
		return false
	}
	q.calls = append(q.calls, queuedCall{m, time.Now()})
	q.mu.Unlock()
	q.wake()
	return true
}

func (q *callQueue) wake() {
	select {
	case q.signal <- struct{}{}:
	default: // a wake-up is pending: the worker it wakes passes it on
	}
}

// pop takes the oldest call, and passes the wake-up on when more wait, so
// that another idle worker takes the next one.
func (q *callQueue) pop() (queuedCall, bool) {
	q.mu.Lock()
	if q.head == len(q.calls) {
		q.mu.Unlock()
		return queuedCall{}, false
	}
	c := q.calls[q.head]
	q.calls[q.head] = queuedCall{} // the backing array must not pin the message
	q.head++
	more := q.head < len(q.calls)
	if !more {
		q.calls, q.head = q.calls[:0], 0
	} else if q.head > 1024 && q.head > len(q.calls)/2 {
		n := copy(q.calls, q.calls[q.head:])
		clear(q.calls[n:])
		q.calls, q.head = q.calls[:n], 0
	}
	q.mu.Unlock()
	if more {
		q.wake()
	}
	return c, true
}

// handle queues a call from the lattice for the actor's workers.
func (a *Actor) handle(m *nats.Msg) {
	a.wg.Add(1)
	maxQueue, _ := a.pool.QueueLimits()
	if !a.queue.push(m, maxQueue) {
		go a.serve(m, pool.ErrBusy, time.Now()) // a reply of its own: never block the subscription
	}
}

// startWorkers makes sure n workers serve the actor's queue (one per
// instance). Workers stay until the actor stops.
func (a *Actor) startWorkers(n int) {
	a.queue.mu.Lock()
	defer a.queue.mu.Unlock()
	for ; a.queue.workers < n; a.queue.workers++ {
		go a.work()
	}
}

func (a *Actor) work() {
	_, timeout := a.pool.QueueLimits()
	for {
		c, ok := a.queue.pop()
		if !ok {
			select {
			case <-a.queue.signal:
				continue
			case <-a.ctx.Done():
				return
			}
		}
		var refused error
		if waited := time.Since(c.at); waited > timeout {
			refused = fmt.Errorf("%w: no instance free after %s", pool.ErrBusy, timeout)
		}
		a.serve(c.m, refused, c.at)
	}
}
