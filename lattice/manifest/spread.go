package manifest

import (
	"errors"
	"fmt"
	"sort"

	"github.com/wisp-dev/wisp/lattice"
)

// Host is what placement knows of one host of the lattice.
type Host struct {
	ID     string
	Labels map[string]string
	// Running is how many instances of the component the host runs now
	// (for a capability, 1 when it runs the provider): placement keeps
	// them where they are when it can.
	Running int
	// Load is how many actor instances the host runs in all: new
	// instances go to the least loaded.
	Load int
}

// Placement is how many instances of a component each host should run, by
// host id. Hosts that should run none are absent.
type Placement map[string]int

// Total is the number of instances placed.
func (p Placement) Total() int {
	n := 0
	for _, c := range p {
		n += c
	}
	return n
}

// ErrUnplaceable is wrapped by the errors of a plan that could not place
// every instance: no host, or too few, match a spread's requirements.
var ErrUnplaceable = errors.New("cannot place")

// Split divides total by weights: each share is its floor, and what the
// floors leave goes to the heaviest share (the first of equals). Shares of
// weight 0 get nothing; all weights 0 gives nothing to anyone.
func Split(total int, weights []int) []int {
	out := make([]int, len(weights))
	sum, heaviest := 0, -1
	for i, w := range weights {
		if w <= 0 {
			continue
		}
		sum += w
		if heaviest < 0 || w > weights[heaviest] {
			heaviest = i
		}
	}
	if sum == 0 || total <= 0 {
		return out
	}
	given := 0
	for i, w := range weights {
		if w > 0 {
			out[i] = total * w / sum
			given += out[i]
		}
	}
	out[heaviest] += total - given
	return out
}

// PlanActor places an actor component's instances on hosts by its scaler:
// a spreadscaler splits its replicas across its spreads by weight, and
// each spread's share evenly across the hosts matching its requirements; a
// daemonscaler puts its replicas on every matching host. A component with
// no scaler runs one instance. Shares that no host can take are left out
// of the placement and reported in an error wrapping ErrUnplaceable.
func PlanActor(c *Component, hosts []Host) (Placement, error) {
	spread, daemon := c.Scaler()
	out := Placement{}
	if daemon != nil {
		return everyMatching(daemon, hosts, max(daemon.Replicas, 1))
	}
	spreads, counts := shares(spread)
	var errs []error
	for i, share := range counts {
		if share == 0 {
			continue
		}
		cands := matching(hosts, spreads[i].Requirements)
		if len(cands) == 0 {
			errs = append(errs, fmt.Errorf("spread %s: %w %d instances: no host matches %s",
				spreadName(spreads[i], i), ErrUnplaceable, share, lattice.FormatConstraints(spreads[i].Requirements)))
			continue
		}
		for id, n := range evenly(share, cands) {
			out[id] += n
		}
	}
	return out, errors.Join(errs...)
}

// PlanCapability chooses the hosts that run a capability's provider (one
// each): a spreadscaler's replicas count hosts, split across its spreads by
// weight; a daemonscaler picks every matching host; no scaler picks one
// host. Hosts that run the provider already are kept first, then the least
// loaded are taken.
func PlanCapability(c *Component, hosts []Host) (Placement, error) {
	spread, daemon := c.Scaler()
	out := Placement{}
	if daemon != nil {
		return everyMatching(daemon, hosts, 1)
	}
	spreads, counts := shares(spread)
	var errs []error
	for i, share := range counts {
		if share == 0 {
			continue
		}
		var free []Host
		for _, h := range matching(hosts, spreads[i].Requirements) {
			if out[h.ID] == 0 {
				free = append(free, h)
			}
		}
		byPreference(free)
		if len(free) < share {
			errs = append(errs, fmt.Errorf("spread %s: %w %d providers: %d free hosts match %s (a host runs a provider once per link name)",
				spreadName(spreads[i], i), ErrUnplaceable, share, len(free), lattice.FormatConstraints(spreads[i].Requirements)))
		}
		for _, h := range free[:min(share, len(free))] {
			out[h.ID] = 1
		}
	}
	return out, errors.Join(errs...)
}

// everyMatching places n on every host that matches one of a
// daemonscaler's spreads (every host when it lists none).
func everyMatching(daemon *DaemonScaler, hosts []Host, n int) (Placement, error) {
	out := Placement{}
	for _, h := range hosts {
		if matchesAny(h.Labels, daemon.Spread) {
			out[h.ID] = n
		}
	}
	if len(out) == 0 {
		return out, fmt.Errorf("daemonscaler: %w: no host matches %s", ErrUnplaceable, describeSpreads(daemon.Spread))
	}
	return out, nil
}

// shares returns a spreadscaler's spread entries (one matching every host
// when it lists none) and how many replicas each takes. No scaler is one
// replica anywhere.
func shares(spread *SpreadScaler) ([]Spread, []int) {
	if spread == nil {
		spread = &SpreadScaler{Replicas: 1}
	}
	spreads := spread.Spread
	if len(spreads) == 0 {
		spreads = []Spread{{Name: "all hosts"}}
	}
	weights := make([]int, len(spreads))
	for i, s := range spreads {
		weights[i] = s.W()
	}
	return spreads, Split(spread.Replicas, weights)
}

// evenly spreads n instances over hosts: each gets n/len(hosts), and the
// rest go one each to the hosts that run the most of the component now,
// then to the least loaded.
func evenly(n int, hosts []Host) Placement {
	byPreference(hosts)
	out := Placement{}
	base, rest := n/len(hosts), n%len(hosts)
	for i, h := range hosts {
		if c := base + b2i(i < rest); c > 0 {
			out[h.ID] = c
		}
	}
	return out
}

// byPreference sorts hosts: most instances of the component first (moving
// nothing that runs), then least loaded, then by id.
func byPreference(hosts []Host) {
	sort.Slice(hosts, func(i, j int) bool {
		a, b := hosts[i], hosts[j]
		if a.Running != b.Running {
			return a.Running > b.Running
		}
		if a.Load != b.Load {
			return a.Load < b.Load
		}
		return a.ID < b.ID
	})
}

func matching(hosts []Host, req map[string]string) []Host {
	var out []Host
	for _, h := range hosts {
		if lattice.Matches(h.Labels, req) {
			out = append(out, h)
		}
	}
	return out
}

func matchesAny(labels map[string]string, spreads []Spread) bool {
	if len(spreads) == 0 {
		return true
	}
	for _, s := range spreads {
		if lattice.Matches(labels, s.Requirements) {
			return true
		}
	}
	return false
}

func describeSpreads(spreads []Spread) string {
	if len(spreads) == 0 {
		return "(no requirements)"
	}
	out := ""
	for i, s := range spreads {
		if i > 0 {
			out += " or "
		}
		out += lattice.FormatConstraints(s.Requirements)
	}
	return out
}

func spreadName(s Spread, i int) string {
	if s.Name != "" {
		return fmt.Sprintf("%q", s.Name)
	}
	return fmt.Sprintf("#%d", i+1)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
