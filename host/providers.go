package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/provider"
	"github.com/wisp-dev/wisp/provider/runner"
)

// ErrProviderNotFound reports a provider that does not run on this host.
var ErrProviderNotFound = errors.New("provider not running on this host")

// providers are the capability providers a host runs, by contract and
// link name. The host hands each the links of its contract and link name
// as the lattice's link bucket changes, and calls between a provider and
// the host's actors stay in the process.
type providers struct {
	mu    sync.Mutex
	byKey map[string]*hostedProvider
}

type hostedProvider struct {
	name    string
	run     *runner.Runner
	started time.Time
	ann     map[string]string // annotations: who manages the provider
	mu      sync.Mutex
	links   map[string]provider.Link // the links handed to it, by key
	failed  map[string]failedLink    // links it refused, by key
}

// failedLink is a link a provider refused, kept to hand it again.
type failedLink struct {
	link  lattice.Link
	err   string
	tries int       // refusals in a row
	next  time.Time // the next retry, backing off
}

// linkBackoff is how long a link refused tries times in a row waits for its
// next try: 1 s, doubling up to 30 s.
func linkBackoff(tries int) time.Duration {
	return min(time.Second<<min(tries-1, 5), 30*time.Second)
}

func providerKey(contract, linkName string) string { return contract + "/" + linkName }

// toProviderLink is the provider's view of a lattice link.
func toProviderLink(l lattice.Link) provider.Link {
	return provider.Link{Actor: l.ActorID, Contract: l.ContractID, Name: l.LinkName, Values: l.Values}
}

// hosted lists the providers that have started.
func (h *Host) hosted() []*hostedProvider {
	h.provs.mu.Lock()
	defer h.provs.mu.Unlock()
	out := make([]*hostedProvider, 0, len(h.provs.byKey))
	for _, hp := range h.provs.byKey {
		if hp != nil { // nil: still starting
			out = append(out, hp)
		}
	}
	return out
}

// local finds the provider serving contract under linkName on this host.
func (h *Host) localProvider(contract, linkName string) *runner.Runner {
	h.provs.mu.Lock()
	defer h.provs.mu.Unlock()
	if p := h.provs.byKey[providerKey(contract, linkName)]; p != nil {
		return p.run
	}
	return nil
}

// invokeLocal runs a provider's call to an actor of this host.
func (h *Host) invokeLocal(ctx context.Context, actor, op string, payload []byte) ([]byte, bool, error) {
	a, ok := h.Actor(actor)
	if !ok {
		return nil, false, nil
	}
	out, err := a.Invoke(ctx, op, payload)
	return out, true, err
}

// StartProvider runs the provider registered as req.Name, serving its
// contract under req.LinkName, and hands it the links it serves.
func (h *Host) StartProvider(ctx context.Context, req lattice.StartProviderRequest) (lattice.ProviderDescription, error) {
	if req.LinkName == "" {
		req.LinkName = lattice.DefaultLinkName
	}
	p, err := provider.New(req.Name)
	if err != nil {
		return lattice.ProviderDescription{}, fmt.Errorf("start provider: %w", err)
	}
	key := providerKey(p.Contract(), req.LinkName)
	h.provs.mu.Lock()
	if _, taken := h.provs.byKey[key]; taken {
		h.provs.mu.Unlock()
		return lattice.ProviderDescription{}, lattice.WithCode(lattice.CodeRefused,
			fmt.Errorf("start provider %s: %s under link name %q is %s", req.Name, p.Contract(), req.LinkName, lattice.AlreadyRunning))
	}
	h.provs.byKey[key] = nil // reserved while starting
	h.provs.mu.Unlock()
	contract := p.Contract()
	run, err := runner.Start(ctx, p, runner.Config{Conn: h.nc, Lattice: h.opts.lattice, LinkName: req.LinkName, Local: h.invokeLocal,
		Logger: h.log.With("provider", req.Name),
		New: func() provider.Provider {
			fresh, _ := provider.New(req.Name) // registered: it was made once already
			return fresh
		},
		OnRestart: func(cause any) {
			h.publish(lattice.EventProviderRestarted, lattice.ProviderEventData{HostID: h.id, Name: req.Name, Contract: contract,
				LinkName: req.LinkName, Cause: fmt.Sprint(cause)})
		}})
	if err != nil {
		h.provs.mu.Lock()
		delete(h.provs.byKey, key)
		h.provs.mu.Unlock()
		return lattice.ProviderDescription{}, err
	}
	hp := &hostedProvider{name: req.Name, run: run, started: time.Now(), ann: maps.Clone(req.Annotations), links: map[string]provider.Link{}}
	h.provs.mu.Lock()
	h.provs.byKey[key] = hp
	h.provs.mu.Unlock()
	for _, l := range h.links.all() {
		h.handLink(ctx, hp, l)
	}
	h.log.Info("provider started", "provider", req.Name, "contract", p.Contract(), "link_name", req.LinkName)
	h.publish(lattice.EventProviderStarted, lattice.ProviderEventData{HostID: h.id, Name: req.Name, Contract: p.Contract(), LinkName: req.LinkName})
	return hp.describe(), nil
}

