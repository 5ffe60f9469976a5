package mqtt_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/wisp-dev/wisp/internal/providertest"
	"github.com/wisp-dev/wisp/internal/testwait"
	"github.com/wisp-dev/wisp/internal/testwasm"
	"github.com/wisp-dev/wisp/provider"
	"github.com/wisp-dev/wisp/provider/messaging"
	"github.com/wisp-dev/wisp/provider/runner"
)

// broker is a Debian mosquitto process on 127.0.0.1.
type broker struct {
	t    *testing.T
	port int
	cmd  *exec.Cmd
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func startBroker(t *testing.T, port int) *broker {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: runs mosquitto")
	}
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		if _, err = os.Stat("/usr/sbin/mosquitto"); err == nil {
			bin = "/usr/sbin/mosquitto"
		} else if os.Getenv("CI") != "" {
			t.Fatal("mosquitto is not installed: .ci/run installs Debian's mosquitto package")
		} else {
			t.Skip("mosquitto is not installed (Debian package mosquitto; bash .ci/run installs it)")
		}
	}
	conf := filepath.Join(t.TempDir(), "mosquitto.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location %s/\n", port, dataDir(t, port))), 0o600)
	b := &broker{t: t, port: port, cmd: exec.Command(bin, "-c", conf)}
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.stop)
	testwait.Eventually(t, 10*time.Second, func() error {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			return fmt.Errorf("mosquitto did not start: %w", err)
		}
		return c.Close()
	})
	return b
}

// dataDir is the broker's persistence folder, one per test and port, so a
// restarted broker finds its sessions.
func dataDir(t *testing.T, port int) string {
	d := filepath.Join(os.TempDir(), fmt.Sprintf("wisp-mosquitto-%s-%d", strings.ReplaceAll(t.Name(), "/", "_"), port))
	os.MkdirAll(d, 0o700)
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// shutdown stops the broker cleanly: it saves its sessions first.
func (b *broker) shutdown() {
	if b.cmd.ProcessState == nil {
		b.cmd.Process.Signal(syscall.SIGTERM)
		b.cmd.Wait()
	}
}

func (b *broker) uri() string { return fmt.Sprintf("tcp://127.0.0.1:%d", b.port) }

func (b *broker) stop() {
	if b.cmd.ProcessState == nil {
		b.cmd.Process.Kill()
		b.cmd.Wait()
	}
}

// client is an MQTT client that records what arrives on its subscription.
type client struct {
	cm  *autopaho.ConnectionManager
	got chan *paho.Publish
}

func newClient(t *testing.T, uri, filter string) *client {
	t.Helper()
	u, _ := url.Parse(uri)
	c := &client{got: make(chan *paho.Publish, 100)}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ready := make(chan struct{}, 1)
	cm, err := autopaho.NewConnection(ctx, autopaho.ClientConfig{
		ServerUrls: []*url.URL{u}, KeepAlive: 20, CleanStartOnInitialConnection: true, ReconnectBackoff: autopaho.NewConstantBackoff(100 * time.Millisecond),
		OnConnectionUp: func(cm *autopaho.ConnectionManager, _ *paho.Connack) {
			go func() {
				if filter != "" {
					cm.Subscribe(context.Background(), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: 1}}})
				}
				ready <- struct{}{}
			}()
		},
		ClientConfig: paho.ClientConfig{ClientID: fmt.Sprintf("test-%d", time.Now().UnixNano()),
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
				c.got <- pr.Packet
				return true, nil
			}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	c.cm = cm
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("test client did not connect")
	}
	return c
}

func (c *client) publish(t *testing.T, topic, body string) {
	t.Helper()
	if _, err := c.cm.Publish(context.Background(), &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(body)}); err != nil {
		t.Fatal(err)
	}
}

func (c *client) next(t *testing.T) *paho.Publish {
	t.Helper()
	select {
	case m := <-c.got:
		return m
	case <-time.After(15 * time.Second):
		t.Fatal("nothing arrived")
	}
	return nil
}

// relayOver runs the mqtt-relay actor with count instances and the mqtt
// provider linked to broker b, subscribed to sensors/+.
func relayOver(t *testing.T, b *broker, count int) (*runner.Runner, string) {
	t.Helper()
	e := providertest.New(t)
	actor := e.StartActor(t, testwasm.GoActor(t, "actors/mqtt-relay"), "mqtt-relay.wasm", count)
	r := e.Run(t, "mqtt", true)
	link := provider.Link{Actor: actor, Contract: messaging.Contract, Values: map[string]string{"URI": b.uri(), "SUBSCRIPTION": "sensors/+"}}
	if err := r.PutLink(context.Background(), link); err != nil {
		t.Fatal(err)
	}
	return r, actor
}

