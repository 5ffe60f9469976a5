package lattice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
)

// Event types: the last token of EventSubject and, prefixed with
// EventTypePrefix, the CloudEvents type attribute.
const (
	EventHostStarted   = "host_started"
	EventHostHeartbeat = "host_heartbeat"
	EventHostStopped   = "host_stopped"
	EventActorStarted  = "actor_started"
	EventActorStopped  = "actor_stopped"
	EventActorScaled   = "actor_scaled"
	EventActorFailed   = "actor_failed"
	EventLinkSet       = "link_set"
	EventLinkDeleted   = "link_deleted"
	// EventLinkApplied and EventLinkFailed are each provider's verdict
	// on a link it was handed (LinkStateData).
	EventLinkApplied = "link_applied"
	EventLinkFailed  = "link_failed"
)

// EventTypes lists every event type a host publishes.
var EventTypes = []string{EventHostStarted, EventHostHeartbeat, EventHostStopped, EventActorStarted, EventActorScaled,
	EventActorStopped, EventActorFailed, EventProviderStarted, EventProviderStopped, EventProviderRestarted,
	EventLinkSet, EventLinkDeleted, EventLinkApplied, EventLinkFailed}

// EventTypePrefix prefixes the short type in an event's CloudEvents type,
// in reverse-DNS form as the specification recommends:
// "dev.wisp.lattice.actor_started".
const EventTypePrefix = "dev.wisp.lattice."

// Event is a CloudEvents 1.0 event in its JSON format, as hosts publish it
// on EventSubject(lattice, type).
//
//	{"specversion":"1.0","id":"…","source":"wisp/default/host/N…",
//	 "type":"dev.wisp.lattice.actor_started","time":"…",
//	 "datacontenttype":"application/json","data":{…}}
type Event struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Subject         string          `json:"subject,omitempty"`
	Time            time.Time       `json:"time"`
	DataContentType string          `json:"datacontenttype"`
	Data            json.RawMessage `json:"data"`
}

// NewEvent builds an event of short type typ (EventActorStarted...) from
// host hostID on lattice, with data encoded as JSON.
func NewEvent(lattice, hostID, typ string, data any) (Event, error) {
	b, err := json.Marshal(data)
	if err != nil {
		return Event{}, fmt.Errorf("event %s: %w", typ, err)
	}
	return Event{
		SpecVersion:     "1.0",
		ID:              nuid.Next(),
		Source:          "wisp/" + lattice + "/host/" + hostID,
		Type:            EventTypePrefix + typ,
		Time:            time.Now().UTC(),
		DataContentType: "application/json",
		Data:            b,
	}, nil
}

// ShortType is the event's type without EventTypePrefix.
func (e Event) ShortType() string {
	if len(e.Type) > len(EventTypePrefix) && e.Type[:len(EventTypePrefix)] == EventTypePrefix {
		return e.Type[len(EventTypePrefix):]
	}
	return e.Type
}

// Validate checks the attributes CloudEvents 1.0 requires.
func (e Event) Validate() error {
	switch {
	case e.SpecVersion != "1.0":
		return fmt.Errorf("event: specversion %q, want 1.0", e.SpecVersion)
	case e.ID == "":
		return errors.New("event: no id")
	case e.Source == "":
		return errors.New("event: no source")
	case e.Type == "":
		return errors.New("event: no type")
	}
	return nil
}

// HostEventData is the data of host_started, host_heartbeat and
// host_stopped: the host's summary and, on heartbeats, what it runs.
type HostEventData struct {
	Host   HostSummary    `json:"host"`
	Actors []ActorSummary `json:"actors,omitempty"`
}

// ActorSummary is one actor of a host, as heartbeats carry it.
type ActorSummary struct {
	Name      string `json:"name"`
	Key       string `json:"key,omitempty"`
	Instances int    `json:"instances"`
}

// ActorEventData is the data of actor_started, actor_scaled,
// actor_stopped and actor_failed.
type ActorEventData struct {
	HostID string `json:"host_id"`
	// RequestID is the request_id of the command that caused the event,
	// if any, so that its sender can wait for the outcome.
	RequestID string `json:"request_id,omitempty"`
	// Command is "start", "scale" or "stop".
	Command string `json:"command,omitempty"`
	// Name is the actor's call alias (or, when a start failed before the
	// module was read, the name the request asked for).
	Name string `json:"name,omitempty"`
	Ref  string `json:"ref,omitempty"`
	// Actor describes the actor after a start or a scale.
	Actor *ActorDescription `json:"actor,omitempty"`
	// Error says why an actor_failed command failed, and Code what kind
	// of failure it is.
	Error string `json:"error,omitempty"`
	Code  Code   `json:"code,omitempty"`
}

