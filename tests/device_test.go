package tests

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wisp-dev/wisp/internal/testwait"
	"github.com/wisp-dev/wisp/lattice"
)

// TestDeviceSimWithLibcoap runs `wisp device sim` as a process and drives
// it with libcoap's coap-client: read the temperature, switch the LED,
// then stop it with SIGINT.
func TestDeviceSimWithLibcoap(t *testing.T) {
	client := needTool(t, "coap-client-notls", "libcoap3-bin")
	logs := &syncBuffer{}
	cmd := exec.Command(wisp(t), "device", "sim", "--name", "bench-1", "--interval", "50ms")
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
		<-done
	}()
	addr := regexp.MustCompile(`coap://(127\.0\.0\.1:\d+)`)
	var url string
	testwait.Eventually(t, 10*time.Second, func() error {
		m := addr.FindStringSubmatch(logs.String())
		if m == nil {
			return fmt.Errorf("no address printed:\n%s", logs)
		}
		url = "coap://" + m[1]
		return nil
	})
	coap := func(args ...string) string {
		out, err := exec.Command(client, append([]string{"-B", "5"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("coap-client %v: %v %s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if out := coap("-m", "get", url+"/.well-known/core"); !strings.Contains(out, `</temp>;rt="temperature";obs`) {
		t.Fatalf("/.well-known/core: %q", out)
	}
	if out := coap("-m", "get", url+"/temp"); !regexp.MustCompile(`^-?\d+\.\d$`).MatchString(out) {
		t.Fatalf("/temp: %q", out)
	}
	coap("-m", "put", "-e", "on", url+"/led")
	if out := coap("-m", "get", url+"/led"); out != "on" {
		t.Fatalf("/led after PUT on: %q", out)
	}
	cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-done:
		done <- err
		if err != nil {
			t.Fatalf("device sim exited with %v:\n%s", err, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("device sim did not stop on SIGINT")
	}
}

// freeUDPPort returns a UDP port free on 127.0.0.1.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// TestDeviceListThroughAGateway: a host runs the coap provider as a
// gateway for the signed coap-sensor actor; `wisp device sim` registers
// with it; `wisp device list` finds the device through the lattice.
func TestDeviceListThroughAGateway(t *testing.T) {
	client := needTool(t, "coap-client-notls", "libcoap3-bin")
	h := startHost(t, "--provider", "coap", "--provider", "keyvalue")
	module := filepath.Join(t.TempDir(), "coap-sensor.wasm")
	mustRun(t, h.url, "build", "./actors/coap-sensor", "--cap", "wisp:coap", "--cap", "wasmcloud:keyvalue", "-o", module)
	mustRun(t, h.url, "start", "actor", module)
	gw := fmt.Sprintf("127.0.0.1:%d", freeUDPPort(t))
	mustRun(t, h.url, "link", "put", "coap_sensor", "coap", "wisp:coap", "address="+gw)
	mustRun(t, h.url, "link", "put", "coap_sensor", "keyvalue", "wasmcloud:keyvalue")
	waitCoAP(t, client, gw)
	logs := &syncBuffer{}
	sim := exec.Command(wisp(t), "device", "sim", "--name", "dev1", "--gateway", gw, "--interval", "100ms")
	sim.Stdout, sim.Stderr = logs, logs
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sim.Wait() }()
	defer func() {
		sim.Process.Kill()
		<-done
	}()
	var devs []lattice.DeviceInfo
	testwait.Eventually(t, 20*time.Second, func() error {
		devs = nil
		json.Unmarshal([]byte(mustRun(t, h.url, "device", "list", "-o", "json")), &devs)
		if len(devs) != 1 {
			return fmt.Errorf("device list = %+v\nsim output:\n%s", devs, logs)
		}
		return nil
	})
	d := devs[0]
	if d.Name != "dev1" || d.Protocol != "coap" || d.Provider != "coap" || !strings.HasPrefix(d.Actor, "M") || strings.Join(d.Resources, ",") != "/temp,/led" {
		t.Fatalf("device = %+v", d)
	}
	if out := mustRun(t, h.url, "device", "list"); !strings.Contains(out, "dev1") || !strings.Contains(out, "/temp,/led") {
		t.Fatalf("device list table:\n%s", out)
	}
	// The actor reaches the device by name through the gateway.
	out, err := exec.Command(client, "-B", "5", "-m", "get", "coap://"+gw+"/devices/dev1/led?set=on").CombinedOutput()
	if err != nil {
		t.Fatalf("switch the LED through the actor: %v %s", err, out)
	}
	if out, _ := exec.Command(client, "-B", "5", "-m", "get", "coap://"+gw+"/devices/dev1/led").CombinedOutput(); strings.TrimSpace(string(out)) != "on" {
		t.Fatalf("LED state: %q", out)
	}
	// Ctrl-C: the device leaves the gateway's directory on its way out.
	sim.Process.Signal(os.Interrupt)
	select {
	case <-done:
		done <- nil // for the deferred kill
	case <-time.After(10 * time.Second):
		t.Fatalf("device sim did not exit on Ctrl-C:\n%s", logs)
	}
	json.Unmarshal([]byte(mustRun(t, h.url, "device", "list", "-o", "json")), &devs)
	if len(devs) != 0 {
		t.Fatalf("after Ctrl-C the gateway still lists %+v", devs)
	}
}

// startMosquitto runs Debian's mosquitto on a free 127.0.0.1 port and
// returns its URI.
func startMosquitto(t *testing.T) (string, int) {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		bin = "/usr/sbin/mosquitto"
		if _, err := os.Stat(bin); err != nil {
			needTool(t, "mosquitto", "mosquitto")
		}
	}
	port := freePort(t)
	conf := filepath.Join(t.TempDir(), "mosquitto.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\n", port)), 0o600)
	cmd := exec.Command(bin, "-c", conf)
	dieWithTest(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	testwait.Eventually(t, 10*time.Second, func() error {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			return fmt.Errorf("mosquitto did not start: %w", err)
		}
		return c.Close()
	})
	return fmt.Sprintf("tcp://127.0.0.1:%d", port), port
}

