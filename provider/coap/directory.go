package coap

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/message/pool"
	"github.com/plgd-dev/go-coap/v3/mux"
	"github.com/plgd-dev/go-coap/v3/udp"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/wisp-dev/wisp/provider"
)

// A gateway's resource directory, after RFC 9176 (CoRE Resource Directory)
// in its simplest form, so microcontrollers that cannot run a host register
// with the one that fronts them:
//
//	POST   /rd?ep=<name>&lt=<seconds>   link-format payload   2.01, Location-Path rd/<name>
//	POST   /rd/<name>[?lt=<seconds>]    refresh                2.04
//	DELETE /rd/<name>                   leave                  2.02
//	GET    /rd                          link-format of every registered resource
//
// A registered device is reached by name: Coap.Request to
// coap://<name>/path goes to the address it registered from. Its
// resources marked obs are observed, and each notification reaches the
// link's actor as Coap.HandleRequest with method NOTIFY.

// DefaultLifetime is how long a registration lasts without a refresh
// (RFC 9176's default).
const DefaultLifetime = 90000 * time.Second

// Device is a registered device.
type Device struct {
	Name       string     `json:"name"`
	Address    string     `json:"address"`
	Resources  []Resource `json:"resources"`
	Registered time.Time  `json:"registered"`
	Expires    time.Time  `json:"expires"`
	// Actor is the actor whose link's listener the device registered with.
	Actor string `json:"actor"`
}

// Resource is one entry of a device's link-format listing.
type Resource struct {
	Path       string `json:"path"`
	Type       string `json:"rt,omitempty"`
	Observable bool   `json:"obs,omitempty"`
}

type device struct {
	Device
	lifetime time.Duration      // the last one given: a refresh without lt keeps it (RFC 9176)
	cancel   context.CancelFunc // stops observations
	wg       sync.WaitGroup
}

// directory is the provider's registry of devices, by name.
type directory struct {
	mu      sync.Mutex
	devices map[string]*device
}

func (d *directory) lookup(name string) (Device, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	dev, ok := d.devices[name]
	if !ok || time.Now().After(dev.Expires) {
		return Device{}, false
	}
	return dev.Device, true
}

