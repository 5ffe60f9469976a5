package testwait

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestWaitReturnsOnceTheConditionHolds(t *testing.T) {
	n := 0
	err := Wait(5*time.Second, func() error {
		n++
		if n < 3 {
			return fmt.Errorf("try %d", n)
		}
		return nil
	})
	if err != nil || n != 3 {
		t.Fatalf("Wait = %v after %d tries, want nil after 3", err, n)
	}
}

func TestWaitReportsTheLastError(t *testing.T) {
	errLast := errors.New("still two hosts")
	start := time.Now()
	err := Wait(50*time.Millisecond, func() error { return errLast })
	if !errors.Is(err, errLast) {
		t.Fatalf("Wait = %v, want it to wrap %v", err, errLast)
	}
	if took := time.Since(start); took < 50*time.Millisecond || took > 2*time.Second {
		t.Fatalf("Wait took %s for a 50ms timeout", took)
	}
}

// fakeT records what Eventually reports.
type fakeT struct{ fatal string }

func (f *fakeT) Helper()                           {}
func (f *fakeT) Fatalf(format string, args ...any) { f.fatal = fmt.Sprintf(format, args...) }

func TestEventuallyFailsWithTheLastError(t *testing.T) {
	var ft fakeT
	Eventually(&ft, 20*time.Millisecond, func() error { return errors.New("actor echo not placed") })
	if !strings.Contains(ft.fatal, "actor echo not placed") || !strings.Contains(ft.fatal, "20ms") {
		t.Fatalf("Eventually reported %q, want the timeout and the last error", ft.fatal)
	}
	ft = fakeT{}
	Eventually(&ft, time.Second, func() error { return nil })
	if ft.fatal != "" {
		t.Fatalf("Eventually failed a condition that holds: %q", ft.fatal)
	}
}

func TestHoldsNamesWhatIsAwaited(t *testing.T) {
	ready := false
	cond := Holds("the pool to drain", func() bool { return ready })
	if err := cond(); err == nil || !strings.Contains(err.Error(), "the pool to drain") {
		t.Fatalf("false condition = %v, want an error naming it", err)
	}
	ready = true
	if err := cond(); err != nil {
		t.Fatalf("true condition = %v", err)
	}
}
