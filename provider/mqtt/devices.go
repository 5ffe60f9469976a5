package mqtt

import (
	"encoding/json"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/wisp-dev/wisp/provider"
)

// Device registration over MQTT, for microcontrollers that speak MQTT
// rather than CoAP. A link with DEVICES=true makes its connection a
// gateway's registry, in the style of Homie's $state and Sparkplug's
// birth and death certificates:
//
//	wisp/devices/<name>/register  retained JSON {"resources": [...], "attributes": {...}, "id": "..."}
//	                              an empty retained message unregisters
//	wisp/devices/<name>/state     retained "online" or "offline" (also "lost",
//	                              "disconnected"): the device's last will
//
// A device is listed while it is registered and not offline. The prefix
// wisp/devices is the link value DEVICE_PREFIX. Registrations are retained,
// so a gateway that restarts knows its devices again from the broker; a
// registration that arrives live (not a retained copy) also marks the
// device online again. Two devices under one name overwrite each other's
// retained registration: the last one wins, and when their "id"s differ
// the gateway logs it as a duplicate name.

// DefaultDevicePrefix is the topic prefix of device registrations.
const DefaultDevicePrefix = "wisp/devices"

// Registration is what a device publishes, retained, on
// <prefix>/<name>/register.
type Registration struct {
	// Resources are what the device offers: topics under its own prefix
	// (e.g. "temp", "led") or CoAP-style paths.
	Resources []string `json:"resources"`
	// Attributes describe it: model, firmware, location...
	Attributes map[string]string `json:"attributes,omitempty"`
	// ID tells two devices that claim one name apart (a serial number,
	// the MQTT client id); optional.
	ID string `json:"id,omitempty"`
}

// mqttDevice is a device a link knows.
type mqttDevice struct {
	reg        *Registration // nil: not registered (a state came first)
	offline    bool
	registered time.Time
}

// registry is one link's devices, by name.
type registry struct {
	prefix string
	actor  string
	uri    string
	log    *slog.Logger

	mu      sync.Mutex
	devices map[string]*mqttDevice
}

func newRegistry(prefix, actor, uri string, log *slog.Logger) *registry {
	return &registry{prefix: strings.TrimSuffix(prefix, "/"), actor: actor, uri: uri, log: log, devices: map[string]*mqttDevice{}}
}

// filters are the topic filters the link subscribes to for registrations.
func (r *registry) filters() []string {
	return []string{r.prefix + "/+/register", r.prefix + "/+/state"}
}

// handle takes a message on one of the registry's topics; it reports false
// for other topics.
func (r *registry) handle(m *paho.Publish) bool {
	rest, ok := strings.CutPrefix(m.Topic, r.prefix+"/")
	if !ok {
		return false
	}
	name, kind, ok := strings.Cut(rest, "/")
	if !ok || (kind != "register" && kind != "state") {
		return false
	}
	if !provider.ValidDeviceName(name) {
		r.log.Warn("mqtt device: bad name in topic: want letters, digits, '-' and '_'", "topic", m.Topic)
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	d := r.devices[name]
	if d == nil {
		d = &mqttDevice{}
		r.devices[name] = d
	}
	switch kind {
	case "register":
		if len(m.Payload) == 0 { // the retained registration was cleared
			delete(r.devices, name)
			r.log.Info("mqtt device unregistered", "device", name)
			return true
		}
		var reg Registration
		if err := json.Unmarshal(m.Payload, &reg); err != nil {
			r.log.Warn("mqtt device: registration is not JSON {\"resources\": [...], \"attributes\": {...}}", "device", name, "err", err)
			if d.reg == nil && !d.offline {
				delete(r.devices, name)
			}
			return true
		}
		if d.reg != nil && d.reg.ID != reg.ID && d.reg.ID != "" && reg.ID != "" {
			r.log.Warn("mqtt device: duplicate device name: the last registration wins", "device", name, "was", d.reg.ID, "now", reg.ID)
		}
		d.reg, d.registered = &reg, time.Now()
		// A retained copy replayed at subscribe time says nothing about
		// now; a live registration means the device is there.
		if !m.Retain {
			d.offline = false
		}
		r.log.Info("mqtt device registered", "device", name, "id", reg.ID, "resources", len(reg.Resources), "retained", m.Retain)
	case "state":
		switch s := strings.ToLower(strings.TrimSpace(string(m.Payload))); s {
		case "offline", "lost", "disconnected":
			if !d.offline && d.reg != nil {
				r.log.Info("mqtt device offline", "device", name, "state", s)
			}
			d.offline = true
		default: // online, ready, init, sleeping..., or the state cleared
			d.offline = false
		}
		if d.reg == nil && !d.offline {
			delete(r.devices, name) // online but never registered: nothing to list
		}
	}
	return true
}

// list returns the devices registered and not offline.
func (r *registry) list() []provider.Device {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []provider.Device
	for _, name := range slices.Sorted(maps.Keys(r.devices)) {
		d := r.devices[name]
		if d.reg == nil || d.offline {
			continue
		}
		out = append(out, provider.Device{Name: name, Protocol: "mqtt", Address: r.uri + "/" + r.prefix + "/" + name,
			Resources: slices.Clone(d.reg.Resources), Attributes: maps.Clone(d.reg.Attributes), Actor: r.actor, Registered: d.registered})
	}
	return out
}

// ListDevices implements provider.DeviceLister: the devices registered on
// the links with DEVICES=true, by name.
func (p *Provider) ListDevices() []provider.Device {
	p.mu.Lock()
	var regs []*registry
	for _, lk := range p.links {
		if lk.devices != nil {
			regs = append(regs, lk.devices)
		}
	}
	p.mu.Unlock()
	var out []provider.Device
	for _, r := range regs {
		out = append(out, r.list()...)
	}
	slices.SortFunc(out, func(a, b provider.Device) int { return strings.Compare(a.Name+a.Actor, b.Name+b.Actor) })
	return out
}

// matchTopic reports whether topic matches the MQTT filter (+ one level,
// # the rest).
func matchTopic(filter, topic string) bool {
	f, t := strings.Split(filter, "/"), strings.Split(topic, "/")
	for i, part := range f {
		if part == "#" {
			return true
		}
		if i >= len(t) || (part != "+" && part != t[i]) {
			return false
		}
	}
	return len(f) == len(t)
}
