package lattice_test

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/wisp-dev/wisp/lattice"
)

func TestParseConstraintsRefusesBadSyntax(t *testing.T) {
	got, err := lattice.ParseConstraints([]string{"tier=pi", "zone=eu-west", "empty="})
	if err != nil || len(got) != 3 || got["tier"] != "pi" || got["empty"] != "" {
		t.Fatalf("ParseConstraints = %v, %v", got, err)
	}
	for _, bad := range [][]string{{"tier"}, {"=pi"}, {" =pi"}, {"ti er=pi"}, {"tier=pi", "tier=cloud"}} {
		if _, err := lattice.ParseConstraints(bad); !errors.Is(err, lattice.ErrBadConstraint) {
			t.Errorf("%q: err = %v, want ErrBadConstraint", bad, err)
		}
	}
}

func TestConstraintsAreASubsetMatch(t *testing.T) {
	labels := map[string]string{"tier": "pi", "zone": "eu", "wisp.os": "linux"}
	for c, want := range map[string]bool{"": true, "tier=pi": true, "tier=pi,zone=eu": true, "tier=cloud": false, "tier=pi,gpu=yes": false, "zone=": false} {
		cs := map[string]string{}
		if c != "" {
			for _, kv := range strings.Split(c, ",") {
				k, v, _ := strings.Cut(kv, "=")
				cs[k] = v
			}
		}
		if got := lattice.Matches(labels, cs); got != want {
			t.Errorf("Matches(%s) = %v, want %v", c, got, want)
		}
	}
}

func TestBidsPreferFewestInstancesOfTheActorThenLeastLoaded(t *testing.T) {
	bids := []lattice.AuctionBid{
		{HostID: "C", ActorInstances: 0, Instances: 9},
		{HostID: "A", ActorInstances: 1, Instances: 1},
		{HostID: "D", ActorInstances: 0, Instances: 2},
		{HostID: "B", ActorInstances: 0, Instances: 2},
	}
	lattice.SortBids(bids)
	var order string
	for _, b := range bids {
		order += b.HostID
	}
	if order != "BDCA" {
		t.Fatalf("order = %s, want BDCA", order)
	}
}

func TestLinkKeysAreValidBucketKeysAndDistinct(t *testing.T) {
	a := lattice.Link{ActorID: "MABC", ProviderID: "p", ContractID: "wasmcloud:keyvalue", LinkName: "default"}
	b := a
	b.LinkName = "cache"
	if a.Key() == b.Key() || strings.ContainsAny(a.Key(), ":/ ") {
		t.Fatalf("keys %q and %q", a.Key(), b.Key())
	}
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []lattice.Link{{ProviderID: "p", ContractID: "c", LinkName: "l"}, {ActorID: "a", ProviderID: "p", ContractID: "wasm cloud", LinkName: "l"}, {ActorID: "a", ProviderID: "p.q", ContractID: "c", LinkName: "l"}} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestEventsAreCloudEvents(t *testing.T) {
	e, err := lattice.NewEvent("default", "NHOST", lattice.EventActorStarted, lattice.ActorEventData{HostID: "NHOST", Name: "echo"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(e)
	var m map[string]any
	json.Unmarshal(b, &m)
	for _, k := range []string{"specversion", "id", "source", "type", "time", "datacontenttype", "data"} {
		if _, ok := m[k]; !ok {
			t.Errorf("attribute %s missing from %s", k, b)
		}
	}
	if m["specversion"] != "1.0" || m["type"] != "dev.wisp.lattice.actor_started" || e.ShortType() != "actor_started" {
		t.Fatalf("event = %s", b)
	}
}

// TestCredentialsReachASecuredServer: user/password pass through to NATS;
// without them the server refuses the client.
func TestCredentialsReachASecuredServer(t *testing.T) {
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, Username: "wisp", Password: "s3cret", NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	defer srv.Shutdown()
	if !srv.ReadyForConnections(10e9) {
		t.Fatal("server not ready")
	}
	if _, err := lattice.Connect(srv.ClientURL()); err == nil || !strings.Contains(err.Error(), "Authorization") {
		t.Fatalf("connect without credentials = %v", err)
	}
	c, err := lattice.Connect(srv.ClientURL(), lattice.WithCredentials(lattice.Credentials{User: "wisp", Password: "s3cret"}))
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	_, err = lattice.Connect(srv.ClientURL(), lattice.WithCredentials(lattice.Credentials{CredsFile: filepath.Join(t.TempDir(), "missing.creds")}))
	if err == nil || !strings.Contains(err.Error(), "--nats-creds") {
		t.Fatalf("missing creds file = %v", err)
	}
}
