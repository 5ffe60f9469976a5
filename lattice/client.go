package lattice

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/wisp-dev/wisp/lattice/chunked"
)

// Sentinel errors, to be tested with errors.Is.
var (
	// ErrActorNotRunning reports a call to an actor no host runs. It is
	// ErrNotFound.
	ErrActorNotRunning error = &kindError{"actor not running", ErrNotFound}
	// ErrNoHosts reports a lattice where no host answered a ping. It is
	// ErrNotFound.
	ErrNoHosts error = &kindError{"no hosts answered", ErrNotFound}
	// ErrHostNotFound reports a host id that no host answers to. It is
	// ErrNotFound.
	ErrHostNotFound error = &kindError{"host not found", ErrNotFound}
	// ErrNoServer reports a NATS URL where no server answers.
	ErrNoServer = errors.New("no NATS server")
	// ErrNotAuthorized reports a NATS server that refused the
	// credentials, or a subject the user's role does not allow.
	ErrNotAuthorized = errors.New("not authorized")
)

// AuthHint marks a NATS refusal of the credentials or of a subject with
// ErrNotAuthorized and says where credentials come from; other errors
// pass through.
func AuthHint(err error) error {
	if err == nil {
		return nil
	}
	msg := strings.ToLower(err.Error())
	switch {
	case errors.Is(err, nats.ErrAuthorization), errors.Is(err, nats.ErrAuthExpired), errors.Is(err, nats.ErrAuthRevoked),
		strings.Contains(msg, "authorization violation"), strings.Contains(msg, "authentication"):
		return fmt.Errorf("%w: %w (the server requires credentials: --nats-creds FILE or a context, see 'wisp ctx'; 'wisp creds create' makes them where the lattice's auth store is)", ErrNotAuthorized, err)
	case errors.Is(err, nats.ErrPermissionViolation), strings.Contains(msg, "permissions violation"):
		return fmt.Errorf("%w: %w (the credentials' role does not allow it; see 'wisp creds --help')", ErrNotAuthorized, err)
	}
	return err
}

// Client calls actors and drives hosts on one lattice. It is safe for
// concurrent use.
type Client struct {
	nc      *nats.Conn
	own     bool
	lattice string
	timeout time.Duration
	quiet   time.Duration
	creds   Credentials
	domain  string

	outcomes outcomes // commands waiting for their events
}

// Option configures a Client.
type Option func(*Client)

// WithLattice selects the lattice id (default "default").
func WithLattice(id string) Option { return func(c *Client) { c.lattice = id } }

// WithJetStreamDomain reads the lattice's event stream from JetStream
// domain d (see natsserver.Config.JetStreamDomain).
func WithJetStreamDomain(d string) Option { return func(c *Client) { c.domain = d } }

// WithTimeout bounds each request that has no deadline in its context and
// how long a ping collects answers (default 5s).
func WithTimeout(d time.Duration) Option { return func(c *Client) { c.timeout = d } }

// WithQuietPeriod ends a ping early once no host has answered for d after
// the first answer (default 250ms). Zero waits for the whole timeout.
func WithQuietPeriod(d time.Duration) Option { return func(c *Client) { c.quiet = d } }

// NewClient uses an existing connection; Close does not close it.
func NewClient(nc *nats.Conn, opts ...Option) (*Client, error) {
	c := &Client{nc: nc, lattice: DefaultLattice, timeout: 5 * time.Second, quiet: 250 * time.Millisecond}
	for _, o := range opts {
		o(c)
	}
	if err := ValidateName("lattice id", c.lattice); err != nil {
		return nil, err
	}
	return c, nil
}

// Connect dials url and returns a client that owns the connection. A URL
// where nothing listens fails within a few seconds with ErrNoServer.
func Connect(url string, opts ...Option) (*Client, error) {
	probe := &Client{}
	for _, o := range opts {
		o(probe)
	}
	if probe.creds.CredsFile != "" || probe.creds.NkeySeedFile != "" {
		// The connection signs the server's nonce with Ed25519. A
		// process's first signature builds the curve's tables, 1–2.5 ms
		// on a small machine: a command-line client pays it each time.
		// Built on another core while the credentials are read and the
		// server dialled, it is ready when the nonce arrives.
		warmed := make(chan struct{})
		go func() {
			ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
			close(warmed)
		}()
		defer func() { <-warmed }()
	}
	nopts, err := probe.creds.NATSOptions()
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(url, append([]nats.Option{nats.Name("wisp client"), nats.Timeout(3 * time.Second)}, nopts...)...)
	if err != nil {
		if errors.Is(err, nats.ErrNoServers) {
			return nil, fmt.Errorf("connect %s: %w: is `wisp up` running? (set --nats-url or WISP_NATS_URL)", url, ErrNoServer)
		}
		return nil, fmt.Errorf("connect %s: %w", url, AuthHint(err))
	}
	c, err := NewClient(nc, opts...)
	if err != nil {
		nc.Close()
		return nil, err
	}
	c.own = true
	return c, nil
}

