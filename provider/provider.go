// Package provider defines capability providers: the modules that give
// actors the world (HTTP, key-value, messaging, MQTT, CoAP) behind one
// interface, the way Caddy's modules sit behind one.
//
// A provider serves one contract (wasmcloud:keyvalue, ...). Actors reach it
// through links: a link names an actor, the contract, a link name (default
// "default") and values that configure the provider for that actor (an HTTP
// port, an MQTT subscription). Calls go both ways: an actor's host call
// becomes Provider.Handle; a provider delivers events (an HTTP request, an
// MQTT message) to an actor through Runtime.CallActor.
//
// Providers register themselves by name in init; a host starts them by that
// name:
//
//	func init() { provider.Register("keyvalue", func() provider.Provider { return new(Store) }) }
package provider

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// Provider is a capability provider.
//
// The runtime calls Start once, then PutLink/DelLink as links come and go
// (one at a time) and Handle for every call from a linked actor
// (concurrently, with each other and with link changes), then Stop.
// Goroutines a provider starts are its own to stop in Stop.
type Provider interface {
	// Contract is the contract id it serves, e.g. "wasmcloud:keyvalue".
	Contract() string
	// Start prepares the provider; rt stays valid until Stop returns.
	Start(ctx context.Context, rt Runtime) error
	// PutLink configures the provider for a linked actor. A link that is
	// put again with other values replaces the first.
	PutLink(ctx context.Context, l Link) error
	// DelLink removes what PutLink set up.
	DelLink(ctx context.Context, l Link) error
	// Handle answers a call from a linked actor.
	Handle(ctx context.Context, c Call) ([]byte, error)
	// Stop releases everything, finishing work in flight until ctx ends.
	Stop(ctx context.Context) error
}

// Link connects an actor to a provider.
type Link struct {
	// Actor is the actor's module key (M…) or call alias.
	Actor string `json:"actor_id"`
	// Contract is the contract id.
	Contract string `json:"contract_id"`
	// Name is the link name; "default" when unset.
	Name string `json:"link_name"`
	// Values configure the provider for this actor.
	Values map[string]string `json:"values,omitempty"`
}

// Key identifies the link: one actor, one contract, one link name.
func (l Link) Key() string { return l.Actor + "/" + l.Contract + "/" + l.LinkName() }

// LinkName is Name, or "default".
func (l Link) LinkName() string {
	if l.Name == "" {
		return "default"
	}
	return l.Name
}

// Value returns the link value of key k, matched without regard to case
// (wasmCloud's providers read "PORT", "port" and "Port" alike), or def.
func (l Link) Value(k, def string) string {
	if v, ok := l.Values[k]; ok {
		return v
	}
	for _, key := range slices.Sorted(maps.Keys(l.Values)) {
		if strings.EqualFold(key, k) {
			return l.Values[key]
		}
	}
	return def
}

// Call is an actor's call to a provider.
type Call struct {
	// Actor is the calling actor (module key or call alias).
	Actor string
	// LinkName is the link the actor called through.
	LinkName string
	// Operation is the contract operation, e.g. "KeyValue.Get".
	Operation string
	// Payload is the MessagePack-encoded argument.
	Payload []byte
}

// Runtime is what a running provider may use of its host.
type Runtime interface {
	// CallActor invokes operation on actor, on this host when it runs
	// here and over the lattice otherwise.
	CallActor(ctx context.Context, actor, operation string, payload []byte) ([]byte, error)
	// Logger is the provider's logger.
	Logger() *slog.Logger
	// Conn is the host's connection to the lattice's NATS server, for
	// providers built on NATS (JetStream key-value, messaging).
	Conn() *nats.Conn
	// Lattice is the lattice id.
	Lattice() string
}

// Errors providers return, to be tested with errors.Is.
var (
	// ErrUnknownOperation means the contract has no such operation.
	ErrUnknownOperation = errors.New("unknown operation")
	// ErrNotLinked means the calling actor has no link to the provider.
	ErrNotLinked = errors.New("actor is not linked")
	// ErrBadPayload means the payload did not decode.
	ErrBadPayload = errors.New("malformed payload")
)

// Factory makes a provider.
type Factory func() Provider

var (
	regMu    sync.RWMutex
	registry = map[string]Factory{}
)

// Register makes a provider available by name. It panics if the name is
// taken, as registering twice is a programming error.
func Register(name string, f Factory) {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[name]; dup {
		panic(fmt.Sprintf("provider %q registered twice", name))
	}
	registry[name] = f
}

// New makes the provider registered as name.
func New(name string) (Provider, error) {
	regMu.RLock()
	f, ok := registry[name]
	regMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("no provider named %q (built in: %v)", name, Names())
	}
	return f(), nil
}

// Names lists the registered providers.
func Names() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	return slices.Sorted(maps.Keys(registry))
}

// Contracts maps each registered provider's name to the contract it
// serves.
func Contracts() map[string]string {
	out := map[string]string{}
	for _, name := range Names() {
		if p, err := New(name); err == nil {
			out[name] = p.Contract()
		}
	}
	return out
}

// Builtin maps the name of each provider built into wisp to the contract
// it serves. It is what a binary that links no provider (the CLI alone,
// built with -tags wispcli) knows of them: the CLI checks provider names
// and application manifests against it, and a test keeps it equal to what
// the built-in providers register.
var Builtin = map[string]string{
	"coap":       "wisp:coap",
	"httpserver": "wasmcloud:httpserver",
	"keyvalue":   "wasmcloud:keyvalue",
	"messaging":  "wasmcloud:messaging",
	"mqtt":       "wasmcloud:messaging",
}

// ValidDeviceName reports whether s can name a device: 1 to 63 letters,
// digits, '-' and '_', so that it is one token of a URL host, a CoAP
// endpoint name and an MQTT topic level.
func ValidDeviceName(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Device is a device a gateway provider knows (a microcontroller that
// registered over CoAP or MQTT, say).
type Device struct {
	Name     string `json:"name"`
	Protocol string `json:"protocol"`
	Address  string `json:"address"`
	// Resources are the device's resources: CoAP paths, MQTT topics.
	Resources []string `json:"resources"`
	// Attributes describe the device as it registered (model, firmware).
	Attributes map[string]string `json:"attributes,omitempty"`
	Actor      string            `json:"actor"`
	Registered time.Time         `json:"registered"`
	// Expires is when the registration lapses without a refresh; zero
	// when the connection holds it (MQTT: until the device's last will).
	Expires time.Time `json:"expires"`
}

// DeviceLister is a provider that fronts devices; hosts list them for
// `wisp device list`.
type DeviceLister interface {
	ListDevices() []Device
}
