package lattice_test

import (
	"strings"
	"testing"

	"github.com/wisp-dev/wisp/lattice"
)

func TestSubjectsFollowTheDesign(t *testing.T) {
	for got, want := range map[string]string{
		lattice.RPCSubject("default", "echo"):            "wisp.rpc.default.echo",
		lattice.PingSubject("eu"):                        "wisp.ctl.eu.ping.hosts",
		lattice.HostSubject("default", "NABC", "stop"):   "wisp.ctl.default.host.NABC.stop",
		lattice.HostSubjectAll("default", "NABC"):        "wisp.ctl.default.host.NABC.*",
		lattice.EventSubject("default", "actor_started"): "wisp.evt.default.actor_started",
		lattice.AliasSubject("default", "echo"):          "wisp.ctl.default.alias.echo",
	} {
		if got != want {
			t.Errorf("got %s, want %s", got, want)
		}
	}
}

func TestValidateNameRefusesSubjectSyntax(t *testing.T) {
	for _, ok := range []string{"echo", "hello-http", "kv_counter", "MBCD234"} {
		if err := lattice.ValidateName("actor", ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a.b", "a*", ">", "has space", strings.Repeat("x", 129)} {
		if err := lattice.ValidateName("actor", bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestLinkSecretsAreRedacted(t *testing.T) {
	l := lattice.Link{ActorID: "a", ContractID: "c", LinkName: "default", Values: map[string]string{
		"PASSWORD": "hunter2", "api_token": "t0k", "Client_Secret": "s", "SIGNING_KEY": "k",
		"URL": "redis://user:hunter2@127.0.0.1:6379/0", "address": "127.0.0.1:8080", "plain": "http://example.test/x"}}
	r := l.Redacted()
	for k, want := range map[string]string{"PASSWORD": "***", "api_token": "***", "Client_Secret": "***", "SIGNING_KEY": "***",
		"URL": "redis://***@127.0.0.1:6379/0", "address": "127.0.0.1:8080", "plain": "http://example.test/x"} {
		if r.Values[k] != want {
			t.Errorf("%s = %q, want %q", k, r.Values[k], want)
		}
	}
	if l.Values["PASSWORD"] != "hunter2" {
		t.Fatal("Redacted changed the link it was called on")
	}
}
