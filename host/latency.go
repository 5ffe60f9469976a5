package host

import (
	"sync/atomic"
	"time"
)

// latencyBounds are the upper bounds, in milliseconds, of the buckets of an
// actor version's call latency; a last bucket takes the rest.
var latencyBounds = [...]float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000}

// latencies counts the lattice calls of one actor version by latency, from
// the moment the host received the call to its answer, so that a rollout
// can compare the new version's p99 with a threshold (Describe reports it).
type latencies struct {
	buckets [len(latencyBounds) + 1]atomic.Uint64
}

func (l *latencies) observe(d time.Duration) {
	ms := float64(d) / float64(time.Millisecond)
	i := 0
	for i < len(latencyBounds) && ms > latencyBounds[i] {
		i++
	}
	l.buckets[i].Add(1)
}

// p99 is the upper bound of the bucket that holds the 99th percentile, in
// milliseconds (twice the last bound for the open bucket); 0 without calls.
func (l *latencies) p99() float64 {
	var counts [len(latencyBounds) + 1]uint64
	var total uint64
	for i := range l.buckets {
		counts[i] = l.buckets[i].Load()
		total += counts[i]
	}
	if total == 0 {
		return 0
	}
	want := (total*99 + 99) / 100 // calls at or under the 99th percentile, rounded up
	var seen uint64
	for i, n := range counts {
		seen += n
		if seen >= want {
			if i == len(latencyBounds) {
				return 2 * latencyBounds[len(latencyBounds)-1]
			}
			return latencyBounds[i]
		}
	}
	return 2 * latencyBounds[len(latencyBounds)-1]
}
