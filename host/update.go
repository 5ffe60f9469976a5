package host

import (
	"context"
	"errors"
	"fmt"

	"github.com/wisp-dev/wisp/lattice"
)

// UpdateActor swaps the module of a running actor without losing a call:
// the new version is loaded, compiled and instantiated, and joins the
// alias's queue group beside the old one; only then does the old version
// leave the group, finish the calls it has received, and close. For the
// moment between, both versions answer calls: a caller gets one or the
// other, never an error.
//
// The new module must answer to the same call alias (a signed module's
// claims fix it). req.Count 0 keeps the instance count; req.Limits and
// req.Annotations left empty keep the old ones. The alias check of
// StartActor is not made: the alias belongs to the actor being replaced.
func (h *Host) UpdateActor(ctx context.Context, req lattice.UpdateActorRequest) (*Actor, error) {
	if req.Ref == "" {
		return nil, lattice.WithCode(lattice.CodeBadRequest, errors.New("update actor: no module reference"))
	}
	old, ok := h.Actor(req.Actor)
	if !ok {
		return nil, fmt.Errorf("update %s: %w", req.Actor, ErrActorNotFound)
	}
	if app, managed := old.ann[lattice.AnnotationApp], old.ann[lattice.AnnotationManagedBy] == lattice.ManagedByApps; managed && req.Annotations[lattice.AnnotationManagedBy] != lattice.ManagedByApps {
		// Its reconciler would swap it back at once.
		return nil, lattice.WithCode(lattice.CodeRefused, fmt.Errorf("update %s: application %s manages it: deploy a new version of its manifest (wisp app deploy)", old.name, app))
	}
	if !old.swapping.CompareAndSwap(false, true) {
		return nil, lattice.WithCode(lattice.CodeUnavailable, fmt.Errorf("update %s: another update of it is under way, try again", old.name))
	}
	count := req.Count
	if count < 1 {
		count = old.pool.Stats().Size
	}
	lim := req.Limits
	if lim == (lattice.ActorLimits{}) {
		lim = old.limits
	}
	ann := req.Annotations
	if ann == nil {
		ann = old.ann
	}
	a, err := h.swap(ctx, old, req.Ref, count, lim, ann)
	if err != nil {
		old.swapping.Store(false)
		return nil, fmt.Errorf("update %s to %s: %w", old.name, req.Ref, err)
	}
	return a, nil
}

// swap starts ref beside old, then puts it in old's place and drains old.
func (h *Host) swap(ctx context.Context, old *Actor, ref string, count int, lim lattice.ActorLimits, ann map[string]string) (*Actor, error) {
	if err := h.checkLimits(lim); err != nil {
		return nil, err
	}
	wasm, release, err := h.load(ctx, ref)
	if err != nil {
		return nil, err
	}
	defer release()
	id, err := h.admit(wasm, ref, old.name, ann[lattice.AnnotationManagedBy] == lattice.ManagedByApps)
	if err != nil {
		return nil, err
	}
	if id.name != old.name {
		return nil, lattice.WithCode(lattice.CodeBadRequest, fmt.Errorf("the new module answers to alias %q, not %q: start it as an actor of its own", id.name, old.name))
	}
	lim = h.limitsWithDefaults(lim)
	// Both versions run for a moment: the host must have room for both.
	h.mu.Lock()
	err = h.checkSurgeLocked(count)
	if err == nil {
		h.pending += count
	}
	stopping := h.stopping
	h.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if stopping {
		h.mu.Lock()
		h.pending -= count
		h.mu.Unlock()
		return nil, ErrHostStopping
	}
	a, err := h.newActor(ctx, id, ref, wasm, count, lim, ann, false)
	h.mu.Lock()
	h.pending -= count
	if err == nil {
		if h.stopping || h.actors[old.name] != old {
			// The host began to stop, or the old version was stopped
			// meanwhile: the new one has no place to take.
			err = errors.New("the actor stopped while its new version started")
		} else {
			h.actors[old.name] = a
			delete(h.keys, old.id.key)
			if id.key != "" {
				h.keys[id.key] = old.name
			}
		}
	}
	h.mu.Unlock()
	if err != nil {
		if a != nil {
			a.stop(ctx)
		}
		return nil, err
	}
	// The new version is in the queue group and serving: the old one
	// leaves it, finishes what it received, and closes.
	if err := old.stop(ctx); err != nil {
		h.log.Warn("drain the replaced version", "actor", old.name, "err", err)
	}
	freeMemory()
	h.log.Info("actor updated", "actor", a.name, "from", old.ref, "to", ref, "instances", count)
	return a, nil
}

// checkSurgeLocked admits count more instances beside everything the host
// runs (h.mu held): a swap runs the old and new versions together.
func (h *Host) checkSurgeLocked(count int) error {
	c := h.opts.ceilings
	if count > c.Instances {
		return fmt.Errorf("%d instances: %w of %d per start or scale (wisp up --max-instances)", count, ErrAdmission, c.Instances)
	}
	total := h.pending
	for _, a := range h.actors {
		if a != nil {
			total += a.pool.Stats().Size
		}
	}
	if total+count > c.HostInstances {
		return fmt.Errorf("%d instances beside the %d running while both versions serve: %w of %d instances in all (wisp up --max-host-instances)", count, total, ErrAdmission, c.HostInstances)
	}
	return nil
}

// updateReported updates an actor as UpdateActor does and publishes the
// outcome: actor_started with command "update", or actor_failed.
func (h *Host) updateReported(ctx context.Context, req lattice.UpdateActorRequest) {
	a, err := h.UpdateActor(ctx, req)
	if err != nil {
		freeMemory()
		h.log.Warn("actor update failed", "actor", req.Actor, "ref", req.Ref, "err", err)
		h.publish(lattice.EventActorFailed, lattice.ActorEventData{HostID: h.id, RequestID: req.RequestID, Command: "update", Name: req.Actor, Ref: req.Ref, Error: err.Error(), Code: codeOf(err)})
		return
	}
	h.publish(lattice.EventActorStarted, h.actorEvent("update", req.RequestID, a))
}
