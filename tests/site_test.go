package tests

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/wisp-dev/wisp/internal/testwait"
	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/auth"
	"github.com/wisp-dev/wisp/provider/coap"
)

// callDeviceLED asks the coap-sensor actor, over the lattice at url, for
// the LED of device (GET /devices/<device>/led, optionally ?set=on|off):
// the call reaches the actor, the actor asks the gateway provider, the
// provider asks the device.
func callDeviceLED(ctx context.Context, t *testing.T, url, device, set string) (string, error) {
	c, err := lattice.Connect(url, lattice.WithCredentials(credsOf(t, lattice.DefaultLattice, auth.AdminUser)))
	if err != nil {
		return "", err
	}
	defer c.Close()
	req := coap.Request{Method: "GET", Path: "/devices/" + device + "/led", ContentFormat: coap.NoContentFormat}
	if set != "" {
		req.Query = "set=" + set
	}
	b, err := msgpack.Marshal(&req)
	if err != nil {
		return "", err
	}
	out, err := c.Call(ctx, "coap_sensor", coap.OpHandleRequest, b)
	if err != nil {
		return "", err
	}
	var resp coap.Response
	if err := msgpack.Unmarshal(out, &resp); err != nil {
		return "", fmt.Errorf("decode the actor's answer: %w", err)
	}
	if resp.Code>>5 != 2 {
		return "", fmt.Errorf("coap code %d.%02d: %s", resp.Code>>5, resp.Code&31, resp.Payload)
	}
	return string(resp.Payload), nil
}

// TestEdgeSiteKeepsWorkingOffline is the offline site: a cloud
// host (the hub, with the lattice's JetStream) and a gateway host of site
// plant-1 whose embedded NATS server is a leaf node of the hub's. The
// gateway runs the coap provider, the coap-sensor actor and a simulated
// device; the cloud runs the echo actor. With the cloud killed, the site
// still answers: devices are listed, the edge actor drives the device
// through its local provider, a CoAP client at the site reaches it; a call
// to the cloud-only echo fails at once with "actor not running" (exit 3).
// When the cloud comes back on the same ports and JetStream store, the
// site re-joins: the cloud lists the gateway and reaches its actor and
// device, and the gateway follows links put afterwards.
func TestEdgeSiteKeepsWorkingOffline(t *testing.T) {
	client := needTool(t, "coap-client-notls", "libcoap3-bin")
	leaf := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cloudPort := freePort(t)
	cloudURL := fmt.Sprintf("nats://127.0.0.1:%d", cloudPort)
	cloudArgs := []string{"--name", "cloud", "--nats-port", fmt.Sprint(cloudPort), "--leaf-listen", leaf, "--js-domain", "cloud",
		"--js-dir", t.TempDir(), "--cache-dir", t.TempDir(), "--label", "site=cloud", "--heartbeat", "1s"}
	cloud := spawn(t, cloudURL, cloudArgs...)
	hostsByName(t, cloudURL, "default", 1)
	edgePort := freePort(t)
	edgeURL := fmt.Sprintf("nats://127.0.0.1:%d", edgePort)
	spawn(t, edgeURL, "--name", "gw", "--nats-port", fmt.Sprint(edgePort), "--leaf-url", "nats://"+leaf, "--js-domain", "cloud",
		"--cache-dir", t.TempDir(), "--label", "site=plant-1", "--label", "tier=gateway", "--provider", "coap", "--heartbeat", "1s")
	hosts := hostsByName(t, cloudURL, "default", 2)
	hostsByName(t, edgeURL, "default", 2)

	dir := t.TempDir()
	echo, sensor := filepath.Join(dir, "echo.wasm"), filepath.Join(dir, "coap-sensor.wasm")
	mustRun(t, cloudURL, "build", "./actors/echo", "-o", echo)
	mustRun(t, cloudURL, "build", "./actors/coap-sensor", "--cap", "wisp:coap", "-o", sensor)
	startOn(t, cloudURL, echo, hosts["cloud"].ID)
	var started struct {
		Host string `json:"host"`
	}
	json.Unmarshal([]byte(mustRun(t, cloudURL, "start", "actor", sensor, "--constraint", "site=plant-1", "--constraint", "tier=gateway", "-o", "json")), &started)
	if started.Host != hosts["gw"].ID {
		t.Fatalf("site=plant-1 tier=gateway started on %s, want the gateway %s", started.Host, hosts["gw"].ID)
	}
	gwAddr := fmt.Sprintf("127.0.0.1:%d", freeUDPPort(t))
	eventually(t, cloudURL, "link", "put", "coap_sensor", "coap", "wisp:coap", "address="+gwAddr)
	waitCoAP(t, client, gwAddr)
	startDeviceSim(t, "press-1", gwAddr)
	waitDevices(t, edgeURL, "press-1")

	ctx := context.Background()
	if out := mustRun(t, edgeURL, "call", "echo", "Echo.Reply", "up"); out != "up\n" {
		t.Fatalf("echo from the edge with the uplink up = %q", out)
	}
	if _, err := callDeviceLED(ctx, t, cloudURL, "press-1", "on"); err != nil {
		t.Fatalf("the cloud drives the device through the gateway: %v", err)
	}

	// Cut the uplink: the cloud dies without a word.
	cloud.cmd.Process.Signal(syscall.SIGKILL)
	<-cloud.done
	cloud.done <- nil
	hostsByName(t, edgeURL, "default", 1)

	// The site keeps working: its device, its actor, its provider.
	if d := waitDevices(t, edgeURL, "press-1"); d.HostName != "gw" {
		t.Fatalf("device listed by %s", d.HostName)
	}
	if got, err := callDeviceLED(ctx, t, edgeURL, "press-1", "off"); err != nil || got != "" {
		t.Fatalf("edge actor → local provider → device, offline: %q %v", got, err)
	}
	if got, err := callDeviceLED(ctx, t, edgeURL, "press-1", ""); err != nil || got != "off" {
		t.Fatalf("LED read back offline: %q %v", got, err)
	}
	out, err := exec.Command(client, "-B", "5", "-m", "get", "coap://"+gwAddr+"/devices/press-1/led?set=on").CombinedOutput()
	if err != nil {
		t.Fatalf("a CoAP client at the site, offline: %v %s", err, out)
	}

	// The cloud-only actor fails fast, with a clear error, well under the
	// client's 5 s timeout.
	began := time.Now()
	_, errOut, code := run(t, edgeURL, "call", "echo", "Echo.Reply", "anyone?")
	took := time.Since(began)
	t.Logf("call to the cloud-only actor at the offline edge: exit %d after %v: %s", code, took.Round(time.Millisecond), strings.TrimSpace(errOut))
	if code != 3 || !strings.Contains(errOut, "actor not running") || took > 3*time.Second {
		t.Fatalf("call to the cloud-only actor offline: exit %d after %v: %s", code, took, errOut)
	}
	c, err := lattice.Connect(edgeURL, lattice.WithCredentials(credsOf(t, lattice.DefaultLattice, auth.AdminUser)))
	if err != nil {
		t.Fatal(err)
	}
	began = time.Now()
	_, err = c.Call(ctx, "echo", "Echo.Reply", nil)
	took = time.Since(began)
	c.Close()
	t.Logf("lattice.Client.Call of the cloud-only actor offline: %v after %v", err, took)
	if !errors.Is(err, lattice.ErrActorNotRunning) || took > 3*time.Second {
		t.Fatalf("client call offline: %v after %v", err, took)
	}

	// The uplink returns: same ports, same JetStream store.
	spawn(t, cloudURL, cloudArgs...)
	hosts = hostsByName(t, cloudURL, "default", 2)
	if _, ok := hosts["gw"]; !ok {
		t.Fatalf("the cloud does not see the gateway after the restart: %+v", hosts)
	}
	hostsByName(t, edgeURL, "default", 2)
	if got, err := callDeviceLED(ctx, t, cloudURL, "press-1", ""); err != nil || got != "on" {
		t.Fatalf("cloud → edge actor → device after the re-join: %q %v", got, err)
	}
	var devs []lattice.DeviceInfo
	json.Unmarshal([]byte(mustRun(t, cloudURL, "device", "list", "-o", "json")), &devs)
	if len(devs) != 1 || devs[0].Name != "press-1" || devs[0].HostName != "gw" {
		t.Fatalf("devices seen from the cloud after the re-join: %+v", devs)
	}
	// The gateway follows the lattice's links again: move the actor's
	// listener and reach it there.
	gwAddr2 := fmt.Sprintf("127.0.0.1:%d", freeUDPPort(t))
	mustRun(t, cloudURL, "link", "put", "coap_sensor", "coap", "wisp:coap", "address="+gwAddr2)
	waitCoAP(t, client, gwAddr2)
}

