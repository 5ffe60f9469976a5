package lattice

import "time"

// Ack answers every control command: whether the host accepted it and, if
// not, why and what kind of failure it is. Commands that return data embed
// it next to these fields.
type Ack struct {
	Accepted bool   `json:"accepted"`
	Error    string `json:"error,omitempty"`
	// Code is the kind of failure when not accepted (see Code).
	Code Code `json:"code,omitempty"`
}

// ActorLimits bounds one actor on a host. Zero fields take the host's
// defaults.
type ActorLimits struct {
	MaxMemoryPages uint32 `json:"max_memory_pages,omitempty"`
	MaxPayload     int    `json:"max_payload,omitempty"`
	CallTimeoutMS  int64  `json:"call_timeout_ms,omitempty"`
	// IdleTimeoutMS, when positive, scales the actor to zero instances
	// after that long without a call; the next call starts them again.
	IdleTimeoutMS int64 `json:"idle_timeout_ms,omitempty"`
}

// CallTimeout is CallTimeoutMS as a duration.
func (l ActorLimits) CallTimeout() time.Duration {
	return time.Duration(l.CallTimeoutMS) * time.Millisecond
}

// StartActorRequest asks a host to start an actor.
type StartActorRequest struct {
	// Ref locates the module: an absolute file path on the host, or an
	// OCI reference (registry/repository:tag or @sha256:…) it pulls.
	Ref string `json:"ref"`
	// Name is the actor's call alias; default: the file's base name.
	Name string `json:"name,omitempty"`
	// Count is the number of instances; default 1.
	Count  int         `json:"count,omitempty"`
	Limits ActorLimits `json:"limits,omitempty"`
	// RequestID is echoed in the actor_started or actor_failed event that
	// reports the outcome.
	RequestID string `json:"request_id,omitempty"`
	// Annotations say who manages the actor (the application reconciler
	// sets AnnotationManagedBy and friends); the host keeps and reports
	// them.
	Annotations map[string]string `json:"annotations,omitempty"`
}

// LabelMetrics is the label of a host that serves Prometheus metrics
// (wisp up --metrics-listen): their URL, http://ADDR/metrics. The
// dashboard reads call rates and latencies there.
const LabelMetrics = "wisp.metrics"

// LabelLeaf marks a host whose embedded NATS server is a leaf node of a
// hub (wisp up --leaf-url): its site reaches the rest of the lattice
// through that uplink. The dashboard draws it.
const LabelLeaf = "wisp.leaf"

// LabelRole marks a host's role; RoleProvider is the value on a
// providers-only host (wisp provider run), which never runs actors.
const (
	LabelRole    = "wisp.role"
	RoleProvider = "provider"
)

// Annotations the application reconciler sets on what it starts, so that
// it never touches what a person started by hand.
const (
	AnnotationManagedBy = "wisp.dev/managed-by"
	// ManagedByApps is the value of AnnotationManagedBy.
	ManagedByApps       = "wisp-apps"
	AnnotationApp       = "wisp.dev/app"
	AnnotationComponent = "wisp.dev/component"
)

// StopActorRequest asks a host to stop an actor.
type StopActorRequest struct {
	Actor string `json:"actor"`
}

// ScaleActorRequest asks a host to change an actor's instance count.
type ScaleActorRequest struct {
	Actor string `json:"actor"`
	Count int    `json:"count"`
	// RequestID is echoed in the actor_scaled or actor_failed event.
	RequestID string `json:"request_id,omitempty"`
}

// UpdateActorRequest asks a host to swap the module of a running actor
// for another version without losing a call: the new version joins the
// alias's queue group before the old one leaves it and drains.
type UpdateActorRequest struct {
	// Actor is the running actor's call alias or module key.
	Actor string `json:"actor"`
	// Ref locates the new module, as in StartActorRequest.
	Ref string `json:"ref"`
	// Count is the new version's instance count; 0 keeps the old one's.
	Count int `json:"count,omitempty"`
	// Limits left empty keep the old version's.
	Limits ActorLimits `json:"limits,omitempty"`
	// Annotations left nil keep the old version's.
	Annotations map[string]string `json:"annotations,omitempty"`
	// RequestID is echoed in the actor_started (command "update") or
	// actor_failed event that reports the outcome.
	RequestID string `json:"request_id,omitempty"`
}

// ActorDescription is one actor running on a host.
type ActorDescription struct {
	// Name is the call alias the actor answers to.
	Name string `json:"name"`
	// Key is the actor's module key (M…) from its claims; empty when the
	// actor is unsigned. The actor answers to it too.
	Key string `json:"key,omitempty"`
	// ClaimsName, Issuer, Caps, Version, Revision and Expires come from
	// the actor's signed claims.
	ClaimsName string     `json:"claims_name,omitempty"`
	Issuer     string     `json:"issuer,omitempty"`
	Caps       []string   `json:"caps,omitempty"`
	Version    string     `json:"version,omitempty"`
	Revision   int32      `json:"revision,omitempty"`
	Expires    *time.Time `json:"expires,omitempty"`
	Ref        string     `json:"ref"`
	// Hash is the SHA-256 of the module, hex.
	Hash      string `json:"hash"`
	Instances int    `json:"instances"`
	// Asleep says the actor scaled to zero after its idle timeout; the
	// next call wakes it.
	Asleep    bool        `json:"asleep,omitempty"`
	Busy      int         `json:"busy"`
	Replaced  int         `json:"replaced"`
	Limits    ActorLimits `json:"limits"`
	StartedAt time.Time   `json:"started_at"`
	LastError string      `json:"last_error,omitempty"`
	// Calls counts the calls from the lattice this host's instances of
	// the actor have served.
	Calls uint64 `json:"calls"`
	// Failed counts the calls from the lattice that this version of the
	// actor answered with an error (a rollout's error rate).
	Failed uint64 `json:"failed,omitempty"`
	// P99MS is the 99th percentile of those calls' latency, from receipt
	// to answer, in milliseconds (the upper bound of its bucket: 1, 2, 5,
	// 10, 20, 50 … 10000 ms).
	P99MS       float64           `json:"p99_ms,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// HostSummary is what a host answers to a ping.
type HostSummary struct {
	ID            string            `json:"id"`
	Name          string            `json:"name"`
	Lattice       string            `json:"lattice"`
	Labels        map[string]string `json:"labels"`
	Version       string            `json:"version"`
	StartedAt     time.Time         `json:"started_at"`
	UptimeSeconds int64             `json:"uptime_seconds"`
	Actors        int               `json:"actors"`
	Instances     int               `json:"instances"`
	// HeartbeatMS is how often the host publishes host_heartbeat: the
	// reconciler asks a host it has not heard from for a few of these
	// whether it is still there.
	HeartbeatMS int64 `json:"heartbeat_ms,omitempty"`
	// Conn is the host's NATS connection, which the server's disconnect
	// advisories name (DisconnectSubject).
	Conn *ConnID `json:"conn,omitempty"`
	// ProvidersOnly is set on a process that runs capability providers
	// and no actors (wisp up --providers-only): it takes no part in actor
	// auctions.
	ProvidersOnly bool `json:"providers_only,omitempty"`
}

// HostInventory is everything running on a host.
type HostInventory struct {
	Ack
	Host      HostSummary           `json:"host"`
	Actors    []ActorDescription    `json:"actors"`
	Providers []ProviderDescription `json:"providers"`
}