// LinkEventData is the data of link_set and link_deleted.
type LinkEventData struct {
	HostID string `json:"host_id"`
	Link   Link   `json:"link"`
}

// LinkStateData is the data of link_applied and link_failed: what one
// provider on one host made of a link.
type LinkStateData struct {
	HostID   string `json:"host_id"`
	Provider string `json:"provider"`
	// Link is redacted (see Link.Redacted).
	Link  Link   `json:"link"`
	Error string `json:"error,omitempty"`
}

// EventStreamName is the JetStream stream that keeps a lattice's recent
// events so that a late subscriber can replay them.
func EventStreamName(lattice string) string { return "WISP_EVENTS_" + lattice }

// Event stream retention: whichever bound is reached first drops the
// oldest events.
const (
	EventRetentionAge   = 24 * time.Hour
	EventRetentionCount = 10000
	EventRetentionBytes = 64 << 20
)

// HeartbeatTTL is how long the event stream keeps a host_heartbeat, given
// as the Nats-TTL header of each: a host's latest beats stay in the
// history, and a thousand hosts' beats (33 a second) do not push every
// other event out of it (EventRetentionCount is five minutes of them).
func HeartbeatTTL(interval time.Duration) time.Duration {
	return max(2*interval, time.Minute)
}

// EnsureEventStream creates the lattice's event stream if it does not
// exist, replicated on up to three servers of the NATS cluster. The
// stream allows per-message TTLs (for heartbeats, see HeartbeatTTL); a
// stream an earlier wisp made without them is updated to allow them.
func EnsureEventStream(ctx context.Context, js jetstream.JetStream, lattice string) error {
	name := EventStreamName(lattice)
	if s, err := js.Stream(ctx, name); err == nil {
		cfg := s.CachedInfo().Config
		if cfg.AllowMsgTTL {
			return nil
		}
		cfg.AllowMsgTTL = true
		if _, err := js.UpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("event stream %s: allow per-message TTLs: %w", name, err)
		}
		return nil
	} else if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("event stream %s: %w", name, err)
	}
	return withReplicas(func(r int) error {
		_, err := js.CreateStream(ctx, jetstream.StreamConfig{
			Name:        name,
			Description: "wisp lattice " + lattice + " events (CloudEvents 1.0)",
			Subjects:    []string{EventSubject(lattice, ">")},
			Retention:   jetstream.LimitsPolicy,
			Discard:     jetstream.DiscardOld,
			MaxAge:      EventRetentionAge,
			MaxMsgs:     EventRetentionCount,
			MaxBytes:    EventRetentionBytes,
			Storage:     jetstream.FileStorage,
			Replicas:    r,
			AllowMsgTTL: true,
		})
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return nil // another host made it meanwhile
		}
		if err != nil {
			return fmt.Errorf("event stream %s: %w", name, err)
		}
		return nil
	})
}

// withReplicas runs create with three replicas, then two, then one, until
// the cluster accepts it: a standalone server refuses more than one and a
// two-node cluster more than two. So a lattice's state is replicated on
// min(3, cluster size) servers without asking the cluster its size.
func withReplicas(create func(replicas int) error) error {
	var err error
	for r := 3; r >= 1; r-- {
		if err = create(r); err == nil {
			return nil
		}
		var jerr jetstream.JetStreamError
		if !errors.As(err, &jerr) || jerr.APIError() == nil {
			return err // not the server refusing the replica count
		}
	}
	return err
}

// EventOptions selects what Events delivers.
type EventOptions struct {
	// Replay starts with the events the lattice's stream still holds, then
	// follows live ones.
	Replay bool
	// Types keeps only these short types (EventActorStarted...); empty
	// keeps all.
	Types []string
}

