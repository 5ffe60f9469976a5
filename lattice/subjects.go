// Package lattice is everything of wisp that crosses NATS: subject names,
// message types, and the client that the CLI and applications use to call
// actors and drive hosts.
//
// Calling an actor needs no wisp code at all: a NATS request to
// RPCSubject(lattice, actor) with the header Wisp-Operation gets the result
// as the reply body, or a reply with the headers Wisp-Error (the message)
// and Wisp-Error-Code (its kind, a Code).
//
//	nats req wisp.rpc.default.echo hello -H Wisp-Operation:Echo.Reply
package lattice

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
)

// Version is the wisp release this binary belongs to: hosts report it in
// their summary and label, and `wisp version` prints it.
var Version = "0.1.0-dev"

// DefaultLattice is the lattice id used when none is given.
const DefaultLattice = "default"

// Headers on actor and provider invocations.
const (
	// HeaderOperation names the operation to run, such as "Echo.Reply".
	HeaderOperation = "Wisp-Operation"
	// HeaderError is set on a reply whose invocation failed; its value is
	// the error message and the body is empty.
	HeaderError = "Wisp-Error"
	// HeaderErrorCode is set next to HeaderError: the kind of failure, a
	// Code such as "busy" or "timeout".
	HeaderErrorCode = "Wisp-Error-Code"
	// HeaderSource names the calling actor on provider invocations.
	HeaderSource = "Wisp-Source"
)

// Host control verbs, the last token of HostSubject.
const (
	VerbStartActor = "start_actor"
	VerbStopActor  = "stop_actor"
	VerbScaleActor = "scale_actor"
	// VerbUpdateActor swaps a running actor's module (UpdateActorRequest).
	VerbUpdateActor = "update_actor"
	VerbInventory   = "inventory"
	VerbStopHost    = "stop"
)

// RPCSubject is where actor calls for actor (its call alias or module key)
// are sent. Every instance on every host subscribes in one queue group.
func RPCSubject(lattice, actor string) string {
	return "wisp.rpc." + lattice + "." + ActorToken(actor)
}

// PingSubject is the scatter-gather subject every host answers with its
// HostSummary.
func PingSubject(lattice string) string {
	return "wisp.ctl." + lattice + ".ping.hosts"
}

// HostSubject is the control subject of one host for verb.
func HostSubject(lattice, hostID, verb string) string {
	return "wisp.ctl." + lattice + ".host." + hostID + "." + verb
}

// HostSubjectAll matches every control subject of one host.
func HostSubjectAll(lattice, hostID string) string {
	return "wisp.ctl." + lattice + ".host." + hostID + ".*"
}

// AliasSubject is where the actors known by alias answer with the identity
// of their module (its key, or "sha256:<hash>" when unsigned), so a host can
// refuse a different module claiming an alias already in use. One host of
// those running it answers (a queue group named as the subject).
func AliasSubject(lattice, alias string) string {
	return "wisp.ctl." + lattice + ".alias." + ActorToken(alias)
}

// AliasOwnerHeader, on an answer of AliasSubject, names the application
// component ("app/component") whose actor answers, when an application
// manages it: another version of that component's module may take the
// alias beside it, as a rollout does.
const AliasOwnerHeader = "Wisp-Alias-Owner"

// InboxPrefix is the reply-subject prefix of a NATS user of a secured
// lattice, by the user's name: the only inbox that user may subscribe to,
// so that no one reads another's replies. A NATS client of that user sets
// it with nats.CustomInboxPrefix; Connect does so from the .creds file.
func InboxPrefix(user string) string { return "_INBOX." + user }

// EventSubject is where events of type typ are published.
func EventSubject(lattice, typ string) string {
	return "wisp.evt." + lattice + "." + typ
}

// ValidateAlias checks an actor's call alias (or the name of an unsigned
// actor) as wasmCloud does: any text up to 128 bytes, namespaced aliases
// such as acme/pricing or wasmcloud/echo included. Whitespace, control
// characters and invalid UTF-8 are refused: a NATS subject cannot carry
// them, and two aliases that print alike must not name different actors.
// ActorToken maps an alias to the subject token it is called on.
func ValidateAlias(kind, s string) error {
	if s == "" {
		return fmt.Errorf("%s is empty", kind)
	}
	if len(s) > 128 {
		return fmt.Errorf("%s %.20q... is longer than 128 bytes", kind, s)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s %q is not valid UTF-8", kind, s)
	}
	if i := strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }); i >= 0 {
		return fmt.Errorf("%s %q: whitespace and control characters are not allowed (a subject cannot carry them)", kind, s)
	}
	if s == "*" || s == ">" {
		return fmt.Errorf("%s %q: a lone NATS wildcard would name every actor", kind, s)
	}
	return nil
}

// ActorToken is the subject token of an actor's alias or module key,
// without loss: a NATS token may hold '/' and the rest of an alias, but
// not '.', '*' or '>', which become %2E, %2A and %3E ('%' itself %25).
// An alias of letters, digits, '-', '_' and '/' is its own token, so
// acme/pricing is called on wisp.rpc.<lattice>.acme/pricing.
//
// A lone "*" or ">" stays what it is, a wildcard for every actor (no alias
// may be one: ValidateAlias refuses them), so subscriptions and grants
// build on the same functions.
func ActorToken(alias string) string {
	if alias == "*" || alias == ">" || !strings.ContainsAny(alias, "%.*>") {
		return alias
	}
	return tokenEscaper.Replace(alias)
}

var tokenEscaper = strings.NewReplacer("%", "%25", ".", "%2E", "*", "%2A", ">", "%3E")

// ValidateName checks that s can be one token of a subject: a lattice id,
// an actor's call alias or a host id. Letters, digits, '-' and '_' only.
func ValidateName(kind, s string) error {
	if s == "" {
		return fmt.Errorf("%s is empty", kind)
	}
	if len(s) > 128 {
		return fmt.Errorf("%s %.20q... is longer than 128 characters", kind, s)
	}
	if i := strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}); i >= 0 {
		return fmt.Errorf("%s %q: character %q is not allowed (use letters, digits, '-' and '_')", kind, s, s[i])
	}
	return nil
}

// DisconnectSubject is where a secured lattice's account receives the
// NATS server's advisory for each closed client connection of the account
// (imported from the system account's $SYS.ACCOUNT.<account>.DISCONNECT;
// see package auth): wisp.ctl.L.sys.disconnect. Only hosts and admins may
// publish under wisp.ctl.L, and the reconciler confirms with the host
// before it believes one.
func DisconnectSubject(lattice string) string { return "wisp.ctl." + lattice + ".sys.disconnect" }

// Disconnect is the part of the server's client_disconnect advisory that
// says which connection closed: its server and client id (see
// HostSummary.Conn).
type Disconnect struct {
	Server struct {
		ID string `json:"id"`
	} `json:"server"`
	Client struct {
		ID uint64 `json:"id"`
	} `json:"client"`
	Reason string `json:"reason"`
}

// Conn returns the connection the advisory is about.
func (d Disconnect) Conn() ConnID { return ConnID{Server: d.Server.ID, Client: d.Client.ID} }

// ConnID names a client connection: the id of the server it is connected
// to and the client id that server gave it.
type ConnID struct {
	Server string `json:"server"`
	Client uint64 `json:"client"`
}

// ConnOf returns the connection id of nc, zero when it is not connected.
func ConnOf(nc *nats.Conn) ConnID {
	cid, err := nc.GetClientID()
	if err != nil {
		return ConnID{}
	}
	return ConnID{Server: nc.ConnectedServerId(), Client: cid}
}
