package ui

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wisp-dev/wisp/internal/authtest"
	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/auth"
	"github.com/wisp-dev/wisp/lattice/natsserver"
)

// TestStreamCarriesSnapshotAndEventsAndEnds serves the dashboard against
// a real (embedded, secured) NATS server: a page's stream gets the
// snapshot, then each lattice event a host publishes; cancelling Serve's
// context ends the stream and Serve.
func TestStreamCarriesSnapshotAndEventsAndEnds(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a NATS server")
	}
	l := authtest.Start(t, natsserver.Config{Port: -1})
	c, err := lattice.NewClient(l.Connect(t, auth.AdminUser), lattice.WithTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Client: c, Refresh: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()

	resp, err := http.Get("http://" + ln.Addr().String() + "/api/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := make(chan [2]string, 16)
	go func() { // ends when the server closes the stream
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		var name string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				events <- [2]string{name, strings.TrimPrefix(line, "data: ")}
			}
		}
	}()
	next := func(want string) string {
		t.Helper()
		deadline := time.After(15 * time.Second)
		for {
			select {
			case e, ok := <-events:
				if !ok {
					t.Fatalf("the stream ended before a %s event", want)
				}
				if e[0] == want {
					return e[1]
				}
			case <-deadline:
				t.Fatalf("no %s event on the stream", want)
			}
		}
	}
	var snap Snapshot
	if err := json.Unmarshal([]byte(next("snapshot")), &snap); err != nil || snap.Lattice != lattice.DefaultLattice || snap.Hosts == nil {
		t.Fatalf("snapshot %+v (%v)", snap, err)
	}

	host := l.Connect(t, auth.HostUser)
	ev, err := lattice.NewEvent(lattice.DefaultLattice, "NHOST", lattice.EventActorStarted, lattice.ActorEventData{HostID: "NHOST", Name: "echo"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(ev)
	// The subscription may come a moment after the snapshot: publish
	// until the event arrives.
	stop := make(chan struct{})
	go func() {
		for {
			host.Publish(lattice.EventSubject(lattice.DefaultLattice, lattice.EventActorStarted), b)
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	got := next("lattice")
	close(stop)
	if !strings.Contains(got, `"dev.wisp.lattice.actor_started"`) {
		t.Fatalf("lattice event %s", got)
	}

	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
	for range events { // the stream ends too
	}
}