// waitCoAP waits until a gateway's CoAP listener answers at addr.
func waitCoAP(t *testing.T, client, addr string) {
	t.Helper()
	testwait.Eventually(t, 30*time.Second, func() error {
		out, err := exec.Command(client, "-B", "2", "-m", "get", "coap://"+addr+"/.well-known/core").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "core.rd") {
			return fmt.Errorf("the gateway listener did not open on %s: %v %s", addr, err, out)
		}
		return nil
	})
}

// startDeviceSim runs `wisp device sim` registering with gateway.
func startDeviceSim(t *testing.T, name, gateway string) *syncBuffer {
	t.Helper()
	logs := &syncBuffer{}
	sim := exec.Command(wisp(t), "device", "sim", "--name", name, "--gateway", gateway, "--interval", "2s")
	sim.Stdout, sim.Stderr = logs, logs
	dieWithTest(sim)
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sim.Wait() }()
	t.Cleanup(func() {
		sim.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("device sim %s output:\n%s", name, logs)
		}
	})
	return logs
}

// waitDevices waits until `wisp device list` at url shows device name.
func waitDevices(t *testing.T, url, name string) lattice.DeviceInfo {
	t.Helper()
	var found lattice.DeviceInfo
	testwait.Eventually(t, 30*time.Second, func() error {
		var devs []lattice.DeviceInfo
		out, errOut, code := run(t, url, "device", "list", "-o", "json")
		if code != 0 {
			return fmt.Errorf("device list: exit %d: %s", code, errOut)
		}
		if err := json.Unmarshal([]byte(out), &devs); err != nil {
			return fmt.Errorf("device list: %w", err)
		}
		for _, d := range devs {
			if d.Name == name {
				found = d
				return nil
			}
		}
		return fmt.Errorf("device %s not listed at %s: %+v", name, url, devs)
	})
	return found
}
