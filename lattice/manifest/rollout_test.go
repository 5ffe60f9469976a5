package manifest_test

import "testing"

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
