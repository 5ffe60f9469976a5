package host_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wisp-dev/wisp/host"
	"github.com/wisp-dev/wisp/host/claims"
	"github.com/wisp-dev/wisp/internal/authtest"
	"github.com/wisp-dev/wisp/internal/testwait"
	"github.com/wisp-dev/wisp/internal/testwasm"
	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/auth"
	"github.com/wisp-dev/wisp/lattice/natsserver"
)

// addHost starts another host on the env's server.
func (e *env) addHost(t *testing.T, opts ...host.Option) *host.Host {
	t.Helper()
	nc := e.lat.ConnectInProcess(t, auth.HostUser)
	opts = append([]host.Option{host.WithLogger(slog.New(slog.NewTextHandler(e.logs, nil))), host.WithEngineInstance(sharedEngine),
		host.WithPolicy(host.Policy{AllowUnsigned: true}), host.WithFileDirs(os.TempDir())}, opts...)
	h, err := host.New(context.Background(), nc, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Stop(context.Background()) })
	return h
}

// waitLinks waits until a host answers link commands (its JetStream state
// is set up) and returns the links.
func (e *env) waitLinks(t *testing.T) []lattice.Link {
	t.Helper()
	var ls []lattice.Link
	testwait.Eventually(t, 20*time.Second, func() error {
		var err error
		if ls, err = e.client.Links(context.Background()); err != nil {
			return fmt.Errorf("links are not available: %w", err)
		}
		return nil
	})
	return ls
}

// eventLog collects a lattice's live events.
type eventLog struct {
	mu     sync.Mutex
	events []lattice.Event
}

func (l *eventLog) types() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.events {
		out = append(out, e.ShortType())
	}
	return out
}

