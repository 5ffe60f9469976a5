package mqtt_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wisp-dev/wisp/internal/providertest"
	"github.com/wisp-dev/wisp/internal/testwait"
	"github.com/wisp-dev/wisp/provider"
	"github.com/wisp-dev/wisp/provider/messaging"
	"github.com/wisp-dev/wisp/provider/mqtt"
	"github.com/wisp-dev/wisp/provider/runner"
)

// lockedBuffer is a log sink safe for the provider's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitDevices waits until the provider lists devices for which ok holds.
func waitDevices(t *testing.T, p provider.DeviceLister, what string, ok func([]provider.Device) bool) []provider.Device {
	t.Helper()
	var devs []provider.Device
	testwait.Eventually(t, 15*time.Second, func() error {
		if devs = p.ListDevices(); !ok(devs) {
			return fmt.Errorf("%s: devices %+v", what, devs)
		}
		return nil
	})
	return devs
}

// TestDevicesRegisterOverMQTT plays microcontrollers with mosquitto's own
// clients against a real mosquitto: a retained registration lists the
// device; its last will (a client killed with -9) takes it off; a live
// registration brings it back; a second device under the same name wins
// and is logged as a duplicate; a gateway that reconnects knows its devices
// again from the retained messages; an empty retained registration
// unregisters.
func TestDevicesRegisterOverMQTT(t *testing.T) {
	pub := needTool(t, "mosquitto_pub", "mosquitto-clients")
	subBin := needTool(t, "mosquitto_sub", "mosquitto-clients")
	port := freePort(t)
	b := startBroker(t, port)
	e := providertest.New(t)
	logs := &lockedBuffer{}
	r, err := runner.Start(context.Background(), &mqtt.Provider{}, runner.Config{Conn: e.NC, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.Stop(context.Background())
		if t.Failed() {
			t.Logf("provider log:\n%s", logs)
		}
	})
	lister := r.Provider().(provider.DeviceLister)
	link := provider.Link{Actor: "gw", Contract: messaging.Contract, Values: map[string]string{"URI": b.uri(), "DEVICES": "true"}}
	if err := r.PutLink(context.Background(), link); err != nil {
		t.Fatal(err)
	}
	publish := func(topic, msg string, retain bool) {
		t.Helper()
		args := []string{"-h", "127.0.0.1", "-p", fmt.Sprint(port), "-q", "1", "-t", topic}
		if msg == "" {
			args = append(args, "-n")
		} else {
			args = append(args, "-m", msg)
		}
		if retain {
			args = append(args, "-r")
		}
		if out, err := exec.Command(pub, args...).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_pub %v: %v %s", args, err, out)
		}
	}
	named := func(name string) func([]provider.Device) bool {
		return func(ds []provider.Device) bool { return len(ds) == 1 && ds[0].Name == name }
	}
	none := func(ds []provider.Device) bool { return len(ds) == 0 }

	// The device connects with its last will, then registers.
	will := exec.Command(subBin, "-h", "127.0.0.1", "-p", fmt.Sprint(port), "-i", "kitchen-A1", "-t", "wisp/devices/kitchen/cmd/#",
		"--will-topic", "wisp/devices/kitchen/state", "--will-payload", "offline", "--will-retain", "--will-qos", "1")
	if err := will.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan struct{})
	go func() { will.Wait(); close(waited) }()
	t.Cleanup(func() { will.Process.Kill(); <-waited })
	publish("wisp/devices/kitchen/state", "online", true)
	publish("wisp/devices/kitchen/register", `{"resources":["temp","led"],"attributes":{"model":"esp32-c3","fw":"1.4.0"},"id":"A1"}`, true)
	d := waitDevices(t, lister, "registered", named("kitchen"))[0]
	if d.Protocol != "mqtt" || d.Actor != "gw" || d.Address != b.uri()+"/wisp/devices/kitchen" || !slices.Equal(d.Resources, []string{"temp", "led"}) ||
		d.Attributes["model"] != "esp32-c3" || !d.Expires.IsZero() {
		t.Fatalf("device = %+v", d)
	}

	// The device dies: the broker publishes its will.
	will.Process.Kill()
	<-waited
	waitDevices(t, lister, "after the device's last will", none)

	// It comes back: a live registration lists it again; then it says
	// online, retained, over its will.
	publish("wisp/devices/kitchen/register", `{"resources":["temp","led"],"id":"A1"}`, true)
	waitDevices(t, lister, "registered again", named("kitchen"))
	publish("wisp/devices/kitchen/state", "online", true)

	// Another device claims the name: the last registration wins, logged.
	publish("wisp/devices/kitchen/register", `{"resources":["humidity"],"id":"B2"}`, true)
	waitDevices(t, lister, "duplicate name", func(ds []provider.Device) bool {
		return named("kitchen")(ds) && slices.Equal(ds[0].Resources, []string{"humidity"})
	})
	if !strings.Contains(logs.String(), "duplicate device name") || !strings.Contains(logs.String(), "was=A1 now=B2") {
		t.Fatalf("the duplicate was not logged:\n%s", logs)
	}

	// The gateway's connection starts over: retained messages restore its
	// registry.
	if err := r.DelLink(context.Background(), link); err != nil {
		t.Fatal(err)
	}
	if len(lister.ListDevices()) != 0 {
		t.Fatal("devices listed without a link")
	}
	if err := r.PutLink(context.Background(), link); err != nil {
		t.Fatal(err)
	}
	waitDevices(t, lister, "after the gateway reconnected", func(ds []provider.Device) bool {
		return named("kitchen")(ds) && slices.Equal(ds[0].Resources, []string{"humidity"})
	})

	// An empty retained registration unregisters; bad ones are ignored.
	publish("wisp/devices/bad.name/register", `{"resources":[]}`, true)
	publish("wisp/devices/garbled/register", `not json`, false)
	publish("wisp/devices/kitchen/register", "", true)
	waitDevices(t, lister, "unregistered", none)
	for _, want := range []string{"bad name in topic", "registration is not JSON", "mqtt device unregistered"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

func TestDeviceLinkValues(t *testing.T) {
	e := providertest.New(t)
	r := e.Run(t, "mqtt", false)
	for _, v := range []map[string]string{
		{"DEVICES": "maybe"},
		{"DEVICES": "true", "DEVICE_PREFIX": "wisp/+/x"},
		{"DEVICES": "true", "DEVICE_PREFIX": "/"},
	} {
		if err := r.PutLink(context.Background(), provider.Link{Actor: "a", Contract: messaging.Contract, Values: v}); err == nil {
			t.Errorf("link %v accepted", v)
		}
	}
}
