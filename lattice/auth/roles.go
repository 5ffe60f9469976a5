package auth

import (
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/jwt/v2"

	"github.com/wisp-dev/wisp/lattice"
)

// Role is what a user of a lattice may do. Each role is a fixed set of NATS
// subject permissions (see Permissions), enforced by the NATS server.
type Role string

// The roles of a lattice.
const (
	// RoleAdmin is an operator's CLI: it drives hosts, calls actors,
	// deploys applications and puts links, but cannot answer calls, pose
	// as a host or provider, or publish events.
	RoleAdmin Role = "admin"
	// RoleHost is a wisp host: it answers calls and control commands,
	// calls providers, publishes events and keeps the lattice's state.
	RoleHost Role = "host"
	// RoleCaller is an application: it may call the actors it was granted
	// and read its own replies, nothing else.
	RoleCaller Role = "caller"
	// RoleProvider is a process of providers (`wisp provider run`): it
	// answers provider calls, calls actors, reads links and publishes
	// events, but cannot take actors' calls or change the lattice's state.
	RoleProvider Role = "provider"
	// RoleLeaf is an edge site's NATS server connecting up to a hub: the
	// site's hosts, callers and providers reach the hub through it.
	RoleLeaf Role = "leaf"
	// RoleObserver watches a lattice without changing it: it reads events
	// and spies on actors (`wisp spy`), and may not call actors, send
	// other commands or touch JetStream.
	RoleObserver Role = "observer"
)

// Roles lists every role, in the order help texts show them.
var Roles = []Role{RoleAdmin, RoleHost, RoleCaller, RoleProvider, RoleLeaf, RoleObserver}

// ParseRole reads a role name.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles {
		if string(r) == s {
			return r, nil
		}
	}
	names := make([]string, len(Roles))
	for i, r := range Roles {
		names[i] = string(r)
	}
	return "", fmt.Errorf("unknown role %q: want one of %s", s, strings.Join(names, ", "))
}

// Grant is what a user's permissions are made from.
type Grant struct {
	// Lattice is the lattice id the subjects are in.
	Lattice string
	// Name is the user's name; its inbox is lattice.InboxPrefix(Name).
	Name string
	// Calls are the actors (call aliases or module keys) a caller may
	// call; "*" is every actor.
	Calls []string
	// Contracts are the contracts a provider may serve; empty is every
	// contract.
	Contracts []string
	// Subscribe are subjects a provider may subscribe to besides its
	// calls (a messaging provider's SUBSCRIPTION).
	Subscribe []string
}

// responseTTL bounds how long a responder may answer a request it took:
// longer than any call timeout a host admits.
const responseTTL = 10 * time.Minute

