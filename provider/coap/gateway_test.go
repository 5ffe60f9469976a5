package coap_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wisp-dev/wisp/internal/devicesim"
	"github.com/wisp-dev/wisp/internal/testwait"
)

// TestGatewayFrontsDevices: a simulated MCU registers with the gateway's
// resource directory; its observed temperature reaches the actor, which
// stores it; the actor switches the device's LED by name; the device
// leaves, and a registration that is not refreshed expires.
func TestGatewayFrontsDevices(t *testing.T) {
	f := setup(t, nil)
	ctx := context.Background()
	sim, err := devicesim.Start(ctx, devicesim.Config{Name: "dev1", Gateway: f.addr, Interval: 100 * time.Millisecond, Lifetime: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Stop(ctx)
	devs := f.prov.Devices()
	if len(devs) != 1 || devs[0].Name != "dev1" || devs[0].Address != sim.Addr() || len(devs[0].Resources) != 2 || !devs[0].Resources[0].Observable {
		t.Fatalf("directory: %+v", devs)
	}
	if out, _ := coapClient(t, "-m", "get", f.url+"/rd"); !strings.Contains(out, `ep="dev1"`) || !strings.Contains(out, "/temp") {
		t.Fatalf("GET /rd: %q", out)
	}

	// Notifications of /temp are stored by the actor.
	testwait.Eventually(t, 15*time.Second, testwait.Holds("a notified temperature is stored", func() bool {
		out, err := coapClient(t, "-m", "get", f.url+"/sensors/dev1/temp")
		_, perr := strconv.ParseFloat(out, 64)
		return err == nil && perr == nil
	}))

	// The actor reaches the device by name.
	if out, err := coapClient(t, "-m", "get", f.url+"/devices/dev1/led?set=on"); err != nil {
		t.Fatalf("switch the LED: %v %q", err, out)
	}
	if !sim.LED() {
		t.Fatal("the LED is still off")
	}
	if out, _ := coapClient(t, "-m", "get", f.url+"/devices/dev1/led"); out != "on" {
		t.Fatalf("LED state through the actor: %q", out)
	}

	// Another device cannot take the name.
	if _, err := devicesim.Start(ctx, devicesim.Config{Name: "dev1", Gateway: f.addr}); err == nil || !strings.Contains(err.Error(), "registered from") {
		t.Fatalf("duplicate device name: %v", err)
	}

	// Leaving empties the directory.
	if err := sim.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if devs := f.prov.Devices(); len(devs) != 0 {
		t.Fatalf("after the device left: %+v", devs)
	}

	// A registration nobody refreshes expires.
	if out, err := coapClient(t, "-m", "post", "-e", `</x>;rt="thing"`, f.url+"/rd?ep=ghost&lt=1"); err != nil {
		t.Fatalf("register with coap-client: %v %q", err, out)
	}
	if devs := f.prov.Devices(); len(devs) != 1 || devs[0].Name != "ghost" {
		t.Fatalf("after coap-client registered: %+v", devs)
	}
	testwait.Eventually(t, 15*time.Second, testwait.Holds("the unrefreshed registration expires", func() bool { return len(f.prov.Devices()) == 0 }))

	// A refresh without lt keeps the registration's lifetime (RFC 9176),
	// rather than the 25-hour default.
	if out, err := coapClient(t, "-m", "post", "-e", `</x>;rt="thing"`, f.url+"/rd?ep=brief&lt=60"); err != nil {
		t.Fatalf("register: %v %q", err, out)
	}
	if out, err := coapClient(t, "-m", "post", f.url+"/rd/brief"); err != nil {
		t.Fatalf("refresh: %v %q", err, out)
	}
	if devs := f.prov.Devices(); len(devs) != 1 || time.Until(devs[0].Expires) > 61*time.Second {
		t.Fatalf("after a refresh without lt: %+v", devs)
	}
	coapClient(t, "-m", "delete", f.url+"/rd/brief")

	for _, bad := range []string{"/rd?ep=bad.name", "/rd?ep=x&lt=soon", "/rd"} {
		if out, _ := coapClient(t, "-m", "post", "-e", "</x>", f.url+bad); !strings.Contains(out, "4.00") {
			t.Errorf("POST %s: %q", bad, out)
		}
	}
}
