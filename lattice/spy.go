package lattice

import "time"

// SpySubject is where hosts publish the spy records of actor (its call
// alias) while someone spies on it: wisp.spy.L.<actor>.
func SpySubject(lattice, actor string) string { return "wisp.spy." + lattice + "." + ActorToken(actor) }

// SpyInterestSubject is where a spy says, every SpyInterestEvery, that it
// still watches actor: wisp.ctl.L.spy.<actor>. Its body is a SpyInterest.
func SpyInterestSubject(lattice, actor string) string {
	return "wisp.ctl." + lattice + ".spy." + ActorToken(actor)
}

// SpyInterestEvery is how often a spy renews its interest; a host stops
// publishing SpyInterestTTL after the last renewal.
const (
	SpyInterestEvery = 2 * time.Second
	SpyInterestTTL   = 5 * time.Second
)

// SpyInterest is a spy's renewal.
type SpyInterest struct {
	// Payload asks for the bodies of the calls, not only their sizes.
	Payload bool `json:"payload,omitempty"`
}

// SpyRecord is one call seen by a spy: an invocation of the actor (In) or
// a host call it made (Out).
type SpyRecord struct {
	Time      time.Time `json:"time"`
	Host      string    `json:"host"`
	Actor     string    `json:"actor"`
	Direction string    `json:"direction"` // "in" or "out"
	Operation string    `json:"operation"`
	// Caller is who made an invocation (the Wisp-Source header), when
	// known; Target what a host call went to: a contract and link name
	// ("wasmcloud:keyvalue/default") or an actor.
	Caller     string  `json:"caller,omitempty"`
	Target     string  `json:"target,omitempty"`
	Size       int     `json:"size"`
	AnswerSize int     `json:"answer_size"`
	DurationMS float64 `json:"duration_ms"`
	Outcome    string  `json:"outcome"`
	Error      string  `json:"error,omitempty"`
	// Payload is the call's body, only when a spy asked for it.
	Payload []byte `json:"payload,omitempty"`
}
