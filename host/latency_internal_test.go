package host

import (
	"testing"
	"time"
)

func TestLatencyP99IsTheBucketOfThe99thPercentile(t *testing.T) {
	var l latencies
	if got := l.p99(); got != 0 {
		t.Fatalf("p99 without calls = %v, want 0", got)
	}
	for range 99 {
		l.observe(3 * time.Millisecond) // bucket ≤ 5 ms
	}
	l.observe(150 * time.Millisecond) // ≤ 200 ms
	if got := l.p99(); got != 5 {
		t.Fatalf("p99 of 99 calls of 3 ms and one of 150 ms = %v ms, want 5 (the 99th of 100 is 3 ms)", got)
	}
	l.observe(150 * time.Millisecond)
	if got := l.p99(); got != 200 {
		t.Fatalf("p99 of 99 calls of 3 ms and two of 150 ms = %v ms, want 200 (the 100th of 101 is 150 ms)", got)
	}
	var slow latencies
	slow.observe(time.Minute)
	if got := slow.p99(); got != 20000 {
		t.Fatalf("p99 of a call of a minute = %v ms, want 20000 (the open bucket)", got)
	}
}
