package engine

import (
	"sync"
	"sync/atomic"
	"time"
)

// watchdogTick is how often the watchdog looks for calls past their
// deadline while any call runs; a timeout fires up to this much late.
const watchdogTick = 5 * time.Millisecond

// watchdog stops guests that run past their deadline. One goroutine per
// engine scans the instances every tick while any call runs, and sleeps
// while none does. A call pays two atomic operations to be watched, where a
// timer per call would pay a reset and a stop under the runtime's timer
// locks.
type watchdog struct {
	epoch  time.Time // deadlines are nanoseconds since epoch, monotonic
	active atomic.Int64
	wakeup chan struct{} // a call started while the watchdog slept
	stop   chan struct{}
	done   chan struct{}

	mu    sync.Mutex
	insts map[*wazeroInstance]struct{}
}

func newWatchdog() *watchdog {
	w := &watchdog{
		epoch:  time.Now(),
		wakeup: make(chan struct{}, 1),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		insts:  map[*wazeroInstance]struct{}{},
	}
	go w.run()
	return w
}

// now is the watchdog's clock.
func (w *watchdog) now() int64 { return int64(time.Since(w.epoch)) }

func (w *watchdog) add(i *wazeroInstance) {
	w.mu.Lock()
	w.insts[i] = struct{}{}
	w.mu.Unlock()
}

func (w *watchdog) remove(i *wazeroInstance) {
	w.mu.Lock()
	delete(w.insts, i)
	w.mu.Unlock()
}

// begin and end bracket every watched call.
func (w *watchdog) begin() {
	if w.active.Add(1) == 1 {
		select {
		case w.wakeup <- struct{}{}:
		default:
		}
	}
}

func (w *watchdog) end() { w.active.Add(-1) }

func (w *watchdog) run() {
	defer close(w.done)
	t := time.NewTicker(watchdogTick)
	defer t.Stop()
	for {
		if w.active.Load() == 0 {
			select {
			case <-w.wakeup:
			case <-w.stop:
				return
			}
		}
		select {
		case <-t.C:
			w.scan()
		case <-w.stop:
			return
		}
	}
}

func (w *watchdog) scan() {
	now := w.now()
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := range w.insts {
		i.expire(now)
	}
}

// close stops the watchdog's goroutine and waits for it.
func (w *watchdog) close() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}