func (hp *hostedProvider) describe() lattice.ProviderDescription {
	hp.mu.Lock()
	defer hp.mu.Unlock()
	d := lattice.ProviderDescription{Name: hp.name, Contract: hp.run.Provider().Contract(), LinkName: hp.run.LinkName(),
		Links: len(hp.links), StartedAt: hp.started.UTC(), Annotations: maps.Clone(hp.ann), Restarts: hp.run.Restarts()}
	for _, f := range hp.failed {
		if d.LinkErrors == nil {
			d.LinkErrors = map[string]string{}
		}
		d.LinkErrors[f.link.ActorID] = f.err
	}
	return d
}

// handLink gives hp the link l if it serves it.
func (h *Host) handLink(ctx context.Context, hp *hostedProvider, l lattice.Link) {
	pl := toProviderLink(l)
	if !hp.run.Serves(pl) {
		return
	}
	verdict := lattice.LinkStateData{HostID: h.id, Provider: hp.name, Link: l.Redacted()}
	if err := hp.run.PutLink(ctx, pl); err != nil {
		hp.mu.Lock()
		prev, again := hp.failed[pl.Key()]
		if hp.failed == nil {
			hp.failed = map[string]failedLink{}
		}
		tries := prev.tries + 1
		hp.failed[pl.Key()] = failedLink{link: l, err: err.Error(), tries: tries, next: time.Now().Add(linkBackoff(tries))}
		hp.mu.Unlock()
		if !again { // said once; retries that fail the same way stay quiet
			h.log.Error("provider refused a link; retrying with backoff (1s doubling to 30s)", "provider", hp.name, "actor", l.ActorID, "err", err)
			verdict.Error = err.Error()
			h.publish(lattice.EventLinkFailed, verdict)
		}
		return
	}
	hp.mu.Lock()
	hp.links[pl.Key()] = pl
	delete(hp.failed, pl.Key())
	hp.mu.Unlock()
	h.publish(lattice.EventLinkApplied, verdict)
}

// retryFailedLinks hands every provider the links it refused again: what
// stood in the way (a port in use, a server down) may be gone. Unless all,
// only the links whose backoff has passed.
func (h *Host) retryFailedLinks(ctx context.Context, all bool) {
	now := time.Now()
	for _, hp := range h.hosted() {
		hp.mu.Lock()
		var again []lattice.Link
		for _, f := range hp.failed {
			if all || !now.Before(f.next) {
				again = append(again, f.link)
			}
		}
		hp.mu.Unlock()
		for _, l := range again {
			h.handLink(ctx, hp, l)
		}
	}
}

// retryLinksEvery retries refused links until ctx ends.
func (h *Host) retryLinksEvery(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			h.retryFailedLinks(rctx, false)
			cancel()
		}
	}
}

// linkChanged tells the providers of this host that link l was put (del
// false) or deleted.
func (h *Host) linkChanged(l lattice.Link, del bool) {
	hosted := h.hosted()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, hp := range hosted {
		if !del {
			h.handLink(ctx, hp, l)
			continue
		}
		pl := toProviderLink(l)
		hp.mu.Lock()
		_, had := hp.links[pl.Key()]
		delete(hp.links, pl.Key())
		delete(hp.failed, pl.Key())
		hp.mu.Unlock()
		if had {
			if err := hp.run.DelLink(ctx, pl); err != nil {
				h.log.Warn("provider link removal", "provider", hp.name, "err", err)
			}
		}
	}
	if del {
		// What the deleted link held (a port) may be what another
		// link of these providers was refused for.
		h.retryFailedLinks(ctx, true)
	}
}

