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

func TestNamespacedAliasesMapToOneTokenWithoutLoss(t *testing.T) {
	for alias, want := range map[string]string{
		"echo":             "wisp.rpc.default.echo",
		"acme/pricing":     "wisp.rpc.default.acme/pricing",
		"wasmcloud/echo":   "wisp.rpc.default.wasmcloud/echo",
		"acme.v2/pricing":  "wisp.rpc.default.acme%2Ev2/pricing",
		"a*b>c%d":          "wisp.rpc.default.a%2Ab%3Ec%25d",
		"ünïcode/ok":       "wisp.rpc.default.ünïcode/ok",
		"MBCFOPM6JW2APJLX": "wisp.rpc.default.MBCFOPM6JW2APJLX",
	} {
		if err := lattice.ValidateAlias("alias", alias); err != nil {
			t.Errorf("ValidateAlias(%q) = %v", alias, err)
		}
		if got := lattice.RPCSubject("default", alias); got != want {
			t.Errorf("RPCSubject(%q) = %q, want %q", alias, got, want)
		}
	}
	// Distinct aliases stay distinct tokens.
	if lattice.ActorToken("a.b") == lattice.ActorToken("a%2Eb") {
		t.Fatal("two aliases share a token")
	}
	if lattice.RPCSubject("default", "*") != "wisp.rpc.default.*" || lattice.RPCSubject("default", ">") != "wisp.rpc.default.>" {
		t.Fatal("a lone wildcard was escaped")
	}
	for _, bad := range []string{"", "*", ">", "a b", "tab\there", "nl\n", "\x00", string([]byte{0xff}), strings.Repeat("x", 129)} {
		if err := lattice.ValidateAlias("alias", bad); err == nil {
			t.Errorf("ValidateAlias(%q) accepted", bad)
		}
	}
	l := lattice.Link{ActorID: "acme.v2/pricing", ContractID: "wasmcloud:keyvalue", LinkName: "default"}
	if k := l.Key(); strings.ContainsAny(strings.SplitN(k, ".", 2)[0], "%*>") || !strings.HasPrefix(k, "=") {
		t.Fatalf("link key of a dotted alias = %q", k)
	}
}