func watchEvents(t *testing.T, c *lattice.Client, opts lattice.EventOptions) *eventLog {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &eventLog{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Events(ctx, opts, func(e lattice.Event) bool {
			l.mu.Lock()
			l.events = append(l.events, e)
			l.mu.Unlock()
			return true
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	return l
}

func TestStartScaleStopReportTheirOutcomeAsCloudEvents(t *testing.T) {
	e := newEnv(t, host.WithName("evt"))
	e.waitLinks(t) // the event stream exists from here on
	live := watchEvents(t, e.client, lattice.EventOptions{})
	ctx := context.Background()
	time.Sleep(100 * time.Millisecond) // let the live subscription reach the server
	p := filepath.Join(t.TempDir(), "wat.wasm")
	writeFile(t, p, testwasm.Wat(t, filepath.Join("engine", "testdata", "guest.wat")))
	d, err := e.client.StartActor(ctx, e.host.ID(), lattice.StartActorRequest{Ref: p, Count: 2})
	if err != nil || d.Name != "wat" || d.Instances != 2 {
		t.Fatalf("start = %+v, %v", d, err)
	}
	if d, err = e.client.ScaleActor(ctx, e.host.ID(), "wat", 3); err != nil || d.Instances != 3 {
		t.Fatalf("scale = %+v, %v", d, err)
	}
	_, err = e.client.StartActor(ctx, e.host.ID(), lattice.StartActorRequest{Ref: filepath.Join(t.TempDir(), "missing.wasm")})
	var re *lattice.RemoteError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("failed start = %v, want the host's reason", err)
	}
	if err := e.client.StopActor(ctx, e.host.ID(), "wat"); err != nil {
		t.Fatal(err)
	}
	want := []string{"actor_started", "actor_scaled", "actor_failed", "actor_stopped"}
	testwait.Eventually(t, 20*time.Second, testwait.Holds("actor events", func() bool { return len(live.types()) >= len(want) }))
	if got := strings.Join(live.types(), ","); got != strings.Join(want, ",") {
		t.Fatalf("events = %s, want %s", got, strings.Join(want, ","))
	}
	for _, ev := range live.events {
		if err := ev.Validate(); err != nil || ev.DataContentType != "application/json" || !strings.HasSuffix(ev.Source, e.host.ID()) {
			t.Fatalf("not a CloudEvent from the host: %+v (%v)", ev, err)
		}
	}
	var failed lattice.ActorEventData
	json.Unmarshal(live.events[2].Data, &failed)
	if failed.Command != "start" || !strings.Contains(failed.Error, "no such file") {
		t.Fatalf("actor_failed data = %+v", failed)
	}

	// A late subscriber replays what the stream kept, host_started first.
	replay := watchEvents(t, e.client, lattice.EventOptions{Replay: true, Types: []string{"host_started", "actor_scaled"}})
	testwait.Eventually(t, 20*time.Second, testwait.Holds("replayed events", func() bool { return len(replay.types()) >= 2 }))
	if got := strings.Join(replay.types(), ","); got != "host_started,actor_scaled" {
		t.Fatalf("replayed = %s", got)
	}
}

// A client subscribes to the outcome events once, on its first command,
// and waits for that subscription to reach the server only then: commands
// sent at the same moment by a fresh client, while the first of them is
// still waiting, and commands after them all get their outcomes.
func TestConcurrentCommandsOfAFreshClientAllGetTheirOutcome(t *testing.T) {
	e := newEnv(t, host.WithName("outcomes"))
	e.start(t, testwasm.Wat(t, filepath.Join("engine", "testdata", "guest.wat")), "wat", 1, lattice.ActorLimits{})
	c, err := lattice.Connect(e.srv.ClientURL(), lattice.WithTimeout(time.Minute), lattice.WithCredentials(e.lat.Creds(lattice.DefaultLattice, auth.AdminUser)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	for round := range 2 {
		errs := make(chan error, 8)
		for i := range 8 {
			go func() {
				d, err := c.ScaleActor(ctx, e.host.ID(), "wat", 1+i%3)
				if err == nil && d.Name != "wat" {
					err = fmt.Errorf("outcome describes %q", d.Name)
				}
				errs <- err
			}()
		}
		for range 8 {
			if err := <-errs; err != nil {
				t.Fatalf("round %d: scale: %v", round, err)
			}
		}
	}
}

func TestHeartbeatsCarryTheInventorySummary(t *testing.T) {
	e := newEnv(t, host.WithHeartbeat(50*time.Millisecond))
	e.start(t, testwasm.Wat(t, filepath.Join("engine", "testdata", "guest.wat")), "wat", 2, lattice.ActorLimits{})
	live := watchEvents(t, e.client, lattice.EventOptions{Types: []string{lattice.EventHostHeartbeat}})
	var d lattice.HostEventData
	testwait.Eventually(t, 20*time.Second, testwait.Holds("a heartbeat listing the actor", func() bool {
		live.mu.Lock()
		defer live.mu.Unlock()
		for _, ev := range live.events {
			if json.Unmarshal(ev.Data, &d) == nil && len(d.Actors) == 1 {
				return true
			}
		}
		return false
	}))
	if d.Host.ID != e.host.ID() || d.Actors[0].Name != "wat" || d.Actors[0].Instances != 2 || d.Host.Instances != 2 {
		t.Fatalf("heartbeat = %+v", d)
	}
	// The event stream keeps heartbeats for lattice.HeartbeatTTL only;
	// other events stay for the stream's retention.
	js, err := jetstream.New(e.lat.Connect(t, auth.HostUser))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	stream, err := js.Stream(ctx, lattice.EventStreamName("default"))
	if err != nil {
		t.Fatal(err)
	}
	for typ, want := range map[string]string{lattice.EventHostHeartbeat: lattice.HeartbeatTTL(50 * time.Millisecond).String(), lattice.EventActorStarted: ""} {
		m, err := stream.GetLastMsgForSubject(ctx, lattice.EventSubject("default", typ))
		if err != nil {
			t.Fatalf("last stored %s: %v", typ, err)
		}
		if got := m.Header.Get(jetstream.MsgTTLHeader); got != want {
			t.Errorf("stored %s: Nats-TTL %q, want %q", typ, got, want)
		}
	}
}

func TestAuctionOnlyMatchingHostsBid(t *testing.T) {
	e := newEnv(t, host.WithLabels(map[string]string{"tier": "cloud", "zone": "eu"}))
	pi := e.addHost(t, host.WithLabels(map[string]string{"tier": "pi", "zone": "eu"}))
	ctx := context.Background()
	x := filepath.Join(os.TempDir(), "x.wasm") // where the hosts read module files
	e.start(t, testwasm.Wat(t, filepath.Join("engine", "testdata", "guest.wat")), "wat", 3, lattice.ActorLimits{})

	bids, err := e.client.AuctionActor(ctx, lattice.AuctionActorRequest{Ref: x, Constraints: map[string]string{"tier": "pi"}})
	if err != nil || len(bids) != 1 || bids[0].HostID != pi.ID() {
		t.Fatalf("tier=pi bids = %+v, %v", bids, err)
	}
	// Both match zone=eu; the host without instances comes first.
	bids, err = e.client.AuctionActor(ctx, lattice.AuctionActorRequest{Ref: x, Constraints: map[string]string{"zone": "eu"}})
	if err != nil || len(bids) != 2 || bids[0].HostID != pi.ID() || bids[1].Instances != 3 {
		t.Fatalf("zone=eu bids = %+v, %v", bids, err)
	}
	_, err = e.client.AuctionActor(ctx, lattice.AuctionActorRequest{Ref: x, Constraints: map[string]string{"tier": "gateway", "zone": "us"}})
	if !errors.Is(err, lattice.ErrNoBids) || !strings.Contains(err.Error(), "tier=gateway,zone=us") {
		t.Fatalf("no match = %v, want ErrNoBids naming the constraints", err)
	}
	// A host that matches but runs providers only says so.
	e.addHost(t, host.WithName("gw"), host.WithProvidersOnly(true), host.WithLabels(map[string]string{"tier": "gateway"}))
	_, err = e.client.AuctionActor(ctx, lattice.AuctionActorRequest{Ref: x, Constraints: map[string]string{"tier": "gateway"}})
	if !errors.Is(err, lattice.ErrNoBids) || !strings.Contains(err.Error(), "declined: gw (runs providers only)") {
		t.Fatalf("a matching providers-only host = %v, want it to say why it declined", err)
	}
	// A module file outside every directory a host reads: no host would
	// start it, so none bids, and each says why; an OCI reference gets bids.
	_, err = e.client.AuctionActor(ctx, lattice.AuctionActorRequest{Ref: "/srv/elsewhere/x.wasm", Constraints: map[string]string{"tier": "pi"}})
	if !errors.Is(err, lattice.ErrNoBids) || !strings.Contains(err.Error(), "reads no module file there (wisp up --allow-file-dir)") {
		t.Fatalf("a file no host may read = %v, want each host to decline saying why", err)
	}
	if bids, err := e.client.AuctionActor(ctx, lattice.AuctionActorRequest{Ref: "registry.example/x:0.1.0", Constraints: map[string]string{"tier": "pi"}}); err != nil || len(bids) != 1 {
		t.Fatalf("an OCI reference's bids = %+v, %v", bids, err)
	}
}

// TestLinksAreCheckedStoredAndRouteToTheProvider: a link needs a running
// actor that claims the contract; a host call over it reaches whoever
// serves the provider subject on NATS (here plain nats.go, the provider's
// real wire protocol).
func TestLinksAreCheckedStoredAndRouteToTheProvider(t *testing.T) {
	e := newEnv(t, host.WithPolicy(host.Policy{}))
	other := e.addHost(t, host.WithPolicy(host.Policy{}))
	ctx := context.Background()
	probe := testwasm.GoActor(t, "internal/testactors/probe")
	s := newSigner(t)
	if err := e.startErr(t, s.sign(t, probe, "kv", claims.CapKeyValue), "kv.wasm"); err != nil {
		t.Fatal(err)
	}
	if err := e.startErr(t, newSigner(t).sign(t, probe, "nocaps"), "nocaps.wasm"); err != nil {
		t.Fatal(err)
	}
	e.waitLinks(t)

	if _, err := e.client.PutLink(ctx, lattice.Link{ActorID: "ghost", ProviderID: "kvredis", ContractID: claims.CapKeyValue}); err == nil || !strings.Contains(err.Error(), `actor "ghost" is not running`) {
		t.Fatalf("link to a missing actor = %v", err)
	}
	if _, err := e.client.PutLink(ctx, lattice.Link{ActorID: "nocaps", ProviderID: "kvredis", ContractID: claims.CapKeyValue}); err == nil || !strings.Contains(err.Error(), "does not claim contract wasmcloud:keyvalue") {
		t.Fatalf("link to an unclaimed contract = %v", err)
	}
	if _, err := e.client.PutLink(ctx, lattice.Link{ActorID: "kv", ProviderID: "bad.id", ContractID: claims.CapKeyValue}); err == nil {
		t.Fatal("accepted a provider id with a dot")
	}
	l, err := e.client.PutLink(ctx, lattice.Link{ActorID: "kv", ProviderID: "kvredis", ContractID: claims.CapKeyValue, Values: map[string]string{"URL": "redis://127.0.0.1:6379"}})
	if err != nil || !strings.HasPrefix(l.ActorID, "M") || l.ActorName != "kv" || l.LinkName != "default" {
		t.Fatalf("put link = %+v, %v", l, err)
	}
	ls, err := e.client.Links(ctx)
	if err != nil || len(ls) != 1 || ls[0].Values["URL"] != "redis://127.0.0.1:6379" {
		t.Fatalf("links = %+v, %v", ls, err)
	}

	// The provider: a plain NATS responder on the provider subject.
	nc := e.lat.Connect(t, auth.ProviderUser)
	sub, err := nc.Subscribe(lattice.ProviderSubject("default", claims.CapKeyValue, "default"), func(m *nats.Msg) {
		reply := nats.NewMsg(m.Reply)
		reply.Data = []byte("value of " + string(m.Data) + " for " + m.Header.Get(lattice.HeaderSource) + " op " + m.Header.Get(lattice.HeaderOperation))
		m.RespondMsg(reply)
	})
	if err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	out, err := e.client.Call(ctx, "kv", "Probe.Link", []byte("k1"))
	if want := "value of k1 for " + l.ActorID + " op KeyValue.Get"; err != nil || string(out) != want {
		t.Fatalf("linked host call = %q, %v; want %q", out, err, want)
	}
	// The other host learned the link from its watch: the same actor
	// started there routes too.
	testwait.Eventually(t, 20*time.Second, testwait.Holds("the link on the other host", func() bool {
		ls, _ := other.Links(ctx)
		return len(ls) == 1
	}))
	sub.Unsubscribe()
	nc.Flush()
	if _, err := e.client.Call(ctx, "kv", "Probe.Link", []byte("k1")); err == nil || !strings.Contains(err.Error(), "provider kvredis is not running") {
		t.Fatalf("call with the provider gone = %v", err)
	}

	if _, err := e.client.DeleteLink(ctx, "kv", claims.CapKeyValue, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.DeleteLink(ctx, "kv", claims.CapKeyValue, ""); err == nil || !strings.Contains(err.Error(), "no link") {
		t.Fatalf("second delete = %v", err)
	}
	if _, err := e.client.Call(ctx, "kv", "Probe.Link", []byte("k1")); err == nil || !strings.Contains(err.Error(), "no link") {
		t.Fatalf("call after delete = %v", err)
	}
}

// TestMalformedJSONOnEveryControlSubjectGetsAnErrorReply: every command
// that takes a body answers garbage with accepted=false, and the host
// keeps answering.
func TestMalformedJSONOnEveryControlSubjectGetsAnErrorReply(t *testing.T) {
	e := newEnv(t)
	e.waitLinks(t)
	nc := e.client.Conn()
	subjects := []string{
		lattice.HostSubject("default", e.host.ID(), lattice.VerbStartActor),
		lattice.HostSubject("default", e.host.ID(), lattice.VerbScaleActor),
		lattice.HostSubject("default", e.host.ID(), lattice.VerbStopActor),
		lattice.HostSubject("default", e.host.ID(), "no_such_verb"),
		lattice.HostSubject("default", e.host.ID(), lattice.VerbInventory),
		lattice.HostSubject("default", e.host.ID(), lattice.VerbStopHost),
		lattice.LinkSubject("default", lattice.VerbLinkGet),
		lattice.PingSubject("default"),
		lattice.LinkSubject("default", lattice.VerbLinkPut),
		lattice.LinkSubject("default", lattice.VerbLinkDel),
		lattice.AuctionActorSubject("default"),
	}
	for _, s := range subjects {
		for _, body := range []string{"{", "[1,2", `{"ref":5`, "\x00\xff"} {
			reply, err := nc.Request(s, []byte(body), 5*time.Second)
			if err != nil {
				t.Fatalf("%s %q: %v", s, body, err)
			}
			var a lattice.Ack
			if err := json.Unmarshal(reply.Data, &a); err != nil || a.Accepted || a.Error == "" {
				t.Fatalf("%s %q answered %s", s, body, reply.Data)
			}
		}
	}
	if _, err := e.client.Hosts(context.Background()); err != nil {
		t.Fatalf("host stopped answering: %v", err)
	}
	select {
	case <-e.host.StopRequested():
		t.Fatal("a malformed stop command stopped the host")
	default:
	}
	if err := e.client.StopActor(context.Background(), "NOSUCHHOST", "x"); !errors.Is(err, lattice.ErrHostNotFound) {
		t.Fatalf("stop on an unknown host = %v, want ErrHostNotFound", err)
	}
}

// TestHostReregistersAfterItsNATSServerRestarts: the server goes away and
// comes back on the same port and store; the host answers pings, serves
// its actor and routes its links again.
func TestHostReregistersAfterItsNATSServerRestarts(t *testing.T) {
	ctx := context.Background()
	store := t.TempDir()
	srv, err := natsserver.Start(ctx, natsserver.Config{Port: -1, StoreDir: store})
	if err != nil {
		t.Fatal(err)
	}
	url := srv.ClientURL()
	port := url[strings.LastIndexByte(url, ':')+1:]
	defer func() { srv.Shutdown() }()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	logs := &logBuffer{}
	h, err := host.New(ctx, nc, host.WithEngineInstance(sharedEngine), host.WithPolicy(host.Policy{AllowUnsigned: true}), host.WithFileDirs(os.TempDir()),
		host.WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Stop(ctx)
	c, err := lattice.Connect(url, lattice.WithTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p := filepath.Join(t.TempDir(), "probe.wasm")
	writeFile(t, p, testwasm.GoActor(t, "internal/testactors/probe"))
	if _, err := c.StartActor(ctx, h.ID(), lattice.StartActorRequest{Ref: p}); err != nil {
		t.Fatal(err)
	}
	testwait.Eventually(t, 20*time.Second, func() error {
		_, err := c.PutLink(ctx, lattice.Link{ActorID: "probe", ProviderID: "kv", ContractID: claims.CapKeyValue})
		return err
	})
	c.Close()

	srv.Shutdown()
	p2, _ := strconv.Atoi(port)
	srv, err = natsserver.Start(ctx, natsserver.Config{Port: p2, StoreDir: store})
	if err != nil {
		t.Fatal(err)
	}
	if c, err = lattice.Connect(url, lattice.WithTimeout(time.Minute)); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	testwait.Eventually(t, 20*time.Second, testwait.Holds("the actor to serve again", func() bool {
		out, err := c.Call(ctx, "probe", "Probe.Dice", nil)
		return err == nil && len(out) == 1
	}))
	if hosts, err := c.Hosts(ctx); err != nil || len(hosts) != 1 || hosts[0].ID != h.ID() {
		t.Fatalf("hosts after the restart = %+v, %v", hosts, err)
	}
	prov, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer prov.Close()
	prov.Subscribe(lattice.ProviderSubject("default", claims.CapKeyValue, "default"), func(m *nats.Msg) { m.Respond([]byte("still linked")) })
	prov.Flush()
	if out, err := c.Call(ctx, "probe", "Probe.Link", nil); err != nil || string(out) != "still linked" {
		t.Fatalf("linked call after the restart = %q, %v", out, err)
	}
	if !strings.Contains(logs.String(), "re-registering") {
		t.Fatalf("no reconnect in the logs:\n%s", logs)
	}
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestOneHostAnswersForAnActor: of the hosts running an actor, one answers
// the alias check and the identity request (queue groups): a thousand
// hosts starting an actor would otherwise each get a thousand answers.
func TestOneHostAnswersForAnActor(t *testing.T) {
	e := newEnv(t)
	other := e.addHost(t)
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "wat.wasm")
	writeFile(t, p, testwasm.Wat(t, filepath.Join("engine", "testdata", "guest.wat")))
	for _, h := range []*host.Host{e.host, other} {
		if d, err := e.client.StartActor(ctx, h.ID(), lattice.StartActorRequest{Ref: p}); err != nil || d.Name != "wat" {
			t.Fatalf("start on %s = %+v, %v", h.Name(), d, err)
		}
	}
	nc := e.lat.Connect(t, auth.HostUser)
	for _, subject := range []string{lattice.AliasSubject("default", "wat"), lattice.ActorSubject("default", "wat")} {
		inbox := nc.NewRespInbox()
		sub, err := nc.SubscribeSync(inbox)
		if err != nil {
			t.Fatal(err)
		}
		if err := nc.PublishRequest(subject, inbox, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := sub.NextMsg(5 * time.Second); err != nil {
			t.Fatalf("%s: no answer: %v", subject, err)
		}
		if m, err := sub.NextMsg(500 * time.Millisecond); err == nil {
			t.Fatalf("%s: a second host answered too: %q", subject, m.Data)
		}
		sub.Unsubscribe()
	}
}

// TestAuctionEndsOnceEveryHostAnswered: each host says how many hosts it
// knows to be up and hosts that do not match answer too, so an auction
// ends at the last host's answer: a bid sent right after it is not taken.
// While a host in the count does not answer, the auction waits as it did
// before hosts counted, and takes that bid.
func TestAuctionEndsOnceEveryHostAnswered(t *testing.T) {
	e := newEnv(t, host.WithLabels(map[string]string{"tier": "cloud"}))
	pi := e.addHost(t, host.WithLabels(map[string]string{"tier": "pi"}))
	ctx := context.Background()
	ref := "registry.example/x:0.1.0"
	knowing := func(n int) {
		t.Helper()
		testwait.Eventually(t, 20*time.Second, func() error {
			bids, err := e.client.AuctionActor(ctx, lattice.AuctionActorRequest{Ref: ref})
			if err != nil {
				return err
			}
			if len(bids) != 2 || bids[0].LatticeHosts != n || bids[1].LatticeHosts != n {
				return fmt.Errorf("bids %+v, want both hosts knowing %d", bids, n)
			}
			return nil
		})
	}
	knowing(2)

	// A late bidder, on a connection of its own: once `after` answers of
	// an auction reached the client's inbox, it bids too.
	late := e.lat.ConnectInProcess(t, auth.HostUser)
	var after atomic.Int32
	var mu sync.Mutex
	answers := map[string]int{} // by reply subject
	var seen []string           // every answer, for a failure's message
	_, err := late.Subscribe(lattice.InboxPrefix(auth.AdminUser)+".>", func(m *nats.Msg) {
		var b lattice.AuctionBid
		if json.Unmarshal(m.Data, &b) != nil || b.HostID == "NLATE" || (b.HostID == "" && b.Unmatched == "") {
			return
		}
		mu.Lock()
		seen = append(seen, fmt.Sprintf("%s: host %q unmatched %q knows %d", m.Subject, b.HostID, b.Unmatched, b.LatticeHosts))
		answers[m.Subject]++
		n := answers[m.Subject]
		mu.Unlock()
		if n == int(after.Load()) {
			bid, _ := json.Marshal(lattice.AuctionBid{Ack: lattice.Ack{Accepted: true}, HostID: "NLATE", HostName: "late"})
			late.Publish(m.Subject, bid)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := late.Flush(); err != nil {
		t.Fatal(err)
	}
	bidders := func() []string {
		t.Helper()
		bids, err := e.client.AuctionActor(ctx, lattice.AuctionActorRequest{Ref: ref, Constraints: map[string]string{"tier": "pi"}})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, b := range bids {
			ids = append(ids, b.HostID)
		}
		return ids
	}

	// Both hosts answer (the cloud host: it does not match), and both
	// know two hosts: the auction is over before the late bid.
	after.Store(2)
	if ids := bidders(); len(ids) != 1 || ids[0] != pi.ID() {
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("every host answered: bidders %v, want only %s; answers seen:\n%s", ids, pi.ID(), strings.Join(seen, "\n"))
	}

	// A third host that never answers: the auction waits, and takes the
	// late bid.
	after.Store(0)
	ghost := func(typ string) {
		t.Helper()
		ev, err := lattice.NewEvent(lattice.DefaultLattice, "NGHOST", typ, lattice.HostEventData{Host: lattice.HostSummary{ID: "NGHOST", HeartbeatMS: 30_000}})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(ev)
		if err := late.Publish(lattice.EventSubject(lattice.DefaultLattice, typ), b); err != nil {
			t.Fatal(err)
		}
	}
	ghost(lattice.EventHostStarted)
	knowing(3)
	after.Store(2)
	if ids := bidders(); len(ids) != 2 || !slices.Contains(ids, "NLATE") {
		t.Fatalf("a counted host silent: bidders %v, want the late bid taken too", ids)
	}
	after.Store(0)
	ghost(lattice.EventHostStopped)
	knowing(2)

	// A host whose connection closes without a word is out of the count
	// at once: the server's disconnect advisory names its connection.
	nc := e.lat.ConnectInProcess(t, auth.HostUser)
	gone, err := host.New(ctx, nc, host.WithEngineInstance(sharedEngine), host.WithLabels(map[string]string{"tier": "edge"}))
	if err != nil {
		t.Fatal(err)
	}
	defer gone.Stop(ctx)
	testwait.Eventually(t, 20*time.Second, func() error {
		bids, err := e.client.AuctionActor(ctx, lattice.AuctionActorRequest{Ref: ref, Constraints: map[string]string{"tier": "pi"}})
		if err != nil || len(bids) != 1 || bids[0].LatticeHosts != 3 {
			return fmt.Errorf("bids %+v, %v: want pi knowing 3", bids, err)
		}
		return nil
	})
	nc.Close()
	knowing(2)
}

// TestOutcomesCrossARoute checks that a fresh client's command gets its
// outcome event when the host is on another server of a cluster: the
// client does not wait for its event subscriptions to reach the server
// before sending the command, and the route must carry that interest
// before the command.
func TestOutcomesCrossARoute(t *testing.T) {
	st, err := auth.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := st.ServerConfig(lattice.DefaultLattice)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := st.RouteSecret()
	if err != nil {
		t.Fatal(err)
	}
	addrs := []string{freeAddr(t), freeAddr(t)}
	var lats []*authtest.Lattice
	for _, a := range addrs {
		s, err := natsserver.Start(context.Background(), natsserver.Config{Port: -1, NoJetStream: true, StoreDir: t.TempDir(),
			ClusterListen: a, ClusterRoutes: addrs, Auth: cfg, RouteSecret: secret})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Shutdown)
		lats = append(lats, &authtest.Lattice{Server: s, Store: st})
	}
	h, err := host.New(context.Background(), lats[1].ConnectInProcess(t, auth.HostUser), host.WithEngineInstance(sharedEngine),
		host.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))), host.WithPolicy(host.Policy{AllowUnsigned: true}), host.WithFileDirs(os.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Stop(context.Background()) })
	p := filepath.Join(t.TempDir(), "wat.wasm")
	if err := os.WriteFile(p, testwasm.Wat(t, filepath.Join("engine", "testdata", "guest.wat")), 0o644); err != nil {
		t.Fatal(err)
	}
	connect := func() *lattice.Client {
		c, err := lattice.Connect(lats[0].Server.ClientURL(), lattice.WithTimeout(10*time.Second),
			lattice.WithCredentials(lats[0].Creds(lattice.DefaultLattice, auth.AdminUser)))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ctx := context.Background()
	testwait.Eventually(t, 20*time.Second, func() error {
		c := connect()
		defer c.Close()
		if hs, err := c.Hosts(ctx); err != nil || len(hs) != 1 {
			return fmt.Errorf("the host is not seen across the route: %v %v", hs, err)
		}
		return nil
	})
	c := connect()
	if _, err := c.StartActor(ctx, h.ID(), lattice.StartActorRequest{Ref: p, Name: "wat"}); err != nil {
		t.Fatalf("start from a fresh client across the route: %v", err)
	}
	c.Close()
	for round := range 20 {
		c := connect()
		d, err := c.ScaleActor(ctx, h.ID(), "wat", 1+round%3)
		c.Close()
		if err != nil || d.Name != "wat" {
			t.Fatalf("round %d: scale from a fresh client across the route: %+v, %v", round, d, err)
		}
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