// Devices lists the devices registered with the provider, by name.
func (p *Provider) Devices() []Device {
	p.dir.mu.Lock()
	defer p.dir.mu.Unlock()
	var out []Device
	now := time.Now()
	for _, d := range p.dir.devices {
		if now.Before(d.Expires) {
			out = append(out, d.Device)
		}
	}
	slices.SortFunc(out, func(a, b Device) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// ListDevices implements provider.DeviceLister.
func (p *Provider) ListDevices() []provider.Device {
	var out []provider.Device
	for _, d := range p.Devices() {
		pd := provider.Device{Name: d.Name, Protocol: "coap", Address: d.Address, Actor: d.Actor, Registered: d.Registered, Expires: d.Expires}
		for _, r := range d.Resources {
			pd.Resources = append(pd.Resources, r.Path)
		}
		out = append(out, pd)
	}
	return out
}

// remove forgets a device and stops observing it; p.dir.mu is not held.
func (p *Provider) remove(name string) bool {
	p.dir.mu.Lock()
	d, ok := p.dir.devices[name]
	delete(p.dir.devices, name)
	p.dir.mu.Unlock()
	if ok {
		d.cancel()
		d.wg.Wait()
	}
	return ok
}

// sweep forgets expired registrations until ctx ends.
func (p *Provider) sweep(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var expired []string
		p.dir.mu.Lock()
		for name, d := range p.dir.devices {
			if time.Now().After(d.Expires) {
				expired = append(expired, name)
			}
		}
		p.dir.mu.Unlock()
		for _, name := range expired {
			p.remove(name)
			p.rt.Logger().Info("device registration expired", "device", name)
		}
	}
}

// directoryRequest answers requests to /rd and /.well-known/core; it
// reports false for paths the actor serves.
func (p *Provider) directoryRequest(actor string, w mux.ResponseWriter, r *mux.Message, path string, queries []string) bool {
	switch {
	case path == "/.well-known/core" && r.Code() == codes.GET:
		w.SetResponse(codes.Content, message.AppLinkFormat, bytes.NewReader([]byte(`</rd>;rt="core.rd"`)))
		return true
	case path == "/rd" && r.Code() == codes.GET:
		w.SetResponse(codes.Content, message.AppLinkFormat, bytes.NewReader([]byte(p.linkFormat())))
		return true
	case path == "/rd" && r.Code() == codes.POST:
		p.register(actor, w, r, queries)
		return true
	case strings.HasPrefix(path, "/rd/"):
		name := strings.TrimPrefix(path, "/rd/")
		switch r.Code() {
		case codes.DELETE:
			if p.remove(name) {
				w.SetResponse(codes.Deleted, message.TextPlain, nil)
			} else {
				w.SetResponse(codes.NotFound, message.TextPlain, nil)
			}
		case codes.POST:
			lt, err := lifetime(queries)
			if err != nil {
				w.SetResponse(codes.BadRequest, message.TextPlain, bytes.NewReader([]byte(err.Error())))
				return true
			}
			_, given := query(queries, "lt")
			p.dir.mu.Lock()
			d, ok := p.dir.devices[name]
			if ok {
				if given {
					d.lifetime = lt
				}
				d.Expires = time.Now().Add(d.lifetime)
			}
			p.dir.mu.Unlock()
			if ok {
				w.SetResponse(codes.Changed, message.TextPlain, nil)
			} else {
				w.SetResponse(codes.NotFound, message.TextPlain, nil)
			}
		default:
			w.SetResponse(codes.MethodNotAllowed, message.TextPlain, nil)
		}
		return true
	}
	return false
}

func query(queries []string, key string) (string, bool) {
	for _, q := range queries {
		if k, v, _ := strings.Cut(q, "="); k == key {
			return v, true
		}
	}
	return "", false
}

func lifetime(queries []string) (time.Duration, error) {
	v, ok := query(queries, "lt")
	if !ok {
		return DefaultLifetime, nil
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("lt=%q: want a lifetime in seconds", v)
	}
	return time.Duration(n) * time.Second, nil
}

func (p *Provider) register(actor string, w mux.ResponseWriter, r *mux.Message, queries []string) {
	bad := func(code codes.Code, msg string) {
		w.SetResponse(code, message.TextPlain, bytes.NewReader([]byte(msg)))
	}
	name, _ := query(queries, "ep")
	if !provider.ValidDeviceName(name) {
		bad(codes.BadRequest, "ep: want a device name of letters, digits, '-' and '_'")
		return
	}
	lt, err := lifetime(queries)
	if err != nil {
		bad(codes.BadRequest, err.Error())
		return
	}
	var body []byte
	if r.Body() != nil {
		body, _ = r.ReadBody()
	}
	res, err := parseLinkFormat(string(body))
	if err != nil {
		bad(codes.BadRequest, err.Error())
		return
	}
	addr := w.Conn().RemoteAddr().String()
	p.dir.mu.Lock()
	old, taken := p.dir.devices[name]
	if taken && old.Address != addr && time.Now().Before(old.Expires) {
		p.dir.mu.Unlock()
		bad(codes.Forbidden, fmt.Sprintf("device name %s is registered from %s", name, old.Address))
		return
	}
	p.dir.mu.Unlock()
	if taken {
		p.remove(name) // the same device registering again, or an expired one
	}
	ctx, cancel := context.WithCancel(p.ctx)
	d := &device{Device: Device{Name: name, Address: addr, Resources: res, Registered: time.Now(), Expires: time.Now().Add(lt), Actor: actor}, lifetime: lt, cancel: cancel}
	p.dir.mu.Lock()
	p.dir.devices[name] = d
	p.dir.mu.Unlock()
	for _, rs := range res {
		if rs.Observable {
			d.wg.Add(1)
			go p.observe(ctx, d, rs.Path)
		}
	}
	p.rt.Logger().Info("device registered", "device", name, "address", addr, "resources", len(res))
	w.SetResponse(codes.Created, message.TextPlain, nil, message.Option{ID: message.LocationPath, Value: []byte("rd")},
		message.Option{ID: message.LocationPath, Value: []byte(name)})
}

// observe follows an observable resource of a device and delivers each
// notification to the actor, until ctx ends.
func (p *Provider) observe(ctx context.Context, d *device, path string) {
	defer d.wg.Done()
	co, err := udp.Dial(d.Address)
	if err != nil {
		p.rt.Logger().Warn("observe", "device", d.Name, "path", path, "err", err)
		return
	}
	defer co.Close()
	notes := make(chan Request, 16)
	octx, cancel := context.WithTimeout(ctx, 10*time.Second)
	obs, err := co.Observe(octx, path, func(m *pool.Message) {
		req := Request{Method: "NOTIFY", Path: path, ContentFormat: NoContentFormat, Source: d.Address, Device: d.Name}
		if cf, err := m.ContentFormat(); err == nil {
			req.ContentFormat = int32(cf)
		}
		req.Payload, _ = m.ReadBody()
		select {
		case notes <- req:
		default: // the actor is behind: drop, the next notification carries the state
		}
	})
	cancel()
	if err != nil {
		p.rt.Logger().Warn("observe", "device", d.Name, "path", path, "err", err)
		return
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		obs.Cancel(cctx)
		cancel()
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-co.Done():
			return
		case req := <-notes:
			payload, err := msgpack.Marshal(&req)
			if err != nil {
				continue
			}
			cctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
			if _, err := p.rt.CallActor(cctx, d.Actor, OpHandleRequest, payload); err != nil {
				p.rt.Logger().Warn("notification not handled", "device", d.Name, "path", path, "err", err)
			}
			cancel()
		}
	}
}

