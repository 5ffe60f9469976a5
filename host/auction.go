package host

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wisp-dev/wisp/lattice"
)

// handleAuction bids in an actor auction when the host's labels satisfy
// the constraints and it can take the actor, or says why not. Every
// answer carries how many hosts it knows to be up, so that the auction can
// end once all have answered. A malformed request gets an error answer,
// which bidders' clients ignore.
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
	hosts := h.members.count(time.Now())
	if !lattice.Matches(h.labels, req.Constraints) {
		respondJSON(m, lattice.AuctionBid{Unmatched: h.id, LatticeHosts: hosts})
		return
	}
	// A host that matches but cannot take the actor says why, so that
	// "no host bid" does not read as "no host matches".
	decline := func(why string) {
		respondJSON(m, lattice.AuctionBid{Ack: lattice.Ack{Error: why, Code: lattice.CodeRefused}, HostID: h.id, HostName: h.opts.name, LatticeHosts: hosts})
	}
	if h.opts.noActors {
		decline("runs providers only")
		return
	}
	// A module file this host may not read: a bid would win and fail.
	// Whether the file exists is not said, as a start would not say it.
	if path, isFile := strings.CutPrefix(req.Ref, "file://"); isFile || filepath.IsAbs(path) {
		if len(h.opts.fileDirs) == 0 {
			decline("starts actors from no files (wisp up --allow-file-dir)")
			return
		}
		if !h.underFileDirs(filepath.Clean(path)) {
			decline("reads no module file there (wisp up --allow-file-dir)")
			return
		}
	}
	bid := lattice.AuctionBid{Ack: lattice.Ack{Accepted: true}, HostID: h.id, HostName: h.opts.name, Labels: h.Labels(), LatticeHosts: hosts}
	h.mu.Lock()
	if h.stopping {
		h.mu.Unlock()
		decline("draining")
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
	if ceiling := h.opts.ceilings.HostInstances; ceiling > 0 && bid.Instances >= ceiling {
		decline(fmt.Sprintf("runs %d instances, its ceiling (wisp up --max-host-instances)", bid.Instances))
		return
	}
	respondJSON(m, bid)
}
