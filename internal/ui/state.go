package ui

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/app"
	"github.com/wisp-dev/wisp/lattice/manifest"
)

// Snapshot is what the page draws: the lattice as the ui process last
// read it. The page receives it whole on every change (server-sent event
// "snapshot") and as JSON from /api/snapshot.
type Snapshot struct {
	Lattice   string    `json:"lattice"`
	UpdatedAt time.Time `json:"updated_at"`
	// Server is the NATS server the ui process is connected to
	// (credentials redacted).
	Server    string               `json:"server"`
	Hosts     []Host               `json:"hosts"`
	Actors    []Actor              `json:"actors"`
	Providers []Provider           `json:"providers"`
	Links     []Link               `json:"links"`
	Apps      []App                `json:"apps"`
	Devices   []lattice.DeviceInfo `json:"devices"`
	// RateSource says where the rates come from: "metrics" (every host
	// running actors serves Prometheus metrics, see
	// lattice.LabelMetrics), "inventory" (none does: calls/s is the
	// difference of each actor's served-calls counter between two reads,
	// and there is no error rate or latency) or "mixed".
	RateSource string `json:"rate_source"`
	// Problems says, by part of the page ("hosts", "links", "apps",
	// "nats"...), why it could not be read: a NATS permission refused,
	// a bucket that does not exist.
	Problems map[string]string `json:"problems,omitempty"`
}

// Host is one host, as its ping and inventory describe it.
type Host struct {
	lattice.HostSummary
	Engine string `json:"engine"`
	// Health is "ok", "degraded: why" (a provider refused links, an
	// actor failed) or "unreachable" (it answered before and does not
	// now: stopped without saying so, or an edge site that lost its
	// uplink).
	Health   string    `json:"health"`
	LastSeen time.Time `json:"last_seen"`
	// Providers counts the providers the host runs.
	Providers int `json:"providers"`
}

// Actor is one actor on one host.
type Actor struct {
	lattice.ActorDescription
	HostID   string `json:"host_id"`
	HostName string `json:"host_name"`
	// CallsPerSec is the rate of calls: from the host's metrics when it
	// serves them, else from its inventory's served-calls counter
	// between the last two reads.
	CallsPerSec float64 `json:"calls_per_sec"`
	// Metrics are the rates from the host's metrics (errors/s, p99), nil
	// when the host serves none.
	Metrics *ActorRates `json:"metrics,omitempty"`
}

// Provider is one provider on one host.
type Provider struct {
	lattice.ProviderDescription
	HostID   string `json:"host_id"`
	HostName string `json:"host_name"`
	Health   string `json:"health"`
}

// Link is a link with what the running providers made of it.
type Link struct {
	lattice.Link
	// State is "applied" (by every provider running for it), "failed:
	// why (host)" or "no provider".
	State string `json:"state"`
}

// App is an application: its stored versions and the reconciler's status.
type App struct {
	Name     string      `json:"name"`
	Deployed string      `json:"deployed,omitempty"`
	Latest   string      `json:"latest"`
	Status   *app.Status `json:"status,omitempty"`
	// Summary is "deployed", "reconciling", "failed: why" or
	// "undeployed", as `wisp app list` says it.
	Summary  string        `json:"summary"`
	Versions []app.Version `json:"versions"`
	// Spreads are the deployed manifest's shares, by component: what
	// the page checks the placement against.
	Spreads map[string][]Share `json:"spreads,omitempty"`
}

// Share is one entry of a component's scaler in the manifest.
type Share struct {
	Name         string            `json:"name,omitempty"`
	Requirements map[string]string `json:"requirements,omitempty"`
	// Want is the instances (hosts, for a capability) the share asks for
	// in all; for a daemonscaler, on each matching host.
	Want   int  `json:"want"`
	Daemon bool `json:"daemon,omitempty"`
}

