// Package coap is the wisp:coap provider, for microcontrollers that speak
// CoAP (RFC 7252) over UDP: each link serves CoAP on an address and turns
// every request into a Coap.HandleRequest call to the actor, and actors
// call devices with Coap.Request. wasmCloud has no CoAP contract; wisp
// defines this one in the same style (MessagePack, camelCase fields).
//
// Link values:
//
//	address      UDP listen address (default 127.0.0.1:5683)
//	timeout_ms   how long the actor may take (default 5000), then 5.04
//	max_payload  largest request payload in bytes, blockwise transfers
//	             included (default 65536), then 4.13
//
// Requests from one device are handled in order; different devices are
// handled concurrently. Duplicate confirmable messages are answered from
// go-coap's cache, so a retransmission does not call the actor twice.
package coap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/mux"
	coapnet "github.com/plgd-dev/go-coap/v3/net"
	"github.com/plgd-dev/go-coap/v3/net/blockwise"
	"github.com/plgd-dev/go-coap/v3/options"
	"github.com/plgd-dev/go-coap/v3/udp"
	udpserver "github.com/plgd-dev/go-coap/v3/udp/server"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/wisp-dev/wisp/internal/msgpack/bounded"
	"github.com/wisp-dev/wisp/provider"
)

// Contract is the contract id the provider serves.
const Contract = "wisp:coap"

// Operations of the contract.
const (
	// OpHandleRequest is the call an actor receives for a device's request.
	OpHandleRequest = "Coap.HandleRequest"
	// OpRequest is the call an actor makes to reach a device.
	OpRequest = "Coap.Request"
)

// Defaults for link values left unset.
const (
	DefaultAddress    = "127.0.0.1:5683"
	DefaultTimeout    = 5 * time.Second
	DefaultMaxPayload = 64 << 10
)

// NoContentFormat marks a message without a Content-Format option.
const NoContentFormat = -1

func init() {
	provider.Register("coap", func() provider.Provider { return &Provider{} })
}

// Request is a device's request, as the actor receives it.
type Request struct {
	Method        string `msgpack:"method"`        // GET, POST, PUT or DELETE
	Path          string `msgpack:"path"`          // "/sensors/temp"
	Query         string `msgpack:"query"`         // "unit=c&x=1"
	ContentFormat int32  `msgpack:"contentFormat"` // e.g. 0 text/plain, 50 JSON; -1 none
	Payload       []byte `msgpack:"payload"`
	Source        string `msgpack:"source"` // the device's address
	// Device is the name the device registered under, when it did.
	Device string `msgpack:"device,omitempty"`
}

// Response answers a request, either way.
type Response struct {
	// Code is the CoAP response code as class*32+detail: 69 is 2.05
	// Content, 68 2.04 Changed, 132 4.04 Not Found.
	Code          uint8  `msgpack:"code"`
	ContentFormat int32  `msgpack:"contentFormat"`
	Payload       []byte `msgpack:"payload"`
}

// OutgoingRequest is Coap.Request's argument: a request to a device.
type OutgoingRequest struct {
	// URL is coap://host:port/path?query.
	URL           string `msgpack:"url"`
	Method        string `msgpack:"method"`
	ContentFormat int32  `msgpack:"contentFormat"`
	Payload       []byte `msgpack:"payload"`
	// TimeoutMs bounds the exchange (default 5000).
	TimeoutMs uint32 `msgpack:"timeoutMs"`
}

// Provider serves wisp:coap.
type Provider struct {
	rt provider.Runtime

	mu      sync.Mutex
	servers map[string]*server
	linked  map[string]bool // actors with a link, for Coap.Request

	dir    directory
	ctx    context.Context // ends at Stop: observations, the sweeper
	cancel context.CancelFunc
	wg     sync.WaitGroup // the sweeper
}

type server struct {
	want       string
	addr       string
	timeout    time.Duration
	maxPayload int
	srv        *udpserver.Server
	done       chan struct{}
}

// Contract implements provider.Provider.
func (p *Provider) Contract() string { return Contract }

// Start implements provider.Provider.
func (p *Provider) Start(_ context.Context, rt provider.Runtime) error {
	p.rt = rt
	p.servers = map[string]*server{}
	p.linked = map[string]bool{}
	p.dir.devices = map[string]*device{}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.sweep(p.ctx)
	}()
	return nil
}

func linkKey(actor, name string) string {
	if name == "" {
		name = "default"
	}
	return actor + "/" + name
}

