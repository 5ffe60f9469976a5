package manifest

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
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

// Rollout is a scaler's rollout section, a wisp extension:
//
//	rollout: {strategy: canary, steps: [10, 50, 100], pause: 30s, maxErrorRate: 5%, maxP99: 200ms}
type Rollout struct {
	// Strategy is "rolling" (the default) or "canary".
	Strategy string `yaml:"strategy"`
	// Steps are the canary's shares of the component's hosts, in percent,
	// ascending; 100 is added when the last is less.
	Steps []int `yaml:"steps"`
	// Pause is how long each step runs before the next (default 30s).
	Pause string `yaml:"pause"`
	// MaxErrorRate is the share of the new version's calls that may fail
	// ("5%"); above it, the rollout goes back to the previous version.
	// Empty: no automatic rollback.
	MaxErrorRate string `yaml:"maxErrorRate"`
	// MaxP99 is the 99th percentile latency of the new version's calls
	// above which the rollout goes back ("200ms"). Empty: none.
	MaxP99 string `yaml:"maxP99"`
	// MinCalls is how many calls the new version must have served before
	// its error rate counts (default 20).
	MinCalls int `yaml:"minCalls"`
}

// Rollout strategies.
const (
	StrategyRolling = "rolling"
	StrategyCanary  = "canary"
)

// Defaults of a rollout section.
const (
	DefaultCanaryPause = 30 * time.Second
	DefaultMinCalls    = 20
)

// RolloutPolicy is a component's rollout section, read.
type RolloutPolicy struct {
	Canary bool
	// Steps are percentages, ascending, ending at 100.
	Steps        []int
	Pause        time.Duration
	MaxErrorRate float64 // a fraction; 0: none
	// MaxErrorRateText is MaxErrorRate as the manifest wrote it.
	MaxErrorRateText string
	MaxP99           time.Duration // 0: none
	MinCalls         int
}

// RolloutPolicy reads the component's rollout section; a component without
// one rolls out host batch by host batch (RolloutBatch).
func (c *Component) RolloutPolicy() RolloutPolicy {
	p, _ := c.rolloutPolicy()
	return p
}

func (c *Component) rolloutPolicy() (RolloutPolicy, error) {
	var r *Rollout
	if spread, daemon := c.Scaler(); spread != nil {
		r = spread.Rollout
	} else if daemon != nil {
		r = daemon.Rollout
	}
	p := RolloutPolicy{Pause: DefaultCanaryPause, MinCalls: DefaultMinCalls}
	if r == nil {
		p.Steps = []int{100}
		return p, nil
	}
	var errs []error
	switch r.Strategy {
	case "", StrategyRolling:
	case StrategyCanary:
		p.Canary = true
	default:
		errs = append(errs, fmt.Errorf("strategy %q: want %s or %s", r.Strategy, StrategyRolling, StrategyCanary))
	}
	last := 0
	for _, s := range r.Steps {
		if s <= last || s > 100 {
			errs = append(errs, fmt.Errorf("steps %v: want percentages from 1 to 100, ascending", r.Steps))
			break
		}
		last = s
		p.Steps = append(p.Steps, s)
	}
	if last < 100 {
		p.Steps = append(p.Steps, 100)
	}
	if r.Pause != "" {
		d, err := time.ParseDuration(r.Pause)
		if err != nil || d < 0 {
			errs = append(errs, fmt.Errorf("pause %q: want a duration such as 30s", r.Pause))
		}
		p.Pause = d
	}
	if r.MaxErrorRate != "" {
		v, ok := strings.CutSuffix(strings.TrimSpace(r.MaxErrorRate), "%")
		f, err := strconv.ParseFloat(v, 64)
		if !ok || err != nil || f < 0 || f > 100 {
			errs = append(errs, fmt.Errorf("maxErrorRate %q: want a percentage such as 5%%", r.MaxErrorRate))
		}
		p.MaxErrorRate, p.MaxErrorRateText = f/100, r.MaxErrorRate
	}
	if r.MaxP99 != "" {
		d, err := time.ParseDuration(r.MaxP99)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("maxP99 %q: want a duration such as 200ms", r.MaxP99))
		}
		p.MaxP99 = d
	}
	if r.MinCalls < 0 {
		errs = append(errs, fmt.Errorf("minCalls %d: want 0 or more", r.MinCalls))
	} else if r.MinCalls > 0 {
		p.MinCalls = r.MinCalls
	}
	return p, errors.Join(errs...)
}