// spreads reads the shares of every component of the manifest version v.
func spreads(r *app.Record, v string) map[string][]Share {
	m, err := r.Manifest(v)
	if err != nil {
		return nil
	}
	out := map[string][]Share{}
	for i := range m.Spec.Components {
		c := &m.Spec.Components[i]
		spread, daemon := c.Scaler()
		switch {
		case spread != nil:
			weights := make([]int, len(spread.Spread))
			for j, sp := range spread.Spread {
				weights[j] = sp.W()
			}
			if len(weights) == 0 {
				out[c.Name] = []Share{{Want: spread.Replicas}}
				continue
			}
			for j, n := range manifest.Split(spread.Replicas, weights) {
				out[c.Name] = append(out[c.Name], Share{Name: spread.Spread[j].Name, Requirements: spread.Spread[j].Requirements, Want: n})
			}
		case daemon != nil:
			if len(daemon.Spread) == 0 {
				out[c.Name] = []Share{{Want: daemon.Replicas, Daemon: true}}
			}
			for _, sp := range daemon.Spread {
				out[c.Name] = append(out[c.Name], Share{Name: sp.Name, Requirements: sp.Requirements, Want: daemon.Replicas, Daemon: true})
			}
		}
	}
	return out
}

// lostAfter is how long a host that stopped answering stays on the page
// as unreachable before it is dropped.
const lostAfter = 10 * time.Minute

// collector reads the lattice into snapshots. It keeps what it needs
// from one read to the next: hosts seen (to show the ones that stopped
// answering) and calls counters (for rates). Only the poll loop uses it.
type collector struct {
	c        *lattice.Client
	seen     map[string]Host // by host id
	stopped  map[string]bool // host ids that said host_stopped
	calls    map[string]uint64
	callsAt  time.Time
	apps     *app.Store
	metrics  *scraper
	problems func() map[string]string
}

func newCollector(c *lattice.Client, problems func() map[string]string) *collector {
	return &collector{c: c, seen: map[string]Host{}, stopped: map[string]bool{}, calls: map[string]uint64{}, metrics: newScraper(), problems: problems}
}

// forget drops a host that said it stopped.
func (k *collector) forget(hostID string) { k.stopped[hostID] = true }

// read makes a snapshot of the lattice. It never fails as a whole: what
// could not be read is named in Problems.
func (k *collector) read(ctx context.Context) *Snapshot {
	now := time.Now()
	s := &Snapshot{Lattice: k.c.Lattice(), UpdatedAt: now.UTC(), Server: k.c.Conn().ConnectedUrlRedacted(),
		RateSource: "inventory", Problems: map[string]string{},
		// Empty lists, not null, so the page iterates them as they are.
		Hosts: []Host{}, Actors: []Actor{}, Providers: []Provider{}, Links: []Link{}, Apps: []App{}, Devices: []lattice.DeviceInfo{}}
	maps.Copy(s.Problems, k.problems())

	summaries, err := k.c.Hosts(ctx)
	if err != nil && !errors.Is(err, lattice.ErrNoHosts) {
		s.Problems["hosts"] = lattice.AuthHint(err).Error()
	}
	rates, scrapeErrs := k.metrics.rates(ctx, summaries)
	withMetrics, without := 0, 0
	answered := map[string]bool{}
	calls := map[string]uint64{}
	dt := now.Sub(k.callsAt).Seconds()
	for _, h := range summaries {
		answered[h.ID] = true
		delete(k.stopped, h.ID)
		host := Host{HostSummary: h, Engine: h.Labels["wisp.engine"], Health: "ok", LastSeen: now.UTC()}
		inv, err := k.c.Inventory(ctx, h.ID)
		if err != nil {
			host.Health = "degraded: inventory: " + err.Error()
			k.seen[h.ID] = host
			s.Hosts = append(s.Hosts, host)
			continue
		}
		host.HostSummary = inv.Host
		host.Providers = len(inv.Providers)
		var why []string
		for _, a := range inv.Actors {
			key := h.ID + "\x00" + a.Name
			calls[key] = a.Calls
			rate := 0.0
			if prev, ok := k.calls[key]; ok && dt > 0 && a.Calls >= prev {
				rate = float64(a.Calls-prev) / dt
			}
			act := Actor{ActorDescription: a, HostID: h.ID, HostName: h.Name, CallsPerSec: rate}
			if r, ok := rates[h.ID][a.Name]; ok {
				act.Metrics, act.CallsPerSec = &r, r.CallsPerSec
				withMetrics++
			} else if _, served := rates[h.ID]; served {
				act.Metrics = &ActorRates{} // no call yet
				withMetrics++
			} else {
				without++
			}
			s.Actors = append(s.Actors, act)
			if a.LastError != "" {
				why = append(why, "actor "+a.Name+": "+a.LastError)
			}
		}
		for _, p := range inv.Providers {
			health := p.Health()
			s.Providers = append(s.Providers, Provider{ProviderDescription: p, HostID: h.ID, HostName: h.Name, Health: health})
			if health != "healthy" {
				why = append(why, "provider "+p.Name+" "+health)
			}
		}
		if len(why) > 0 {
			host.Health = "degraded: " + strings.Join(why, "; ")
		}
		k.seen[h.ID] = host
		s.Hosts = append(s.Hosts, host)
	}
	k.calls, k.callsAt = calls, now
	switch {
	case withMetrics > 0 && without > 0:
		s.RateSource = "mixed"
	case withMetrics > 0:
		s.RateSource = "metrics"
	}
	for id, err := range scrapeErrs {
		s.Problems["metrics of "+k.seen[id].Name] = err.Error()
	}
	for id, h := range k.seen {
		switch {
		case answered[id]:
		case k.stopped[id] || now.Sub(h.LastSeen) > lostAfter:
			delete(k.seen, id)
		default:
			h.Health = "unreachable"
			s.Hosts = append(s.Hosts, h)
		}
	}
	sort.Slice(s.Hosts, func(i, j int) bool { return s.Hosts[i].Name+s.Hosts[i].ID < s.Hosts[j].Name+s.Hosts[j].ID })
	sort.Slice(s.Actors, func(i, j int) bool {
		a, b := s.Actors[i], s.Actors[j]
		return a.Name+"\x00"+a.HostName < b.Name+"\x00"+b.HostName
	})

	if len(summaries) > 0 {
		links, err := k.c.Links(ctx)
		if err != nil {
			s.Problems["links"] = lattice.AuthHint(err).Error()
		}
		s.Links = linkStates(links, s.Providers)
		devs, err := k.c.Devices(ctx)
		switch {
		case err != nil:
			s.Problems["devices"] = lattice.AuthHint(err).Error()
		case devs != nil:
			s.Devices = devs
		}
	}
	apps, err := k.readApps(ctx)
	if err != nil {
		s.Problems["apps"] = lattice.AuthHint(err).Error()
	}
	if apps != nil {
		s.Apps = apps
	}
	if len(s.Problems) == 0 {
		s.Problems = nil
	}
	return s
}

