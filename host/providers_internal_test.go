package host

import (
	"testing"
	"time"
)

// TestRefusedLinksBackOff: a link refused again and again is tried after
// 1 s, then 2, 4, 8, 16 and at most every 30 s.
func TestRefusedLinksBackOff(t *testing.T) {
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second}
	for i, w := range want {
		if got := linkBackoff(i + 1); got != w {
			t.Errorf("after %d refusals: %v, want %v", i+1, got, w)
		}
	}
	if got := linkBackoff(1000); got != 30*time.Second {
		t.Errorf("after 1000 refusals: %v", got)
	}
}