// Conn is the client's NATS connection.
func (c *Client) Conn() *nats.Conn { return c.nc }

// JetStream is the JetStream context of the lattice's state, in the
// client's JetStream domain when it has one.
func (c *Client) JetStream() (jetstream.JetStream, error) {
	if c.domain != "" {
		return jetstream.NewWithDomain(c.nc, c.domain)
	}
	return jetstream.New(c.nc)
}

// Lattice is the lattice id the client talks to.
func (c *Client) Lattice() string { return c.lattice }

// Close closes the connection if the client opened it.
func (c *Client) Close() {
	c.closeOutcomes()
	if c.own {
		c.nc.Close()
	}
}

func (c *Client) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, c.timeout)
}

// Call invokes operation on actor (its call alias or module key) with
// payload and returns the actor's answer.
func (c *Client) Call(ctx context.Context, actor, operation string, payload []byte) ([]byte, error) {
	if err := ValidateAlias("actor", actor); err != nil {
		return nil, fmt.Errorf("call: %w", err)
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	msg := &nats.Msg{Subject: RPCSubject(c.lattice, actor), Data: payload, Header: nats.Header{HeaderOperation: []string{operation}}}
	reply, err := chunked.Request(ctx, c.nc, msg, chunked.Options{})
	if err != nil {
		if errors.Is(err, nats.ErrNoResponders) {
			// NATS answers at once when no subscriber is reachable: no
			// host of this server, its cluster or the hub it is a leaf
			// of runs the actor. An edge site whose uplink is down gets
			// this for every actor that runs only in the cloud.
			return nil, fmt.Errorf("call %s: %w on lattice %q: no host reachable from %s runs it (start it with 'wisp start actor'; an edge site whose uplink is down reaches only its own actors)",
				actor, ErrActorNotRunning, c.lattice, c.serverName())
		}
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) {
			return nil, fmt.Errorf("call %s %s: %w: %w", actor, operation, ErrTimeout, err)
		}
		if errors.Is(err, chunked.ErrTooLarge) {
			err = WithCode(CodePayloadTooLarge, err)
		}
		return nil, fmt.Errorf("call %s %s: %w", actor, operation, AuthHint(err))
	}
	if err := ReplyError(reply); err != nil {
		return nil, fmt.Errorf("call %s %s: %w", actor, operation, err)
	}
	return reply.Data, nil
}

// serverName names the NATS server the client is connected to, for errors.
func (c *Client) serverName() string {
	if u := c.nc.ConnectedUrlRedacted(); u != "" {
		return u
	}
	return "this NATS server"
}

