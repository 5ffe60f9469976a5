// Package testwait is the one way wisp's tests wait for something to
// become true: a host to answer, an actor to be placed, a device to
// register. It replaces the deadline loops each test used to write by hand,
// after nats.go's checkFor in its test helpers.
//
// A condition is a func() error: nil means done, an error says what is
// still missing. When time is up the test fails with the last error, so a
// failure reads as "after 20s: host edge-1 not in [hub-1]" rather than
// "timed out":
//
//	testwait.Eventually(t, 20*time.Second, func() error {
//		hosts, err := c.Hosts(ctx)
//		if err != nil {
//			return err
//		}
//		if len(hosts) != 2 {
//			return fmt.Errorf("%d hosts, want 2", len(hosts))
//		}
//		return nil
//	})
//
// # Notes
//
//   - The condition runs at once, then again after a pause that starts at
//     10 ms and doubles up to 100 ms, so a fast condition costs little, a
//     slow one (a CLI process per try) does not spin, and a state that
//     lasts a few hundred milliseconds (calls in flight) is not missed.
//   - Eventually calls t.Fatalf, so like t.FailNow it must be called from
//     the test's goroutine; Wait returns the error instead, for goroutines
//     and for callers that want to say more.
//   - A condition that is a plain yes or no reads better through Holds:
//     testwait.Eventually(t, d, testwait.Holds("a leader", func() bool { … })).
//   - A condition that panics fails the test as any panic does.
package testwait

import (
	"errors"
	"fmt"
	"time"
)

// TB is the part of testing.TB that Eventually uses.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// Pauses between tries: the first and the longest.
const (
	firstPause = 10 * time.Millisecond
	maxPause   = 100 * time.Millisecond
)

// Eventually calls cond until it returns nil, and fails t with cond's last
// error when timeout has passed first.
func Eventually(t TB, timeout time.Duration, cond func() error) {
	t.Helper()
	if err := Wait(timeout, cond); err != nil {
		t.Fatalf("%v", err)
	}
}

// Wait calls cond until it returns nil and returns nil, or returns an error
// wrapping cond's last one when timeout has passed first.
func Wait(timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	pause := firstPause
	for tries := 1; ; tries++ {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("still failing after %s (%d tries): %w", timeout, tries, err)
		}
		time.Sleep(min(pause, time.Until(deadline)+time.Millisecond))
		pause = min(2*pause, maxPause)
	}
}

// Holds turns a yes-or-no condition into one for Eventually and Wait; what
// says what is awaited and is the error while cond is false.
func Holds(what string, cond func() bool) func() error {
	return func() error {
		if !cond() {
			return errors.New("not yet: " + what)
		}
		return nil
	}
}