// linkStates says, for each link, what the providers running for its
// contract and link name made of it.
func linkStates(links []lattice.Link, provs []Provider) []Link {
	out := make([]Link, 0, len(links))
	for _, l := range links {
		ln := Link{Link: l, State: "no provider"}
		hosts := map[string]lattice.ProviderDescription{}
		for _, p := range provs {
			if p.Contract == l.ContractID && p.LinkName == l.LinkName {
				hosts[p.HostID] = p.ProviderDescription
			}
		}
		if len(hosts) > 0 {
			ln.State = "applied"
		}
		for _, h := range slices.Sorted(maps.Keys(hosts)) {
			if why, failed := hosts[h].LinkErrors[l.ActorID]; failed {
				ln.State = "failed: " + why + " (host " + h[:min(8, len(h))] + ")"
				break
			}
		}
		out = append(out, ln)
	}
	return out
}

// readApps reads every application with its status. A lattice whose
// application bucket does not exist yet has none.
func (k *collector) readApps(ctx context.Context) ([]App, error) {
	if k.apps == nil {
		js, err := k.c.JetStream()
		if err != nil {
			return nil, fmt.Errorf("applications: %w", err)
		}
		st, err := app.OpenExisting(ctx, js, k.c.Lattice())
		if err != nil {
			if errors.Is(err, jetstream.ErrBucketNotFound) {
				return nil, nil // no application was ever stored
			}
			return nil, fmt.Errorf("applications: %w", err)
		}
		k.apps = st
	}
	recs, err := k.apps.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("applications: %w", err)
	}
	out := make([]App, 0, len(recs))
	for _, r := range recs {
		a := App{Name: r.Name, Deployed: r.Deployed, Versions: r.Versions, Summary: app.PhaseUndeployed}
		if r.Deployed != "" {
			a.Spreads = spreads(&r, r.Deployed)
		}
		if v := r.Latest(); v != nil {
			a.Latest = v.Version
		}
		st, err := k.apps.Status(ctx, r.Name)
		if err == nil {
			a.Status = st
		}
		switch {
		case err == nil && (r.Deployed == "" || st.Version == r.Deployed):
			a.Summary = st.Summary()
		case r.Deployed != "":
			a.Summary = app.PhaseReconciling
		}
		// The manifests' text is not drawn; leave it out of every update.
		for i := range a.Versions {
			a.Versions[i].Manifest = ""
		}
		out = append(out, a)
	}
	return out, nil
}