// TestRelayActorOverMosquitto: readings published to a real mosquitto
// reach the mqtt-relay actor through the provider, and its records come
// back out; the broker goes away and returns, and the link recovers.
func TestRelayActorOverMosquitto(t *testing.T) {
	port := freePort(t)
	b := startBroker(t, port)
	r, actor := relayOver(t, b, 2)
	watch := newClient(t, b.uri(), "relay/#")
	sensor := newClient(t, b.uri(), "")
	// The provider subscribes once connected: retry the first reading
	// until a record comes back.
	var m *paho.Publish
	testwait.Eventually(t, 15*time.Second, func() error {
		sensor.publish(t, "sensors/kitchen", "21.5")
		select {
		case m = <-watch.got:
			return nil
		case <-time.After(200 * time.Millisecond):
			return errors.New("no record from the relay")
		}
	})
	if m.Topic != "relay/kitchen" || string(m.Payload) != `{"sensor":"kitchen","celsius":21.5,"fahrenheit":70.7}` {
		t.Fatalf("record %s %s", m.Topic, m.Payload)
	}
	for len(watch.got) > 0 { // duplicates of the first reading
		<-watch.got
	}
	sensor.publish(t, "sensors/attic", "warm")
	if m = watch.next(t); m.Topic != "relay/errors" || !strings.Contains(string(m.Payload), "attic: not a number") {
		t.Fatalf("error record %s %s", m.Topic, m.Payload)
	}

	// The broker goes away (a clean shutdown that saves its sessions): a
	// subscriber that registered a persistent session before (mosquitto_sub,
	// an independent client) gets, after the broker returns, what the actor
	// published while it was away, held by the provider.
	sub := needTool(t, "mosquitto_sub", "mosquitto-clients")
	if out, err := exec.Command(sub, "-h", "127.0.0.1", "-p", fmt.Sprint(port), "-i", "late-reader", "-c", "-q", "1",
		"-t", "late/#", "-W", "1").CombinedOutput(); err != nil && !strings.Contains(string(out), "Timed out") {
		t.Fatalf("register the persistent subscriber: %v %s", err, out)
	}
	b.shutdown()
	for i := range 3 {
		pub, _ := msgpack.Marshal(messaging.PubMessage{Subject: fmt.Sprintf("late/%d", i), Body: []byte(fmt.Sprint(i))})
		if _, err := r.Invoke(context.Background(), provider.Call{Actor: actor, LinkName: "default", Operation: messaging.OpPublish, Payload: pub}); err != nil {
			t.Fatalf("publish %d with the broker away: %v", i, err)
		}
	}
	// It comes back on the same port: the link reconnects, sends what it
	// held, and resubscribes.
	b = startBroker(t, port)
	out, err := exec.Command(sub, "-h", "127.0.0.1", "-p", fmt.Sprint(port), "-i", "late-reader", "-c", "-q", "1",
		"-t", "late/#", "-C", "3", "-W", "20", "-v").CombinedOutput()
	if err != nil || string(out) != "late/0 0\nlate/1 1\nlate/2 2\n" {
		t.Fatalf("messages held while the broker was away: %v %q", err, out)
	}
	watch = newClient(t, b.uri(), "relay/#")
	sensor = newClient(t, b.uri(), "")
	testwait.Eventually(t, 30*time.Second, func() error {
		sensor.publish(t, "sensors/porch", "0")
		select {
		case m = <-watch.got:
			return nil
		case <-time.After(300 * time.Millisecond):
			return errors.New("the link did not recover after the broker returned")
		}
	})
	if m.Topic != "relay/porch" || string(m.Payload) != `{"sensor":"porch","celsius":0,"fahrenheit":32.0}` {
		t.Fatalf("record after the broker returned: %s %s", m.Topic, m.Payload)
	}
}

// TestTraceContextRidesUserProperties: a reading published with a W3C
// traceparent user property reaches the relay actor in that trace, and the
// record the actor publishes through the provider carries the trace on
// (no tracer installed: the context is only passed through).
func TestTraceContextRidesUserProperties(t *testing.T) {
	b := startBroker(t, freePort(t))
	relayOver(t, b, 1)
	watch := newClient(t, b.uri(), "relay/#")
	sensor := newClient(t, b.uri(), "")
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	reading := &paho.Publish{Topic: "sensors/kitchen", QoS: 1, Payload: []byte("21.5"), Properties: &paho.PublishProperties{
		User: paho.UserProperties{{Key: "traceparent", Value: "00-" + traceID + "-00f067aa0ba902b7-01"}}}}
	var m *paho.Publish
	testwait.Eventually(t, 15*time.Second, func() error {
		if _, err := sensor.cm.Publish(context.Background(), reading); err != nil {
			return err
		}
		select {
		case m = <-watch.got:
			return nil
		case <-time.After(200 * time.Millisecond):
			return errors.New("no record from the relay")
		}
	})
	var tp string
	if m.Properties != nil {
		tp = m.Properties.User.Get("traceparent")
	}
	if parts := strings.Split(tp, "-"); len(parts) != 4 || parts[1] != traceID {
		t.Fatalf("the relayed record's traceparent = %q, want trace %s", tp, traceID)
	}
}

func TestBadLinks(t *testing.T) {
	e := providertest.New(t)
	r := e.Run(t, "mqtt", false)
	for _, v := range []map[string]string{
		{"URI": "http://127.0.0.1:1"},
		{"URI": "::"},
		{"QOS": "7"},
	} {
		if err := r.PutLink(context.Background(), provider.Link{Actor: "a", Contract: messaging.Contract, Values: v}); err == nil {
			t.Errorf("link %v accepted", v)
		}
	}
	if _, err := r.Invoke(context.Background(), provider.Call{Actor: "a", LinkName: "default", Operation: messaging.OpPublish}); !errors.Is(err, provider.ErrNotLinked) {
		t.Fatalf("unlinked: %v", err)
	}
}

// needTool finds a Debian-packaged tool: outside CI a missing one skips the
// test, in CI it fails it (.ci/run installs it).
func needTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed: .ci/run installs Debian's %s package", name, pkg)
		}
		t.Skipf("%s is not installed (Debian package %s; bash .ci/run installs it)", name, pkg)
	}
	return p
}
