package provider_test

import (
	"errors"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/wisp-dev/wisp/provider"
)

func TestTypedLinkValuesParseOrNameTheKey(t *testing.T) {
	l := provider.Link{Actor: "a", Contract: "c", Values: map[string]string{
		"qos": "2", "BIG": "7", "WORD": "seven", "on": "true", "maybe": "perhaps",
		"timeout_ms": "250", "zero_ms": "0", "SUBSCRIPTION": " a/b, c ,,d|q ",
	}}
	if n, err := l.Int("QOS", 1, 0, 2); err != nil || n != 2 {
		t.Fatalf("QOS = %d, %v (keys match without regard to case)", n, err)
	}
	if n, err := l.Int("ABSENT", 1, 0, 2); err != nil || n != 1 {
		t.Fatalf("an absent key = %d, %v, want the default", n, err)
	}
	if b, err := l.Bool("ON", false); err != nil || !b {
		t.Fatalf("ON = %v, %v", b, err)
	}
	if d, err := l.Duration("timeout_ms", time.Millisecond, time.Second, time.Millisecond, math.MaxUint32*time.Millisecond); err != nil || d != 250*time.Millisecond {
		t.Fatalf("timeout_ms = %v, %v", d, err)
	}
	if d, err := l.Duration("none_ms", time.Millisecond, time.Second, time.Millisecond, time.Hour); err != nil || d != time.Second {
		t.Fatalf("an absent duration = %v, %v, want the default", d, err)
	}
	if got := l.List("subscription"); !slices.Equal(got, []string{"a/b", "c", "d|q"}) {
		t.Fatalf("SUBSCRIPTION = %q", got)
	}
	if got := l.List("absent"); len(got) != 0 {
		t.Fatalf("an absent list = %q", got)
	}

	for _, c := range []struct {
		err  error
		want string
	}{
		{second(l.Int("BIG", 1, 0, 2)), `link a/c/default: BIG "7": want an integer from 0 to 2`},
		{second(l.Int("WORD", 0, 0, math.MaxInt64)), `link a/c/default: WORD "seven": want an integer of at least 0`},
		{second(l.Bool("maybe", false)), `link a/c/default: maybe "perhaps": want true or false`},
		{second(l.Duration("zero_ms", time.Millisecond, time.Second, time.Millisecond, time.Minute)), `link a/c/default: zero_ms "0": want a whole number of milliseconds from 1 to 60000`},
	} {
		var ve *provider.ValueError
		if c.err == nil || c.err.Error() != c.want || !errors.As(c.err, &ve) || ve.Link != "a/c/default" {
			t.Errorf("got %v, want %s", c.err, c.want)
		}
	}
}

func second[T any](_ T, err error) error { return err }