// PutLink serves CoAP for the actor on the link's address.
func (p *Provider) PutLink(ctx context.Context, l provider.Link) error {
	addr := l.Value("address", DefaultAddress)
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("link %s: address %q: %w", l.Key(), addr, err)
	}
	timeout, err := l.Duration("timeout_ms", time.Millisecond, DefaultTimeout, time.Millisecond, math.MaxUint32*time.Millisecond)
	if err != nil {
		return err
	}
	maxPayload, err := l.Int("max_payload", DefaultMaxPayload, 1, math.MaxUint32)
	if err != nil {
		return err
	}
	k := linkKey(l.Actor, l.LinkName())
	p.mu.Lock()
	old := p.servers[k]
	if old != nil && old.want == addr && old.timeout == timeout && old.maxPayload == int(maxPayload) {
		p.linked[l.Actor] = true
		p.mu.Unlock()
		return nil
	}
	delete(p.servers, k)
	p.mu.Unlock()
	if old != nil {
		old.stop()
	}
	conn, err := coapnet.NewListenUDP("udp", addr)
	if err != nil {
		return fmt.Errorf("link %s: listen udp %s: %w", l.Key(), addr, err)
	}
	s := &server{want: addr, addr: conn.LocalAddr().String(), timeout: timeout, maxPayload: int(maxPayload), done: make(chan struct{})}
	router := mux.NewRouter()
	router.DefaultHandle(mux.HandlerFunc(func(w mux.ResponseWriter, r *mux.Message) { p.serve(s, l.Actor, w, r) }))
	s.srv = udp.NewServer(options.WithMux(router), options.WithMaxMessageSize(uint32(maxPayload)+1024),
		options.WithBlockwise(true, blockwise.SZX1024, 10*time.Second), // Block1 requests reassembled, Block2 answers split
		options.WithErrors(func(err error) { p.rt.Logger().Debug("coap", "err", err) }))
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(conn); err != nil {
			p.rt.Logger().Error("coap listener failed", "address", s.addr, "err", err)
		}
	}()
	p.mu.Lock()
	p.servers[k] = s
	p.linked[l.Actor] = true
	p.mu.Unlock()
	p.rt.Logger().Info("coap listener open", "actor", l.Actor, "address", s.addr)
	return nil
}

// Address returns where the link's listener is.
func (p *Provider) Address(l provider.Link) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.servers[linkKey(l.Actor, l.LinkName())]
	if !ok {
		return "", false
	}
	return s.addr, true
}

func (s *server) stop() {
	s.srv.Stop()
	<-s.done
}

// DelLink closes the link's listener.
func (p *Provider) DelLink(_ context.Context, l provider.Link) error {
	p.mu.Lock()
	s := p.servers[linkKey(l.Actor, l.LinkName())]
	delete(p.servers, linkKey(l.Actor, l.LinkName()))
	delete(p.linked, l.Actor)
	p.mu.Unlock()
	if s != nil {
		s.stop()
	}
	for _, d := range p.Devices() {
		if d.Actor == l.Actor {
			p.remove(d.Name)
		}
	}
	return nil
}

// Stop implements provider.Provider.
func (p *Provider) Stop(context.Context) error {
	p.mu.Lock()
	servers := p.servers
	p.servers = map[string]*server{}
	p.mu.Unlock()
	for _, s := range servers {
		s.stop()
	}
	for _, d := range p.Devices() {
		p.remove(d.Name)
	}
	p.cancel()
	p.wg.Wait()
	return nil
}

var methods = map[codes.Code]string{codes.GET: "GET", codes.POST: "POST", codes.PUT: "PUT", codes.DELETE: "DELETE"}

