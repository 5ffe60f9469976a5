package manifest_test

import (
	"testing"
	"time"
)

func TestRolloutBatch(t *testing.T) {
	for _, tc := range []struct {
		props string
		want  int
	}{
		{"{replicas: 8}", 2},                                 // 25% by default
		{"{replicas: 3}", 1},                                 // 25% of 3 rounds up
		{"{replicas: 0}", 1},                                 // at least one
		{"{replicas: 6, maxSurge: 2}", 2},                    // a count
		{"{replicas: 6, maxSurge: 50%}", 3},                  // a percentage
		{"{replicas: 6, maxSurge: 0, maxUnavailable: 1}", 1}, // only unavailable
		{"{replicas: 6, maxSurge: 1, maxUnavailable: 2}", 3}, // both widen the batch
		{"{replicas: 6, maxSurge: 100%}", 6},                 // all at once
		{"{replicas: 6, maxSurge: 0, maxUnavailable: 0}", 1}, // still one at a time
	} {
		c := component(t, "        - type: spreadscaler\n          properties: "+tc.props+"\n")
		if got := c.RolloutBatch(); got != tc.want {
			t.Errorf("%s: RolloutBatch = %d, want %d", tc.props, got, tc.want)
		}
	}
}

func TestRolloutPolicy(t *testing.T) {
	c := component(t, "        - type: spreadscaler\n          properties: {replicas: 3}\n")
	if p := c.RolloutPolicy(); p.Canary || p.Pause != 30*time.Second || p.MinCalls != 20 || len(p.Steps) != 1 || p.Steps[0] != 100 {
		t.Fatalf("policy without a rollout section = %+v, want rolling, one step of 100%%, 30s, 20 calls", p)
	}
	c = component(t, `        - type: spreadscaler
          properties:
            replicas: 3
            rollout: {strategy: canary, steps: [10, 50], pause: 2s, maxErrorRate: 2.5%, maxP99: 200ms, minCalls: 5}
`)
	p := c.RolloutPolicy()
	if !p.Canary || len(p.Steps) != 3 || p.Steps[2] != 100 || p.Pause != 2*time.Second || p.MaxErrorRate != 0.025 ||
		p.MaxErrorRateText != "2.5%" || p.MaxP99 != 200*time.Millisecond || p.MinCalls != 5 {
		t.Fatalf("canary policy = %+v", p)
	}
}