// Permissions returns the NATS permissions of role for g. The subjects are
// the lattice's (see the package lattice); JetStream is the account's own
// and the account is the lattice's, so "$JS.>" stays inside the lattice.
func Permissions(role Role, g Grant) (jwt.Permissions, error) {
	L := g.Lattice
	rpc, prov, ctl, evt := "wisp.rpc."+L+".>", "wisp.prov."+L+".>", "wisp.ctl."+L+".>", "wisp.evt."+L+".>"
	spies := lattice.SpySubject(L, ">")
	inbox := lattice.InboxPrefix(g.Name) + ".>"
	var p jwt.Permissions
	switch role {
	case RoleHost:
		// A host is the lattice's trusted base: it runs the actors' code,
		// holds their links' values and carries their messaging subjects
		// (wasmcloud:messaging on the lattice's own connection publishes
		// and subscribes wherever actors ask), so it may use every
		// subject of its lattice's account.
		p.Pub.Allow.Add(">")
		p.Sub.Allow.Add(">")
		p.Resp = &jwt.ResponsePermission{MaxMsgs: 1, Expires: responseTTL}
	case RoleAdmin:
		p.Pub.Allow.Add(ctl, rpc, "$JS.>", "$KV.>")
		// Link values may hold secrets: admins read links through the
		// hosts, which mask them, never from the bucket itself.
		p.Pub.Deny.Add(linkBucketReads(L)...)
		p.Pub.Deny.Add("$KV." + lattice.LinkBucketName(L) + ".>")
		p.Sub.Allow.Add(inbox, evt, spies)
		// A call above the server's max_payload carries its body in
		// chunks that the host pulls from the caller's inbox and pushes
		// to it (package chunked): the caller answers each.
		p.Resp = &jwt.ResponsePermission{MaxMsgs: 1, Expires: responseTTL}
	case RoleObserver:
		p.Pub.Allow.Add(lattice.SpyInterestSubject(L, "*"))
		p.Sub.Allow.Add(inbox, evt, spies)
	case RoleCaller:
		if len(g.Calls) == 0 {
			return p, fmt.Errorf("a caller needs the actors it may call (--allow-call ACTOR,…)")
		}
		for _, a := range g.Calls {
			if a == "*" {
				p.Pub.Allow.Add("wisp.rpc." + L + ".*")
				continue
			}
			if err := lattice.ValidateAlias("actor", a); err != nil {
				return p, fmt.Errorf("--allow-call: %w", err)
			}
			p.Pub.Allow.Add(lattice.RPCSubject(L, a))
		}
		p.Sub.Allow.Add(inbox)
		p.Resp = &jwt.ResponsePermission{MaxMsgs: 1, Expires: responseTTL} // chunked bodies, as for admins
	case RoleProvider:
		// A provider calls actors, publishes events and, for messaging
		// or key-value, its own subjects and buckets; it never calls
		// another provider (so Wisp-Source stays true), sends control
		// commands or writes the lattice's own state.
		p.Pub.Allow.Add(">")
		p.Pub.Deny.Add(prov, ctl, "$KV."+lattice.LinkBucketName(L)+".>", "$KV."+appBucket(L)+".>")
		p.Pub.Deny.Add(stateWrites(L)...)
		// A providers-only process answers pings, inventories and stop;
		// it may subscribe to its contracts' calls and the subjects it
		// was granted (a messaging provider's SUBSCRIPTION), never to
		// actors' calls or others' inboxes.
		p.Sub.Allow.Add(ctl, inbox)
		if len(g.Contracts) == 0 {
			p.Sub.Allow.Add(prov)
		}
		for _, c := range g.Contracts {
			if err := lattice.ValidateContract(c); err != nil {
				return p, fmt.Errorf("--contract: %w", err)
			}
			p.Sub.Allow.Add("wisp.prov." + L + "." + c + ".>")
		}
		p.Sub.Allow.Add(g.Subscribe...)
		p.Sub.Deny.Add(rpc)
		p.Resp = &jwt.ResponsePermission{MaxMsgs: 1, Expires: responseTTL}
	case RoleLeaf:
		// What the site may send into the hub (pub) and receive from it
		// (sub): the account's subjects, its hosts' messaging included.
		p.Pub.Allow.Add(">")
		p.Sub.Allow.Add(">")
	default:
		return p, fmt.Errorf("unknown role %q", role)
	}
	return p, nil
}

func appBucket(L string) string { return "WISP_APPS_" + L }

// linkBucketReads are the JetStream API subjects that read the link
// bucket's values directly, in any JetStream domain.
func linkBucketReads(L string) []string {
	links := "KV_" + lattice.LinkBucketName(L)
	var s []string
	for _, api := range []string{"$JS.API.", "$JS.*.API."} {
		s = append(s, api+"DIRECT.GET."+links, api+"DIRECT.GET."+links+".>", api+"STREAM.MSG.GET."+links,
			api+"CONSUMER.CREATE."+links, api+"CONSUMER.CREATE."+links+".>", api+"CONSUMER.DURABLE.CREATE."+links+".>")
	}
	return s
}

// stateWrites are the JetStream API subjects that change the lattice's own
// streams (links, applications, events), in any JetStream domain.
func stateWrites(L string) []string {
	var s []string
	for _, api := range []string{"$JS.API.", "$JS.*.API."} {
		for _, stream := range []string{"KV_" + lattice.LinkBucketName(L), "KV_" + appBucket(L), lattice.EventStreamName(L)} {
			for _, op := range []string{"STREAM.CREATE.", "STREAM.UPDATE.", "STREAM.DELETE.", "STREAM.PURGE.", "STREAM.MSG.DELETE."} {
				s = append(s, api+op+stream)
			}
		}
	}
	return s
}
