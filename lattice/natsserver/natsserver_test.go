package natsserver_test

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/wisp-dev/wisp/lattice/natsserver"
)

func TestServerRunsJetStreamAndAnswersInProcess(t *testing.T) {
	srv, err := natsserver.Start(context.Background(), natsserver.Config{Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	if !strings.HasPrefix(srv.ClientURL(), "nats://127.0.0.1:") {
		t.Fatalf("ClientURL = %s, want loopback", srv.ClientURL())
	}
	nc, err := srv.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := nc.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.AccountInfo(); err != nil {
		t.Fatalf("JetStream is not on: %v", err)
	}
	if max := nc.MaxPayload(); max != 8<<20 {
		t.Fatalf("max payload = %d, want 8 MiB", max)
	}
}

func TestPortInUseIsAClearError(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	_, err = natsserver.Start(context.Background(), natsserver.Config{Port: port, NoJetStream: true})
	if err == nil || !strings.Contains(err.Error(), "--nats-port") {
		t.Fatalf("Start on a busy port = %v, want an error that says what to do", err)
	}
}
