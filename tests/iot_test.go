package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wisp-dev/wisp/internal/testwait"
)

// TestIoTPipelineExample runs examples/iot-pipeline as its README walks
// through it, with real processes: a cloud host, a gateway host on its own
// NATS server as a leaf node of the cloud's, a simulated MCU registered with
// the gateway over CoAP, and the example's manifest deployed once. Readings
// are filtered and summarised at the edge, cross the leaf connection, are
// stored in the cloud's key-value bucket and served over HTTP.
func TestIoTPipelineExample(t *testing.T) {
	leaf := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cloud := startHost(t, "--name", "cloud", "--label", "tier=cloud", "--leaf-listen", leaf, "--js-domain", "cloud")
	edgePort := freePort(t)
	edgeURL := fmt.Sprintf("nats://127.0.0.1:%d", edgePort)
	dir := t.TempDir() // where the actors are built: a leaf host reads module files only from where it is told
	spawn(t, edgeURL, "--name", "gateway", "--nats-port", fmt.Sprint(edgePort), "--leaf-url", "nats://"+leaf, "--js-domain", "cloud",
		"--cache-dir", t.TempDir(), "--label", "tier=gateway", "--label", "site=plant-1", "--allow-file-dir", dir)
	hostsByName(t, cloud.url, "default", 2)

	// The example as a newcomer has it: build the actors next to the
	// manifest, then deploy it (ports moved to free ones).
	mustRun(t, cloud.url, "build", "./examples/iot-pipeline/filter", "--cap", "wisp:coap", "--cap", "wasmcloud:messaging", "-o", filepath.Join(dir, "build", "filter.wasm"))
	mustRun(t, cloud.url, "build", "./examples/iot-pipeline/readings", "--cap", "wasmcloud:messaging", "--cap", "wasmcloud:keyvalue", "--cap", "wasmcloud:httpserver",
		"-o", filepath.Join(dir, "build", "readings.wasm"))
	coapAddr := fmt.Sprintf("127.0.0.1:%d", freeUDPPort(t))
	httpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	text := readFile(t, "examples/iot-pipeline/app.yaml")
	text = strings.Replace(text, "127.0.0.1:5683", coapAddr, 1)
	text = strings.Replace(text, "127.0.0.1:8080", httpAddr, 1)
	manifest := filepath.Join(dir, "app.yaml")
	os.WriteFile(manifest, []byte(text), 0o644)
	eventually(t, cloud.url, "app", "deploy", manifest, "--js-domain", "cloud", "--wait", "20s")

	// Each actor runs on its tier.
	waitPlacement(t, cloud.url, "filter", map[string]int{"gateway": 1}, 30*time.Second)
	waitPlacement(t, cloud.url, "coap", map[string]int{"gateway": 1}, 30*time.Second)
	waitPlacement(t, cloud.url, "readings", map[string]int{"cloud": 2}, 30*time.Second)
	waitPlacement(t, cloud.url, "messaging", map[string]int{"cloud": 1, "gateway": 1}, 30*time.Second)

	// A simulated microcontroller registers with the gateway (retrying
	// while the gateway's CoAP listener opens).
	var sim *exec.Cmd
	logs := &syncBuffer{}
	testwait.Eventually(t, 30*time.Second, func() error {
		sim = exec.Command(wisp(t), "device", "sim", "--name", "kitchen", "--gateway", coapAddr, "--interval", "50ms")
		sim.Stdout, sim.Stderr = logs, logs
		dieWithTest(sim)
		if err := sim.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- sim.Wait() }()
		select {
		case err := <-done: // not registered: try again
			return fmt.Errorf("the device did not register with the gateway: %v\n%s", err, logs)
		case <-time.After(2 * time.Second):
		}
		t.Cleanup(func() { sim.Process.Kill(); <-done })
		return nil
	})
	if out := eventually(t, edgeURL, "device", "list"); !strings.Contains(out, "kitchen") {
		t.Fatalf("device list at the edge:\n%s", out)
	}

	// Summaries of five readings each reach the cloud's HTTP endpoint.
	var body string
	testwait.Eventually(t, 30*time.Second, func() error {
		code, b, err := httpGet("http://" + httpAddr + "/readings")
		if err != nil || code != 200 || !strings.Contains(b, `"kitchen/temp":{"sensor":"kitchen/temp","count":5,`) {
			return fmt.Errorf("GET /readings = %d %q %v\ndevice:\n%s", code, b, err, logs)
		}
		body = b
		return nil
	})
	t.Logf("GET /readings = %s", strings.TrimSpace(body))
	if code, b, _ := httpGet("http://" + httpAddr + "/readings/kitchen/temp"); code != 200 || !strings.Contains(b, `"avg":`) {
		t.Fatalf("GET /readings/kitchen/temp = %d %q", code, b)
	}
	if st := appStatus(t, cloud.url, "iot-pipeline"); st.Phase != "deployed" {
		t.Fatalf("status = %+v", st)
	}
}
