package manifest

import (
	"fmt"
	"strconv"
	"strings"
)

// DefaultMaxSurge is a scaler's maxSurge when the manifest gives none.
const DefaultMaxSurge = "25%"

// RolloutBatch is how many of the component's instances a rolling update
// swaps to a new version at once: the scaler's maxSurge plus its
// maxUnavailable, each a count or a percentage of its replicas (a
// percentage rounds up). A host swaps its instances by starting the new
// version beside the old one, so a rollout never lowers capacity:
// maxSurge bounds the extra instances, and maxUnavailable, which a swap
// never uses, only widens the batch. The default is maxSurge 25% and
// maxUnavailable 0; the batch is at least 1.
func (c *Component) RolloutBatch() int {
	spread, daemon := c.Scaler()
	var replicas int
	var surge, unavail string
	switch {
	case spread != nil:
		replicas, surge, unavail = spread.Replicas, spread.MaxSurge, spread.MaxUnavailable
	case daemon != nil:
		replicas, surge, unavail = daemon.Replicas, daemon.MaxSurge, daemon.MaxUnavailable
	default:
		replicas = 1
	}
	if surge == "" {
		surge = DefaultMaxSurge
	}
	s, _ := rolloutCount(surge, replicas)
	u, _ := rolloutCount(unavail, replicas)
	return max(s+u, 1)
}

// rolloutCount reads a maxSurge or maxUnavailable value: "" is 0, "N" is
// N instances, "P%" is P percent of replicas, rounded up.
func rolloutCount(v string, replicas int) (int, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, nil
	}
	if p, ok := strings.CutSuffix(v, "%"); ok {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 100 {
			return 0, fmt.Errorf("%q: want a count, or a percentage from 0%% to 100%%", v)
		}
		return (replicas*n + 99) / 100, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q: want a count of 0 or more, or a percentage such as 25%%", v)
	}
	return n, nil
}
