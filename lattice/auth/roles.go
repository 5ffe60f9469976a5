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
)

// Roles lists every role, in the order help texts show them.
var Roles = []Role{RoleAdmin, RoleHost, RoleCaller, RoleProvider, RoleLeaf}

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
	inbox := lattice.InboxPrefix(g.Name) + ".>"
	var p jwt.Permissions
	switch role {
	case RoleHost:
		p.Pub.Allow.Add(rpc, prov, ctl, evt, "$JS.>", "$KV.>")
		p.Sub.Allow.Add(rpc, prov, ctl, evt, inbox)
		p.Resp = &jwt.ResponsePermission{MaxMsgs: 1, Expires: responseTTL}
	case RoleAdmin:
		p.Pub.Allow.Add(ctl, rpc, "$JS.>", "$KV.>")
		// Link values may hold secrets: admins read links through the
		// hosts, which mask them, never from the bucket itself.
		links := "KV_" + lattice.LinkBucketName(L)
		p.Pub.Deny.Add("$KV."+lattice.LinkBucketName(L)+".>",
			"$JS.*.API.DIRECT.GET."+links+".>", "$JS.API.DIRECT.GET."+links+".>",
			"$JS.*.API.DIRECT.GET."+links, "$JS.API.DIRECT.GET."+links,
			"$JS.*.API.STREAM.MSG.GET."+links, "$JS.API.STREAM.MSG.GET."+links,
			"$JS.*.API.CONSUMER.CREATE."+links+".>", "$JS.API.CONSUMER.CREATE."+links+".>",
			"$JS.*.API.CONSUMER.CREATE."+links, "$JS.API.CONSUMER.CREATE."+links,
			"$JS.*.API.CONSUMER.DURABLE.CREATE."+links+".>", "$JS.API.CONSUMER.DURABLE.CREATE."+links+".>")
		p.Sub.Allow.Add(inbox, evt)
	case RoleCaller:
		if len(g.Calls) == 0 {
			return p, fmt.Errorf("a caller needs the actors it may call (--allow-call ACTOR,…)")
		}
		for _, a := range g.Calls {
			if a != "*" {
				if err := lattice.ValidateName("actor", a); err != nil {
					return p, fmt.Errorf("--allow-call: %w", err)
				}
			}
			p.Pub.Allow.Add("wisp.rpc." + L + "." + a)
		}
		p.Sub.Allow.Add(inbox)
	case RoleProvider:
		p.Pub.Allow.Add(rpc, evt, "$JS.FC.>")
		p.Pub.Allow.Add(readLinks(L)...)
		// A providers-only host answers pings, inventories and stop.
		p.Sub.Allow.Add(ctl, inbox)
		if len(g.Contracts) == 0 {
			p.Sub.Allow.Add(prov)
		}
		for _, c := range g.Contracts {
			p.Sub.Allow.Add("wisp.prov." + L + "." + c + ".>")
		}
		p.Resp = &jwt.ResponsePermission{MaxMsgs: 1, Expires: responseTTL}
	case RoleLeaf:
		// What the site may send into the hub (pub) and receive from it
		// (sub): the lattice's subjects, replies, and the hub's JetStream.
		all := []string{rpc, prov, ctl, evt, "_INBOX.>", "$JS.>", "$KV.>"}
		p.Pub.Allow.Add(all...)
		p.Sub.Allow.Add(all...)
	default:
		return p, fmt.Errorf("unknown role %q", role)
	}
	return p, nil
}

// readLinks are the JetStream API subjects that read the lattice's link
// bucket and its event stream's info, in any JetStream domain.
func readLinks(L string) []string {
	links := "KV_" + lattice.LinkBucketName(L)
	var s []string
	for _, api := range []string{"$JS.API.", "$JS.*.API."} {
		s = append(s, api+"INFO",
			api+"STREAM.INFO."+links, api+"STREAM.INFO."+lattice.EventStreamName(L),
			api+"CONSUMER.CREATE."+links, api+"CONSUMER.CREATE."+links+".>",
			api+"CONSUMER.DELETE."+links+".>", api+"CONSUMER.INFO."+links+".>",
			api+"DIRECT.GET."+links, api+"DIRECT.GET."+links+".>",
			api+"STREAM.MSG.GET."+links)
	}
	return s
}
