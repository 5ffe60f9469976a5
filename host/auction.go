package host

import (
	"encoding/json"

	"github.com/nats-io/nats.go"

	"github.com/wisp-dev/wisp/lattice"
)

// handleAuction bids in an actor auction when the host's labels satisfy
// the constraints; otherwise it stays silent, as does a draining host. A
// malformed request gets an error answer, which bidders' clients ignore.
func (h *Host) handleAuction(m *nats.Msg) {
	var req lattice.AuctionActorRequest
	if err := json.Unmarshal(m.Data, &req); err != nil {
		respondJSON(m, lattice.Ack{Error: "bad auction request: " + err.Error(), Code: lattice.CodeBadRequest})
		return
	}
	if req.Ref == "" && req.Name == "" {
		respondJSON(m, lattice.Ack{Error: "bad auction request: no ref and no name", Code: lattice.CodeBadRequest})
		return
	}
	if h.opts.noActors || !lattice.Matches(h.labels, req.Constraints) {
		return
	}
	bid := lattice.AuctionBid{Ack: lattice.Ack{Accepted: true}, HostID: h.id, HostName: h.opts.name, Labels: h.Labels()}
	h.mu.Lock()
	if h.stopping {
		h.mu.Unlock()
		return
	}
	for _, a := range h.actors {
		if a == nil {
			continue
		}
		live := a.pool.Stats().Live
		bid.Actors++
		bid.Instances += live
		if (req.Ref != "" && a.ref == req.Ref) || (req.Name != "" && (a.name == req.Name || a.id.key == req.Name)) {
			bid.ActorInstances += live
		}
	}
	h.mu.Unlock()
	respondJSON(m, bid)
}