// Hosts pings the lattice and returns every host that answered, sorted by
// name.
func (c *Client) Hosts(ctx context.Context) ([]HostSummary, error) {
	var hosts []HostSummary
	err := c.gather(ctx, PingSubject(c.lattice), nil, func(data []byte) bool {
		var h HostSummary
		if json.Unmarshal(data, &h) != nil || h.ID == "" {
			return false // not a host; ignore rather than fail the listing
		}
		hosts = append(hosts, h)
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("ping hosts: %w", err)
	}
	if len(hosts) == 0 {
		return nil, fmt.Errorf("ping lattice %q: %w", c.lattice, ErrNoHosts)
	}
	sort.Slice(hosts, func(i, j int) bool { return hosts[i].Name+hosts[i].ID < hosts[j].Name+hosts[j].ID })
	return hosts, nil
}

// gather publishes body on subject and passes every answer to take until
// the client's timeout, or until the quiet period passes without an
// answer after take accepted one (scatter-gather).
func (c *Client) gather(ctx context.Context, subject string, body []byte, take func([]byte) bool) error {
	return c.gatherWithin(ctx, subject, body, c.quiet, take, nil)
}

// Bounds of an auction's quiet period (see auction).
const (
	auctionSettleRTTs = 8
	auctionSettleMin  = 25 * time.Millisecond
)

// settleRule shortens a gather's quiet period once an answer came, and
// may end it early.
type settleRule struct {
	// after gives the quiet period from how long the first taken answer
	// took to come.
	after func(first time.Duration) time.Duration
	// done reports, after each taken answer, that no other is needed.
	done func() bool
}

// gatherWithin is gather with quiet period quiet, shortened and ended by
// rule when it is set.
func (c *Client) gatherWithin(ctx context.Context, subject string, body []byte, quiet time.Duration, take func([]byte) bool, rule *settleRule) error {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	inbox := c.nc.NewRespInbox()
	sub, err := c.nc.SubscribeSync(inbox)
	if err != nil {
		return err
	}
	defer sub.Unsubscribe()
	sent := time.Now()
	if err := c.nc.PublishRequest(subject, inbox, body); err != nil {
		return err
	}
	got := 0
	for {
		wait := ctx
		var stop context.CancelFunc = func() {}
		if got > 0 && quiet > 0 {
			wait, stop = context.WithTimeout(ctx, quiet)
		}
		m, err := sub.NextMsgWithContext(wait)
		stop()
		if err != nil {
			return nil
		}
		if !take(m.Data) {
			continue
		}
		if rule != nil {
			if got == 0 && quiet > 0 {
				quiet = min(quiet, rule.after(time.Since(sent)))
			}
			if rule.done != nil && rule.done() {
				return nil
			}
		}
		got++
	}
}

// request sends a JSON control command to one host and decodes its answer
// into out, whose Ack must say accepted.
func (c *Client) request(ctx context.Context, hostID, verb string, in any, out interface{ ack() Ack }) error {
	if err := ValidateName("host id", hostID); err != nil {
		return fmt.Errorf("%s on host %q: %w in lattice %q (%v)", verb, hostID, ErrHostNotFound, c.lattice, err)
	}
	id, err := c.ResolveHost(ctx, hostID)
	if err != nil {
		return fmt.Errorf("%s: %w", verb, err)
	}
	return c.requestSubject(ctx, HostSubject(c.lattice, id, verb), verb+" on host "+hostID, in, out, ErrHostNotFound)
}

// ResolveHost turns a host reference into its id: a host's id (N…, 56
// characters) as it is, else the host whose friendly name is ref, else the
// one whose id starts with ref (the 8 characters logs print do), else ref
// itself, which the command then finds no host for (ErrHostNotFound). A
// reference two hosts share is an error naming them.
func (c *Client) ResolveHost(ctx context.Context, ref string) (string, error) {
	if len(ref) == 56 && ref[0] == 'N' {
		return ref, nil
	}
	hosts, err := c.Hosts(ctx)
	if err != nil && !errors.Is(err, ErrNoHosts) {
		return "", fmt.Errorf("host %q: %w", ref, err)
	}
	var byName, byPrefix []string
	for _, h := range hosts {
		if h.Name == ref {
			byName = append(byName, h.ID)
		}
		if strings.HasPrefix(h.ID, strings.ToUpper(ref)) {
			byPrefix = append(byPrefix, h.ID)
		}
	}
	switch {
	case len(byName) == 1:
		return byName[0], nil
	case len(byName) > 1:
		return "", fmt.Errorf("host %q: %d hosts have that name (%s): give an id", ref, len(byName), strings.Join(byName, ", "))
	case len(byPrefix) == 1:
		return byPrefix[0], nil
	case len(byPrefix) > 1:
		return "", fmt.Errorf("host %q: the ids of %s start with it: give more of one", ref, strings.Join(byPrefix, ", "))
	}
	// No host answered to it by name or prefix: ask by id, the one the
	// host may still answer to (a ping misses a host that is busy).
	return ref, nil
}

// requestSubject sends a JSON control command to subject; what names the
// command in errors, and noOne is the error when nobody answers.
func (c *Client) requestSubject(ctx context.Context, subject, what string, in any, out interface{ ack() Ack }, noOne error) error {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	reply, err := c.nc.RequestWithContext(ctx, subject, body)
	if err != nil {
		if errors.Is(err, nats.ErrNoResponders) {
			return fmt.Errorf("%s: %w in lattice %q", what, noOne, c.lattice)
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := json.Unmarshal(reply.Data, out); err != nil {
		return fmt.Errorf("%s: bad reply: %w", what, err)
	}
	if a := out.ack(); !a.Accepted {
		return &RemoteError{Code: a.Code, Message: a.Error}
	}
	return nil
}

func (a Ack) ack() Ack { return a }

// wrapLocal adds context to errors of this side; a host's answer already
// says what failed.
func wrapLocal(err error, format string, args ...any) error {
	var re *RemoteError
	if errors.As(err, &re) {
		return err
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}

// Inventories returns what runs on every host that answers a ping, by
// host id order; a host gone between the ping and its inventory is left
// out.
func (c *Client) Inventories(ctx context.Context) ([]*HostInventory, error) {
	hosts, err := c.Hosts(ctx)
	if err != nil {
		return nil, err
	}
	var out []*HostInventory
	for _, h := range hosts {
		if inv, err := c.Inventory(ctx, h.ID); err == nil {
			out = append(out, inv)
		}
	}
	return out, nil
}

// Inventory returns what runs on one host.
func (c *Client) Inventory(ctx context.Context, hostID string) (*HostInventory, error) {
	var inv HostInventory
	if err := c.request(ctx, hostID, VerbInventory, nil, &inv); err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	return &inv, nil
}

// StartActor asks a host to start an actor and waits for the outcome: the
// host acknowledges the command at once, then publishes actor_started or
// actor_failed, which StartActor waits for until ctx ends (a pull and a
// compile can take a while; give ctx a deadline). A refused start is a
// *RemoteError.
func (c *Client) StartActor(ctx context.Context, hostID string, req StartActorRequest) (*ActorDescription, error) {
	if req.RequestID == "" {
		req.RequestID = nuid.Next()
	}
	d, err := c.commandWithOutcome(ctx, hostID, VerbStartActor, req.RequestID, req)
	if err != nil {
		return nil, wrapLocal(err, "start actor %s", req.Ref)
	}
	return d, nil
}

// ScaleActor changes the number of instances of an actor on a host and
// waits for the actor_scaled or actor_failed event, as StartActor does.
func (c *Client) ScaleActor(ctx context.Context, hostID, actor string, count int) (*ActorDescription, error) {
	req := ScaleActorRequest{Actor: actor, Count: count, RequestID: nuid.Next()}
	d, err := c.commandWithOutcome(ctx, hostID, VerbScaleActor, req.RequestID, req)
	if err != nil {
		return nil, wrapLocal(err, "scale actor %s", actor)
	}
	return d, nil
}

// UpdateActor swaps the module of an actor running on a host (see
// UpdateActorRequest) and waits for the outcome event, as StartActor does.
func (c *Client) UpdateActor(ctx context.Context, hostID string, req UpdateActorRequest) (*ActorDescription, error) {
	if req.RequestID == "" {
		req.RequestID = nuid.Next()
	}
	d, err := c.commandWithOutcome(ctx, hostID, VerbUpdateActor, req.RequestID, req)
	if err != nil {
		return nil, wrapLocal(err, "update actor %s", req.Actor)
	}
	return d, nil
}

// commandWithOutcome sends a command whose outcome comes as an event with
// requestID and returns the actor the event describes.
func (c *Client) commandWithOutcome(ctx context.Context, hostID, verb, requestID string, req any) (*ActorDescription, error) {
	wait, done, err := c.waitEvent(requestID)
	if err != nil {
		return nil, err
	}
	defer done()
	var a Ack
	if err := c.request(ctx, hostID, verb, req, &a); err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	d, typ, err := wait(ctx)
	if err != nil {
		return nil, fmt.Errorf("host %s accepted the command but its outcome did not arrive: %w", hostID, err)
	}
	if typ == EventActorFailed || d.Actor == nil {
		return nil, &RemoteError{Code: d.Code, Message: d.Error}
	}
	return d.Actor, nil
}

// StopActor stops an actor on a host; calls in flight finish first.
func (c *Client) StopActor(ctx context.Context, hostID, actor string) error {
	var a Ack
	if err := c.request(ctx, hostID, VerbStopActor, StopActorRequest{Actor: actor}, &a); err != nil {
		return wrapLocal(err, "stop actor %s", actor)
	}
	return nil
}

// StopHost asks a host to drain and exit.
func (c *Client) StopHost(ctx context.Context, hostID string) error {
	var a Ack
	if err := c.request(ctx, hostID, VerbStopHost, nil, &a); err != nil {
		return fmt.Errorf("stop host: %w", err)
	}
	return nil
}