// TestDeviceListShowsMQTTDevices: a gateway host runs the mqtt provider
// with a DEVICES=true link; a device played by mosquitto_pub registers on
// wisp/devices/<name>/register and `wisp device list` shows it with
// protocol mqtt, its resources and attributes; its offline state takes it
// off the list.
func TestDeviceListShowsMQTTDevices(t *testing.T) {
	pub := needTool(t, "mosquitto_pub", "mosquitto-clients")
	uri, port := startMosquitto(t)
	h := startHost(t, "--provider", "mqtt", "--label", "tier=gateway")
	module := filepath.Join(t.TempDir(), "mqtt-relay.wasm")
	mustRun(t, h.url, "build", "./actors/mqtt-relay", "--cap", "wasmcloud:messaging", "-o", module)
	mustRun(t, h.url, "start", "actor", module)
	mustRun(t, h.url, "link", "put", "mqtt_relay", "mqtt", "wasmcloud:messaging", "URI="+uri, "SUBSCRIPTION=sensors/+", "DEVICES=true")
	publish := func(topic, msg string) {
		t.Helper()
		if out, err := exec.Command(pub, "-h", "127.0.0.1", "-p", fmt.Sprint(port), "-q", "1", "-r", "-t", topic, "-m", msg).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_pub %s: %v %s", topic, err, out)
		}
	}
	publish("wisp/devices/boiler-7/register", `{"resources":["pressure","valve"],"attributes":{"model":"stm32"},"id":"SN-0007"}`)
	publish("wisp/devices/boiler-7/state", "online")
	d := waitDevices(t, h.url, "boiler-7")
	if d.Protocol != "mqtt" || d.Provider != "mqtt" || d.Address != uri+"/wisp/devices/boiler-7" || !strings.HasPrefix(d.Actor, "M") ||
		strings.Join(d.Resources, ",") != "pressure,valve" || d.Attributes["model"] != "stm32" {
		t.Fatalf("device = %+v", d)
	}
	if out := mustRun(t, h.url, "device", "list"); !strings.Contains(out, "boiler-7") || !strings.Contains(out, "mqtt") || !strings.Contains(out, "pressure,valve") {
		t.Fatalf("device list table:\n%s", out)
	}
	publish("wisp/devices/boiler-7/state", "offline")
	testwait.Eventually(t, 20*time.Second, func() error {
		var devs []lattice.DeviceInfo
		json.Unmarshal([]byte(mustRun(t, h.url, "device", "list", "-o", "json")), &devs)
		if len(devs) != 0 {
			return fmt.Errorf("device still listed after going offline: %+v", devs)
		}
		return nil
	})
}
