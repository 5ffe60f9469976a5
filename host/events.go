package host

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wisp-dev/wisp/lattice"
)

// DefaultHeartbeat is how often a host publishes host_heartbeat.
const DefaultHeartbeat = 30 * time.Second

// WithHeartbeat sets how often the host publishes a host_heartbeat event
// with its inventory summary (default 30s).
func WithHeartbeat(d time.Duration) Option { return func(o *options) { o.heartbeat = d } }

// publish sends a CloudEvent of type typ on the lattice. Events are
// best-effort: a failure is logged, never returned to a caller whose
// command succeeded.
func (h *Host) publish(typ string, data any) {
	e, err := lattice.NewEvent(h.opts.lattice, h.id, typ, data)
	if err == nil {
		m := nats.NewMsg(lattice.EventSubject(h.opts.lattice, typ))
		if typ == lattice.EventHostHeartbeat {
			// The event stream keeps recent beats only (lattice.HeartbeatTTL).
			m.Header.Set(jetstream.MsgTTLHeader, lattice.HeartbeatTTL(h.opts.heartbeat).String())
		}
		if m.Data, err = json.Marshal(e); err == nil {
			err = h.nc.PublishMsg(m)
		}
	}
	if err != nil {
		h.log.Warn("publish event", "type", typ, "err", err)
	}
}

// hostEvent is the data of the host_* events.
func (h *Host) hostEvent() lattice.HostEventData {
	d := lattice.HostEventData{Host: h.Summary(), Actors: []lattice.ActorSummary{}}
	h.mu.Lock()
	for _, a := range h.actors {
		if a != nil {
			d.Actors = append(d.Actors, lattice.ActorSummary{Name: a.name, Key: a.id.key, Instances: a.pool.Stats().Live})
		}
	}
	h.mu.Unlock()
	sort.Slice(d.Actors, func(i, j int) bool { return d.Actors[i].Name < d.Actors[j].Name })
	return d
}

// heartbeats publishes host_heartbeat every interval until ctx ends.
func (h *Host) heartbeats(ctx context.Context, every time.Duration) {
	// The first beat comes at a random point of the first interval, so
	// that hosts started together (a site's power coming back, a process
	// of many hosts) do not beat together for good.
	select {
	case <-ctx.Done():
		return
	case <-time.After(rand.N(every)):
		h.publish(lattice.EventHostHeartbeat, h.hostEvent())
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			h.publish(lattice.EventHostHeartbeat, h.hostEvent())
		}
	}
}

// actorEvent describes actor a for an actor_* event.
func (h *Host) actorEvent(command, requestID string, a *Actor) lattice.ActorEventData {
	d := a.Describe()
	return lattice.ActorEventData{HostID: h.id, RequestID: requestID, Command: command, Name: d.Name, Ref: d.Ref, Actor: &d}
}

// startReported starts an actor as StartActor does and publishes the
// outcome: actor_started, or actor_failed with the reason.
func (h *Host) startReported(ctx context.Context, req lattice.StartActorRequest) {
	a, err := h.StartActor(ctx, req)
	if err != nil {
		// What the start read, pulled or compiled is garbage now: a
		// refused oversize load must not leave the host bigger.
		freeMemory()
		h.log.Warn("actor failed to start", "ref", req.Ref, "err", err)
		h.publish(lattice.EventActorFailed, lattice.ActorEventData{HostID: h.id, RequestID: req.RequestID, Command: "start", Name: req.Name, Ref: req.Ref, Error: err.Error(), Code: codeOf(err)})
		return
	}
	h.publish(lattice.EventActorStarted, h.actorEvent("start", req.RequestID, a))
}

// scaleReported scales an actor as ScaleActor does and publishes the
// outcome: actor_scaled, or actor_failed.
func (h *Host) scaleReported(ctx context.Context, req lattice.ScaleActorRequest) {
	a, err := h.ScaleActor(ctx, req.Actor, req.Count)
	if err != nil {
		h.publish(lattice.EventActorFailed, lattice.ActorEventData{HostID: h.id, RequestID: req.RequestID, Command: "scale", Name: req.Actor, Error: err.Error(), Code: codeOf(err)})
		return
	}
	h.publish(lattice.EventActorScaled, h.actorEvent("scale", req.RequestID, a))
}

// announceStarted publishes host_started, once.
func (h *Host) announceStarted() {
	if h.announce.CompareAndSwap(true, false) {
		h.publish(lattice.EventHostStarted, h.hostEvent())
	}
}

// announceStartedStored publishes host_started, once, through JetStream
// and waits for the stream to acknowledge it: right after a cluster
// creates the stream its leader may not be elected yet, and a plain
// publish would reach live subscribers but not the history.
func (h *Host) announceStartedStored(ctx context.Context, js jetstream.JetStream) {
	if !h.announce.CompareAndSwap(true, false) {
		return
	}
	e, err := lattice.NewEvent(h.opts.lattice, h.id, lattice.EventHostStarted, h.hostEvent())
	var b []byte
	if err == nil {
		b, err = json.Marshal(e)
	}
	if err != nil {
		h.log.Warn("publish event", "type", lattice.EventHostStarted, "err", err)
		return
	}
	subject := lattice.EventSubject(h.opts.lattice, lattice.EventHostStarted)
	for try := 0; try < 10; try++ {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err = js.Publish(pctx, subject, b, jetstream.WithMsgID(e.ID))
		cancel()
		if err == nil || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
	if err != nil {
		h.log.Warn("host_started is not in the event history", "err", err)
	}
}