// serve turns a device's request into an actor call.
func (p *Provider) serve(s *server, actor string, w mux.ResponseWriter, r *mux.Message) {
	reply := func(code codes.Code, format int32, payload []byte) {
		var err error
		if format == NoContentFormat {
			err = w.SetResponse(code, message.TextPlain, nil)
			if len(payload) > 0 {
				err = w.SetResponse(code, message.TextPlain, bytes.NewReader(payload))
			}
		} else {
			err = w.SetResponse(code, message.MediaType(format), bytes.NewReader(payload))
		}
		if err != nil {
			p.rt.Logger().Warn("coap response", "err", err)
		}
	}
	method, ok := methods[r.Code()]
	if !ok {
		reply(codes.MethodNotAllowed, NoContentFormat, nil)
		return
	}
	req := Request{Method: method, ContentFormat: NoContentFormat, Source: w.Conn().RemoteAddr().String()}
	req.Path, _ = r.Path()
	if !strings.HasPrefix(req.Path, "/") {
		req.Path = "/" + req.Path
	}
	queries, _ := r.Queries()
	req.Query = strings.Join(queries, "&")
	if p.directoryRequest(actor, w, r, req.Path, queries) {
		return
	}
	for _, d := range p.Devices() {
		if d.Address == req.Source {
			req.Device = d.Name
		}
	}
	if cf, err := r.ContentFormat(); err == nil {
		req.ContentFormat = int32(cf)
	}
	if r.Body() != nil {
		body, err := io.ReadAll(r.Body())
		if err != nil {
			reply(codes.BadRequest, NoContentFormat, []byte(err.Error()))
			return
		}
		if len(body) > s.maxPayload {
			reply(codes.RequestEntityTooLarge, NoContentFormat, []byte(fmt.Sprintf("payload over %d bytes", s.maxPayload)))
			return
		}
		req.Payload = body
	}
	payload, err := msgpack.Marshal(&req)
	if err != nil {
		reply(codes.InternalServerError, NoContentFormat, nil)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	out, err := p.rt.CallActor(ctx, actor, OpHandleRequest, payload)
	if err != nil {
		code := codes.InternalServerError
		if ctx.Err() != nil {
			code = codes.GatewayTimeout
		}
		p.rt.Logger().Warn("actor failed a coap request", "actor", actor, "path", req.Path, "err", err)
		reply(code, NoContentFormat, []byte(truncate(err.Error(), 200)))
		return
	}
	var resp Response
	if err := bounded.Unmarshal(out, &resp); err != nil || resp.Code < 64 {
		reply(codes.BadGateway, NoContentFormat, []byte("actor answered a malformed response"))
		return
	}
	reply(codes.Code(resp.Code), resp.ContentFormat, resp.Payload)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// Handle runs Coap.Request for a linked actor.
func (p *Provider) Handle(ctx context.Context, c provider.Call) ([]byte, error) {
	p.mu.Lock()
	linked := p.linked[c.Actor]
	p.mu.Unlock()
	if !linked {
		return nil, fmt.Errorf("%w: %s has no %s link", provider.ErrNotLinked, c.Actor, Contract)
	}
	if c.Operation != OpRequest {
		return nil, fmt.Errorf("%w %q for %s", provider.ErrUnknownOperation, c.Operation, Contract)
	}
	var req OutgoingRequest
	if err := bounded.Unmarshal(c.Payload, &req); err != nil {
		return nil, fmt.Errorf("%s: %w: %v", c.Operation, provider.ErrBadPayload, err)
	}
	// coap://<registered device>/path goes to the device's address.
	if u, err := url.Parse(req.URL); err == nil && u.Scheme == "coap" {
		if addr, ok := p.resolve(u); ok {
			u.Host = addr
			req.URL = u.String()
		}
	}
	resp, err := Do(ctx, req)
	if err != nil {
		return nil, err
	}
	return msgpack.Marshal(resp)
}

// ErrNoAnswer means a device did not answer in time.
var ErrNoAnswer = errors.New("device did not answer")

// Do sends req to a device and returns its response.
func Do(ctx context.Context, req OutgoingRequest) (*Response, error) {
	u, err := url.Parse(req.URL)
	if err != nil || u.Scheme != "coap" || u.Host == "" {
		return nil, fmt.Errorf("coap request: URL %q: want coap://host:port/path", req.URL)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "5683")
	}
	timeout := DefaultTimeout
	if req.TimeoutMs > 0 {
		timeout = time.Duration(req.TimeoutMs) * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	co, err := udp.Dial(host)
	if err != nil {
		return nil, fmt.Errorf("coap request %s: %w", req.URL, err)
	}
	defer co.Close()
	var opts message.Options
	if u.RawQuery != "" {
		for _, q := range strings.Split(u.RawQuery, "&") {
			opts = append(opts, message.Option{ID: message.URIQuery, Value: []byte(q)})
		}
	}
	format := message.TextPlain
	if req.ContentFormat >= 0 {
		format = message.MediaType(req.ContentFormat)
	}
	path := u.Path
	if path == "" {
		path = "/"
	}
	var resp interface {
		Code() codes.Code
		ContentFormat() (message.MediaType, error)
		ReadBody() ([]byte, error)
	}
	switch strings.ToUpper(req.Method) {
	case "", "GET":
		resp, err = co.Get(ctx, path, opts...)
	case "POST":
		resp, err = co.Post(ctx, path, format, bytes.NewReader(req.Payload), opts...)
	case "PUT":
		resp, err = co.Put(ctx, path, format, bytes.NewReader(req.Payload), opts...)
	case "DELETE":
		resp, err = co.Delete(ctx, path, opts...)
	default:
		return nil, fmt.Errorf("coap request %s: method %q: want GET, POST, PUT or DELETE", req.URL, req.Method)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("coap %s %s: %w within %s", req.Method, req.URL, ErrNoAnswer, timeout)
		}
		// Nothing listening (an ICMP port unreachable closes the
		// exchange), or the network failed.
		return nil, fmt.Errorf("coap %s %s: %w: %v", req.Method, req.URL, ErrNoAnswer, err)
	}
	out := &Response{Code: uint8(resp.Code()), ContentFormat: NoContentFormat}
	if cf, err := resp.ContentFormat(); err == nil {
		out.ContentFormat = int32(cf)
	}
	if out.Payload, err = resp.ReadBody(); err != nil {
		return nil, fmt.Errorf("coap %s %s: read response: %w", req.Method, req.URL, err)
	}
	return out, nil
}
