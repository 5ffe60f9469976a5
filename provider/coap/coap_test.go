package coap_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/net/blockwise"
	"github.com/plgd-dev/go-coap/v3/options"
	"github.com/plgd-dev/go-coap/v3/udp"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/wisp-dev/wisp/internal/providertest"
	"github.com/wisp-dev/wisp/internal/testwait"
	"github.com/wisp-dev/wisp/internal/testwasm"
	"github.com/wisp-dev/wisp/provider"
	"github.com/wisp-dev/wisp/provider/coap"
	"github.com/wisp-dev/wisp/provider/keyvalue"
)

// libcoap finds one of Debian's libcoap3-bin tools (coap-client-notls, ...).
func libcoap(t *testing.T, tool string) string {
	t.Helper()
	if testing.Short() {
		t.Skipf("-short: runs libcoap's %s", tool)
	}
	p, err := exec.LookPath(tool + "-notls")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s-notls is not installed: .ci/run installs Debian's libcoap3-bin package", tool)
		}
		t.Skipf("%s-notls is not installed (Debian package libcoap3-bin; bash .ci/run installs it)", tool)
	}
	return p
}

// coapClient runs libcoap's coap-client and returns what it printed.
func coapClient(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command(libcoap(t, "coap-client"), append([]string{"-B", "5"}, args...)...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

type fixture struct {
	env  *providertest.Env
	prov *coap.Provider
	addr string
	url  string
}

func setup(t *testing.T, values map[string]string) fixture {
	t.Helper()
	e := providertest.New(t)
	actor := e.StartActor(t, testwasm.GoActor(t, "actors/coap-sensor"), "coap-sensor.wasm", 2)
	kv := e.Run(t, "keyvalue", true)
	c := e.Run(t, "coap", true)
	ctx := context.Background()
	if err := kv.PutLink(ctx, provider.Link{Actor: actor, Contract: keyvalue.Contract}); err != nil {
		t.Fatal(err)
	}
	if values == nil {
		values = map[string]string{}
	}
	values["address"] = "127.0.0.1:0"
	l := provider.Link{Actor: actor, Contract: coap.Contract, Values: values}
	if err := c.PutLink(ctx, l); err != nil {
		t.Fatal(err)
	}
	p := c.Provider().(*coap.Provider)
	addr, _ := p.Address(l)
	return fixture{env: e, prov: p, addr: addr, url: "coap://" + addr}
}

// TestDeviceReadingsWithLibcoap: libcoap's coap-client plays a device that
// posts readings and reads them back through the coap-sensor actor, which
// keeps them in the key-value store.
func TestDeviceReadingsWithLibcoap(t *testing.T) {
	f := setup(t, nil)
	if out, err := coapClient(t, "-m", "post", "-e", "21.5", f.url+"/sensors/kitchen"); err != nil {
		t.Fatalf("post: %v %s", err, out)
	}
	out, err := coapClient(t, "-m", "get", f.url+"/sensors/kitchen")
	if err != nil || out != "21.5" {
		t.Fatalf("get: %v %q", err, out)
	}
	if out, _ := coapClient(t, "-m", "get", f.url+"/sensors/attic"); !strings.Contains(out, "4.04") {
		t.Fatalf("get of a sensor with no reading: %q", out)
	}
	if out, _ := coapClient(t, "-m", "get", f.url+"/elsewhere"); !strings.Contains(out, "4.04") {
		t.Fatalf("get of an unknown resource: %q", out)
	}
	if out, err := coapClient(t, "-m", "delete", f.url+"/sensors/kitchen"); err != nil {
		t.Fatalf("delete: %v %s", err, out)
	}
	if out, _ := coapClient(t, "-m", "get", f.url+"/sensors/kitchen"); !strings.Contains(out, "4.04") {
		t.Fatalf("get after delete: %q", out)
	}
}

// TestActorReachesADevice: the actor reads a resource of libcoap's
// coap-server, an independent CoAP device, through Coap.Request.
func TestActorReachesADevice(t *testing.T) {
	port := freeUDPPort(t)
	srv := exec.Command(libcoap(t, "coap-server"), "-A", "127.0.0.1", "-p", fmt.Sprint(port))
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	f := setup(t, nil)
	device := fmt.Sprintf("coap://127.0.0.1:%d/", port)
	testwait.Eventually(t, 10*time.Second, func() error {
		if out, err := coapClient(t, "-m", "get", f.url+"/relay?url="+url.QueryEscape(device)); err != nil || !strings.Contains(out, "libcoap") {
			return fmt.Errorf("relay to libcoap's server: %v %q", err, out)
		}
		return nil
	})
}

// TestDeviceThatVanishes: a request to a device that does not answer fails
// with ErrNoAnswer after the timeout, not later.
func TestDeviceThatVanishes(t *testing.T) {
	f := setup(t, nil)
	if err := f.prov.PutLink(context.Background(), provider.Link{Actor: "caller", Contract: coap.Contract, Values: map[string]string{"address": "127.0.0.1:0"}}); err != nil {
		t.Fatal(err)
	}
	b, _ := msgpack.Marshal(coap.OutgoingRequest{URL: fmt.Sprintf("coap://127.0.0.1:%d/x", freeUDPPort(t)), Method: "GET", TimeoutMs: 300})
	_, err := f.prov.Handle(context.Background(), provider.Call{Actor: "caller", LinkName: "default", Operation: coap.OpRequest, Payload: b})
	if !errors.Is(err, coap.ErrNoAnswer) {
		t.Fatalf("request to nobody: %v", err)
	}
	for _, bad := range []coap.OutgoingRequest{{URL: "http://x/y"}, {URL: "coap://127.0.0.1:1/x", Method: "PATCH"}} {
		b, _ := msgpack.Marshal(bad)
		if _, err := f.prov.Handle(context.Background(), provider.Call{Actor: "caller", LinkName: "default", Operation: coap.OpRequest, Payload: b}); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	if _, err := f.prov.Handle(context.Background(), provider.Call{Actor: "stranger", Operation: coap.OpRequest}); !errors.Is(err, provider.ErrNotLinked) {
		t.Fatalf("unlinked: %v", err)
	}
}

// TestOversizedPayload: a payload over max_payload is refused with 4.13.
func TestOversizedPayload(t *testing.T) {
	f := setup(t, map[string]string{"max_payload": "64"})
	out, _ := coapClient(t, "-m", "post", "-e", strings.Repeat("x", 200), f.url+"/sensors/big")
	if !strings.Contains(out, "4.13") {
		t.Fatalf("oversized post: %q", out)
	}
	if out, err := coapClient(t, "-m", "post", "-e", "small", f.url+"/sensors/small"); err != nil {
		t.Fatalf("small post: %v %s", err, out)
	}
}

// TestBlockwiseAndMalformedPackets: a payload larger than one datagram
// goes through in blocks (coap-client -b), and garbage datagrams are
// ignored while the listener keeps serving.
func TestBlockwiseAndMalformedPackets(t *testing.T) {
	f := setup(t, nil)
	big := strings.Repeat("0123456789", 300) // 3000 bytes, 47 blocks of 64
	co, err := udp.Dial(f.addr, options.WithBlockwise(true, blockwise.SZX64, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer co.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := co.Post(ctx, "/sensors/big", message.TextPlain, strings.NewReader(big))
	if err != nil || resp.Code() != codes.Changed {
		t.Fatalf("blockwise post: %v %v", err, resp)
	}
	if out, err := coapClient(t, "-m", "get", "-b", "64", f.url+"/sensors/big"); err != nil || out != big {
		t.Fatalf("blockwise get: %v, %d bytes back: %q", err, len(out), out)
	}
	c, err := net.Dial("udp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, junk := range [][]byte{{}, {0xff}, []byte("GET / HTTP/1.1\r\n\r\n"), {0x40, 0x01, 0x00}, {0x4f, 0x01, 0x30, 0x39, 0xff}} {
		c.Write(junk)
	}
	if out, err := coapClient(t, "-m", "get", f.url+"/sensors/big"); err != nil || out != big {
		t.Fatalf("after garbage: %v, %d bytes", err, len(out))
	}
}
