package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wisp-dev/wisp/lattice"
)

// Phases of an application, as Status reports them.
const (
	// PhaseDeployed: everything the manifest asks for runs.
	PhaseDeployed = "deployed"
	// PhaseReconciling: the reconciler is starting, stopping or linking.
	PhaseReconciling = "reconciling"
	// PhaseFailed: part of the manifest cannot be made true (Message
	// says why); the rest still runs.
	PhaseFailed = "failed"
	// PhaseUndeployed: not deployed; nothing of it runs.
	PhaseUndeployed = "undeployed"
)

// Status is what the reconciler last found and did for one application.
type Status struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	Phase   string `json:"phase"`
	// Message says why the phase is failed or reconciling.
	Message    string            `json:"message,omitempty"`
	Components []ComponentStatus `json:"components,omitempty"`
	// Links are the links the reconciler put for the application; it
	// deletes them when the application is undeployed.
	Links []lattice.Link `json:"links,omitempty"`
	// RolledBack says why the reconciler, or a person, returned the
	// application to this version from a newer one (Record.RolledBack).
	RolledBack string `json:"rolled_back,omitempty"`
	// Reconciler names the host whose reconciler wrote this.
	Reconciler string    `json:"reconciler,omitempty"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// ComponentStatus is one component's desired and actual state.
type ComponentStatus struct {
	Name string `json:"name"`
	Type string `json:"type"`
	// Provider is the built-in provider a capability runs.
	Provider string `json:"provider,omitempty"`
	// Desired and Running count instances of an actor, or hosts running
	// a capability's provider.
	Desired int `json:"desired"`
	Running int `json:"running"`
	// Hosts maps host names to what runs there.
	Hosts map[string]int `json:"hosts,omitempty"`
	Error string         `json:"error,omitempty"`
	// Waiting says what a component waits for that the reconciler does
	// not start itself: an external provider of its contract.
	Waiting string `json:"waiting,omitempty"`
	// Rollout says how far a rolling update of an actor to the
	// component's image has come; empty when every instance runs it.
	Rollout string `json:"rollout,omitempty"`
}

// Summary is the phase with its message, as `wisp app list` shows it:
// "deployed", "reconciling", "failed: why".
func (s *Status) Summary() string {
	out := s.Phase
	if s.Message != "" && s.Phase != PhaseDeployed {
		out += ": " + s.Message
	}
	if s.RolledBack != "" {
		out += " (rolled back: " + s.RolledBack + ")"
	}
	return out
}

// Status returns the status of application name.
func (s *Store) Status(ctx context.Context, name string) (*Status, error) {
	e, err := s.kv.Get(ctx, keyStatus+name)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, fmt.Errorf("status of app %s: %w (no reconciler has seen it yet)", name, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("status of app %s: %w", name, err)
	}
	var st Status
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		return nil, fmt.Errorf("status of app %s: %w", name, err)
	}
	return &st, nil
}

// SetStatus stores an application's status.
func (s *Store) SetStatus(ctx context.Context, st Status) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if _, err := s.kv.Put(ctx, keyStatus+st.Name, b); err != nil {
		return fmt.Errorf("status of app %s: %w", st.Name, err)
	}
	return nil
}

// DeleteStatus removes the status of an application that is gone.
func (s *Store) DeleteStatus(ctx context.Context, name string) error {
	if err := s.kv.Purge(ctx, keyStatus+name); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("status of app %s: %w", name, err)
	}
	return nil
}

// StatusNames lists the applications that have a status.
func (s *Store) StatusNames(ctx context.Context) ([]string, error) {
	lister, err := s.kv.ListKeysFiltered(ctx, keyStatus+"*")
	if err != nil {
		return nil, fmt.Errorf("list app status: %w", err)
	}
	var out []string
	for k := range lister.Keys() {
		out = append(out, k[len(keyStatus):])
	}
	return out, nil
}