// Events calls fn with each event of the lattice until ctx ends or fn
// returns false. Bodies that are not events are skipped.
func (c *Client) Events(ctx context.Context, opts EventOptions, fn func(Event) bool) error {
	keep := func(e Event) bool {
		if len(opts.Types) == 0 {
			return true
		}
		for _, t := range opts.Types {
			if e.ShortType() == t {
				return true
			}
		}
		return false
	}
	if opts.Replay {
		return c.replayEvents(ctx, keep, fn)
	}
	ch := make(chan *nats.Msg, 256)
	sub, err := c.nc.ChanSubscribe(EventSubject(c.lattice, "*"), ch)
	if err != nil {
		return fmt.Errorf("subscribe to events: %w", err)
	}
	defer sub.Unsubscribe()
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-ch:
			var e Event
			if json.Unmarshal(m.Data, &e) != nil || e.Validate() != nil || !keep(e) {
				continue
			}
			if !fn(e) {
				return nil
			}
		}
	}
}

func (c *Client) replayEvents(ctx context.Context, keep func(Event) bool, fn func(Event) bool) error {
	js, err := c.JetStream()
	if err != nil {
		return fmt.Errorf("replay events: %w", err)
	}
	cons, err := js.OrderedConsumer(ctx, EventStreamName(c.lattice), jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return fmt.Errorf("replay events of lattice %q: %w", c.lattice, err)
	}
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("replay events: %w", err)
	}
	stopped := make(chan struct{})
	defer close(stopped)
	go func() { // ends the iterator when ctx does
		select {
		case <-ctx.Done():
			it.Stop()
		case <-stopped:
			it.Stop()
		}
	}()
	for {
		m, err := it.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			return fmt.Errorf("replay events: %w", err)
		}
		var e Event
		if json.Unmarshal(m.Data(), &e) != nil || e.Validate() != nil || !keep(e) {
			continue
		}
		if !fn(e) {
			return nil
		}
	}
}

// outcome is an actor event that answers a command.
type outcome struct {
	data ActorEventData
	typ  string
}

// outcomes routes the actor events that answer commands to the commands
// waiting for them: one subscription per client, however many commands
// wait, so that a reconciler starting a thousand actors at once does not
// receive every event a thousand times.
type outcomes struct {
	mu      sync.Mutex
	subs    []*nats.Subscription
	waiting map[string]chan outcome // by request id
}

func (o *outcomes) deliver(m *nats.Msg) {
	var e Event
	if json.Unmarshal(m.Data, &e) != nil {
		return
	}
	var d ActorEventData
	if json.Unmarshal(e.Data, &d) != nil || d.RequestID == "" {
		return
	}
	o.mu.Lock()
	ch := o.waiting[d.RequestID]
	o.mu.Unlock()
	if ch != nil {
		select {
		case ch <- outcome{d, e.ShortType()}:
		default: // answered already
		}
	}
}

// waitEvent registers requestID with the client's subscription to the
// actor events that answer commands (made on first use) and returns a
// function that waits for its event. Register before sending the command,
// so that the outcome cannot be missed.
func (c *Client) waitEvent(requestID string) (func(ctx context.Context) (*ActorEventData, string, error), func(), error) {
	o := &c.outcomes
	o.mu.Lock()
	made := o.subs == nil
	if made {
		for _, typ := range []string{EventActorStarted, EventActorScaled, EventActorFailed} {
			sub, err := c.nc.Subscribe(EventSubject(c.lattice, typ), o.deliver)
			if err != nil {
				for _, s := range o.subs {
					s.Unsubscribe()
				}
				o.subs = nil
				o.mu.Unlock()
				return nil, nil, fmt.Errorf("subscribe to events: %w", err)
			}
			o.subs = append(o.subs, sub)
		}
		o.waiting = map[string]chan outcome{}
	}
	ch := make(chan outcome, 1)
	o.waiting[requestID] = ch
	o.mu.Unlock()
	done := func() {
		o.mu.Lock()
		delete(o.waiting, requestID)
		o.mu.Unlock()
	}
	// No flush: the connection sends the subscriptions before the command
	// and the server reads them in order, so the host's event cannot pass
	// them (a route or leaf connection forwards the interest before the
	// command too), as nats.go's requests rely on for their reply
	// subscription. A broken connection fails the command itself.
	wait := func(ctx context.Context) (*ActorEventData, string, error) {
		select {
		case <-ctx.Done():
			return nil, "", ctx.Err()
		case out := <-ch:
			return &out.data, out.typ, nil
		}
	}
	return wait, done, nil
}

// closeOutcomes ends the client's event subscription.
func (c *Client) closeOutcomes() {
	o := &c.outcomes
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, s := range o.subs {
		s.Unsubscribe()
	}
	o.subs, o.waiting = nil, nil
}
