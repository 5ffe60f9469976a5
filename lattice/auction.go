package lattice

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// AuctionActorSubject is where an actor auction is held: every host whose
// labels match the constraints bids.
func AuctionActorSubject(lattice string) string {
	return "wisp.ctl." + lattice + ".auction.actor"
}

// ErrNoBids reports an auction no host bid in. It is ErrNotFound.
var ErrNoBids error = &kindError{"no host bid", ErrNotFound}

// AuctionActorRequest asks the hosts which of them could run an actor.
type AuctionActorRequest struct {
	// Ref is the module the actor would start from.
	Ref string `json:"ref"`
	// Name is the call alias asked for, if any.
	Name string `json:"name,omitempty"`
	// Constraints are labels a host must carry, with these values.
	Constraints map[string]string `json:"constraints,omitempty"`
}

// AuctionBid is a host's answer to an auction.
type AuctionBid struct {
	Ack
	HostID   string            `json:"host_id"`
	HostName string            `json:"host_name"`
	Labels   map[string]string `json:"labels"`
	// ActorInstances counts the instances the host already runs of the
	// actor (started from the same ref, or answering to the same name).
	ActorInstances int `json:"actor_instances"`
	// Instances counts every actor instance the host runs: its load.
	Instances int `json:"instances"`
	Actors    int `json:"actors"`
	// LatticeHosts counts the hosts of the lattice the answering host
	// knows to be up, itself included; 0 when it does not know them yet.
	// An auction whose answers come from that many hosts, all knowing
	// them, has heard every host and ends (see AuctionActor).
	LatticeHosts int `json:"lattice_hosts,omitempty"`
	// Unmatched is set instead of HostID by a host whose labels do not
	// satisfy the constraints: it answers only so that the auction knows
	// it heard that host. Clients that predate it ignore such answers, as
	// they ignore any answer without a host id.
	Unmatched string `json:"unmatched,omitempty"`
}

// AuctionWindow bounds how long an auction collects bids when ctx and the
// client's timeout allow longer: hosts answer an auction at once, so a
// lattice with no matching host fails in seconds.
const AuctionWindow = 3 * time.Second

// AuctionActor holds an auction and returns the bids, best first (see
// SortBids). No bid is an error wrapping ErrNoBids that names the
// constraints.
//
// The auction ends when no answer came for a while after the first (see
// auctionSettleRTTs), or as soon as every host of the lattice answered:
// each host says how many hosts it knows to be up (LatticeHosts), hosts
// that do not match answer too (Unmatched), and once answers from that many
// hosts are in, at least one of them a bid, no other host is waiting to
// bid.
func (c *Client) AuctionActor(ctx context.Context, req AuctionActorRequest) ([]AuctionBid, error) {
	return c.auction(ctx, AuctionActorSubject(c.lattice), req.Ref, req, req.Constraints)
}

// auction collects the bids for req on subject; what names the thing
// auctioned in errors.
func (c *Client) auction(ctx context.Context, subject, what string, req any, constraints map[string]string) ([]AuctionBid, error) {
	ctx, cancel := context.WithTimeout(ctx, min(AuctionWindow, c.timeout))
	defer cancel()
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	var bids []AuctionBid
	var declined []string
	// The hosts that answered saying how many hosts they know to be up,
	// and the most any of them knows. An answer that does not say (a host
	// that has not read its lattice yet, a providers-only process, a wisp
	// from before LatticeHosts) is not counted: if its host is in another's
	// count, the auction waits its settle period for an answer that is
	// already in, as it did before hosts counted.
	answered := map[string]bool{}
	known := 0
	heard := func(id string, hosts int) {
		if hosts > 0 {
			answered[id] = true
			known = max(known, hosts)
		}
	}
	everyHost := func() bool { return len(bids) > 0 && known > 0 && len(answered) >= known }
	// Hosts answer an auction at once (they look at their labels and
	// count their instances), so the bids come within a few round trips
	// of the first: the auction ends once none came for auctionSettleRTTs
	// times the first one's round trip (at least auctionSettleMin, at most
	// the client's quiet period), not after a fixed quiet period.
	settle := func(first time.Duration) time.Duration { return max(auctionSettleMin, auctionSettleRTTs*first) }
	err = c.gatherWithin(ctx, subject, body, c.quiet, func(data []byte) bool {
		var b AuctionBid
		if json.Unmarshal(data, &b) != nil {
			return false
		}
		if b.HostID == "" {
			if b.Unmatched == "" {
				return false
			}
			heard(b.Unmatched, b.LatticeHosts)
			return true
		}
		heard(b.HostID, b.LatticeHosts)
		if !b.Accepted {
			// A host that matches and cannot take it says why.
			declined = append(declined, fmt.Sprintf("%s (%s)", b.HostName, b.Error))
			return true
		}
		bids = append(bids, b)
		return true
	}, &settleRule{after: settle, done: everyHost})
	if err != nil {
		return nil, fmt.Errorf("auction: %w", err)
	}
	if len(bids) == 0 {
		if len(declined) > 0 {
			sort.Strings(declined)
			return nil, fmt.Errorf("auction for %s on lattice %q: %w: the hosts matching %s declined: %s", what, c.lattice, ErrNoBids, FormatConstraints(constraints), strings.Join(declined, ", "))
		}
		return nil, fmt.Errorf("auction for %s on lattice %q: %w: no host matches the constraints %s", what, c.lattice, ErrNoBids, FormatConstraints(constraints))
	}
	SortBids(bids)
	return bids, nil
}

// SortBids orders bids best first: the host running the fewest instances
// of the actor, then the least loaded (fewest instances of all actors),
// then by host id so the choice is stable.
func SortBids(bids []AuctionBid) {
	sort.Slice(bids, func(i, j int) bool {
		a, b := bids[i], bids[j]
		if a.ActorInstances != b.ActorInstances {
			return a.ActorInstances < b.ActorInstances
		}
		if a.Instances != b.Instances {
			return a.Instances < b.Instances
		}
		return a.HostID < b.HostID
	})
}