// StopProvider stops the provider name serving linkName on this host.
func (h *Host) StopProvider(ctx context.Context, name, linkName string) error {
	if linkName == "" {
		linkName = lattice.DefaultLinkName
	}
	h.provs.mu.Lock()
	var key string
	var hp *hostedProvider
	for k, p := range h.provs.byKey {
		if p != nil && p.name == name && p.run.LinkName() == linkName {
			key, hp = k, p
		}
	}
	if hp == nil {
		h.provs.mu.Unlock()
		return fmt.Errorf("stop provider %s (link name %q): %w", name, linkName, ErrProviderNotFound)
	}
	delete(h.provs.byKey, key)
	h.provs.mu.Unlock()
	err := hp.run.Stop(ctx)
	h.publish(lattice.EventProviderStopped, lattice.ProviderEventData{HostID: h.id, Name: name, Contract: hp.run.Provider().Contract(), LinkName: linkName})
	return err
}

// stopProviders stops every provider, at host shutdown.
func (h *Host) stopProviders(ctx context.Context) error {
	hosted := h.hosted()
	var errs []error
	for _, hp := range hosted {
		errs = append(errs, h.StopProvider(ctx, hp.name, hp.run.LinkName()))
	}
	return errors.Join(errs...)
}

// providerInventory lists the providers, by name.
func (h *Host) providerInventory() []lattice.ProviderDescription {
	hosted := h.hosted()
	out := []lattice.ProviderDescription{}
	for _, hp := range hosted {
		out = append(out, hp.describe())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name+out[i].LinkName < out[j].Name+out[j].LinkName })
	return out
}

// handleProviderAuction bids in a provider auction when the host's labels
// satisfy the constraints and it does not run that provider yet.
func (h *Host) handleProviderAuction(m *nats.Msg) {
	var req lattice.AuctionProviderRequest
	if err := json.Unmarshal(m.Data, &req); err != nil || req.Name == "" {
		respondJSON(m, lattice.Ack{Error: "bad provider auction request", Code: lattice.CodeBadRequest})
		return
	}
	if req.LinkName == "" {
		req.LinkName = lattice.DefaultLinkName
	}
	if !lattice.Matches(h.labels, req.Constraints) {
		return
	}
	for _, p := range h.providerInventory() {
		if p.Name == req.Name && p.LinkName == req.LinkName {
			return
		}
	}
	s := h.Summary()
	respondJSON(m, lattice.AuctionBid{Ack: lattice.Ack{Accepted: true}, HostID: h.id, HostName: h.opts.name, Labels: h.Labels(),
		Instances: s.Instances, Actors: s.Actors})
}

// providerCommand serves the start_provider and stop_provider verbs.
func (h *Host) providerCommand(ctx context.Context, verb string, m *nats.Msg) {
	switch verb {
	case lattice.VerbStartProvider:
		var req lattice.StartProviderRequest
		if !decode(m, &req) {
			return
		}
		d, err := h.StartProvider(ctx, req)
		if err != nil {
			respondJSON(m, lattice.ProviderReply{Ack: ack(err)})
			return
		}
		respondJSON(m, lattice.ProviderReply{Ack: lattice.Ack{Accepted: true}, Provider: &d})
	case lattice.VerbStopProvider:
		var req lattice.StopProviderRequest
		if !decode(m, &req) {
			return
		}
		respondJSON(m, ack(h.StopProvider(ctx, req.Name, req.LinkName)))
	}
}

// handleDevices answers DevicesSubject with the devices the host's gateway
// providers know.
func (h *Host) handleDevices(m *nats.Msg) {
	hosted := h.hosted()
	l := lattice.DeviceList{Ack: lattice.Ack{Accepted: true}, Devices: []lattice.DeviceInfo{}}
	for _, hp := range hosted {
		dl, ok := hp.run.Provider().(provider.DeviceLister)
		if !ok {
			continue
		}
		for _, d := range dl.ListDevices() {
			l.Devices = append(l.Devices, lattice.DeviceInfo{HostID: h.id, HostName: h.opts.name, Provider: hp.name, Name: d.Name,
				Protocol: d.Protocol, Address: d.Address, Resources: d.Resources, Attributes: d.Attributes, Actor: d.Actor, Registered: d.Registered, Expires: d.Expires})
		}
	}
	respondJSON(m, l)
}