// resolve turns coap://<device name>/path into the device's address.
func (p *Provider) resolve(u *url.URL) (string, bool) {
	if net.ParseIP(u.Hostname()) != nil || strings.Contains(u.Hostname(), ".") {
		return "", false
	}
	d, ok := p.dir.lookup(u.Hostname())
	if !ok {
		return "", false
	}
	return d.Address, true
}

// linkFormat lists every registered resource, each under its device's
// anchor, as /rd's lookup does.
func (p *Provider) linkFormat() string {
	var parts []string
	for _, d := range p.Devices() {
		for _, r := range d.Resources {
			s := fmt.Sprintf("<coap://%s%s>;ep=%q", d.Address, r.Path, d.Name)
			if r.Type != "" {
				s += fmt.Sprintf(";rt=%q", r.Type)
			}
			if r.Observable {
				s += ";obs"
			}
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ",")
}

// parseLinkFormat reads RFC 6690 link-format: </path>;rt="x";obs,...
func parseLinkFormat(s string) ([]Resource, error) {
	var out []Resource
	for _, link := range splitOutsideQuotes(s, ',') {
		link = strings.TrimSpace(link)
		if link == "" {
			continue
		}
		attrs := splitOutsideQuotes(link, ';')
		target := strings.TrimSpace(attrs[0])
		if !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
			return nil, fmt.Errorf("link-format: %q is not <target>", target)
		}
		r := Resource{Path: target[1 : len(target)-1]}
		if !strings.HasPrefix(r.Path, "/") {
			return nil, fmt.Errorf("link-format: target %q: want a path", r.Path)
		}
		for _, a := range attrs[1:] {
			k, v, _ := strings.Cut(strings.TrimSpace(a), "=")
			switch k {
			case "rt":
				r.Type = strings.Trim(v, `"`)
			case "obs":
				r.Observable = true
			}
		}
		out = append(out, r)
	}
	return out, nil
}

func splitOutsideQuotes(s string, sep byte) []string {
	var parts []string
	quoted, start := false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			quoted = !quoted
		case sep:
			if !quoted {
				parts = append(parts, s[start:i])
				start = i + 1
			}
		}
	}
	return append(parts, s[start:])
}
