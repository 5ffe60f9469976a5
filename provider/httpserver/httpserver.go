// Package httpserver is the wasmcloud:httpserver provider: each link opens
// an HTTP listener whose requests become HttpServer.HandleRequest calls to
// the linked actor.
//
// Link values (names as wasmCloud's provider reads them, any case):
//
//	address          listen address (default 127.0.0.1:8000; 0.0.0.0:PORT to
//	                 serve other machines)
//	port             shorthand for address 127.0.0.1:PORT
//	timeout_ms       how long the actor may take (default 30000); then 504
//	max_content_len  largest request body in bytes (default 10 MiB); then 413
//
// Method, path, query string, headers and body go through unchanged; the
// actor's status, headers and body come back. A link put at runtime opens
// its listener at once, a deleted one drains and closes it.
package httpserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/wisp-dev/wisp/internal/msgpack"
	"github.com/wisp-dev/wisp/lattice/trace"
	"github.com/wisp-dev/wisp/provider"
)

// Contract is the contract id the provider serves.
const Contract = "wasmcloud:httpserver"

// Operation is the actor operation each request becomes.
const Operation = "HttpServer.HandleRequest"

// Defaults for link values left unset.
const (
	DefaultAddress       = "127.0.0.1:8000"
	DefaultTimeout       = 30 * time.Second
	DefaultMaxContentLen = 10 << 20
)

func init() {
	provider.Register("httpserver", func() provider.Provider { return &Provider{} })
}

// Request is the HttpRequest an actor receives.
type Request struct {
	Method      string              `msgpack:"method"`
	Path        string              `msgpack:"path"`
	QueryString string              `msgpack:"queryString"`
	Header      map[string][]string `msgpack:"header"`
	Body        []byte              `msgpack:"body"`
}

// Response is the HttpResponse an actor answers.
type Response struct {
	StatusCode uint16              `msgpack:"statusCode"`
	Header     map[string][]string `msgpack:"header"`
	Body       []byte              `msgpack:"body"`
}

// Provider serves wasmcloud:httpserver.
type Provider struct {
	rt provider.Runtime

	mu      sync.Mutex
	servers map[string]*server // by link key
}

// server is one link's listener.
type server struct {
	want string // the configured address
	addr string // the bound address
	cfg  atomic.Pointer[serverConfig]
	srv  *http.Server
	done chan struct{} // closed when Serve returns
}

// serverConfig is what a link's values set besides its address: a new
// link value replaces it in place, under the listener's requests.
type serverConfig struct {
	link    provider.Link
	timeout time.Duration
	maxBody int64
}

// Contract implements provider.Provider.
func (p *Provider) Contract() string { return Contract }

// Start implements provider.Provider.
func (p *Provider) Start(_ context.Context, rt provider.Runtime) error {
	p.rt = rt
	p.servers = map[string]*server{}
	return nil
}

// settings reads a link's values.
func settings(l provider.Link) (addr string, timeout time.Duration, maxBody int64, err error) {
	addr = l.Value("address", "")
	if addr == "" {
		addr = DefaultAddress
		port, err := l.Int("port", 0, 0, 65535)
		if err != nil {
			return "", 0, 0, err
		}
		if l.Value("port", "") != "" {
			addr = net.JoinHostPort("127.0.0.1", strconv.FormatInt(port, 10))
		}
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return "", 0, 0, fmt.Errorf("link %s: address %q: %w", l.Key(), addr, err)
	}
	if timeout, err = l.Duration("timeout_ms", time.Millisecond, DefaultTimeout, time.Millisecond, math.MaxUint32*time.Millisecond); err != nil {
		return "", 0, 0, err
	}
	if maxBody, err = l.Int("max_content_len", DefaultMaxContentLen, 0, math.MaxInt64); err != nil {
		return "", 0, 0, err
	}
	return addr, timeout, maxBody, nil
}

// PutLink opens the link's listener. A new value of a link already open
// takes effect in place, for the requests that follow, when the address
// stays; a new address opens its listener before the old one drains, so
// no request is refused while the link changes.
func (p *Provider) PutLink(ctx context.Context, l provider.Link) error {
	addr, timeout, maxBody, err := settings(l)
	if err != nil {
		return err
	}
	cfg := &serverConfig{link: l, timeout: timeout, maxBody: maxBody}
	p.mu.Lock()
	old := p.servers[l.Key()]
	if old != nil && old.want == addr {
		old.cfg.Store(cfg)
		p.mu.Unlock()
		return nil
	}
	p.mu.Unlock()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("link %s: listen: %w", l.Key(), err)
	}
	s := &server{want: addr, addr: ln.Addr().String(), done: make(chan struct{})}
	s.cfg.Store(cfg)
	s.srv = &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { p.serve(s, w, r) }),
		ReadHeaderTimeout: 10 * time.Second,
	}
	p.mu.Lock()
	old = p.servers[l.Key()]
	p.servers[l.Key()] = s
	p.mu.Unlock()
	if old != nil {
		old.shutdown(ctx)
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			p.rt.Logger().Error("http listener failed", "link", l.Key(), "address", s.addr, "err", err)
		}
	}()
	p.rt.Logger().Info("http listener open", "actor", l.Actor, "address", s.addr)
	return nil
}

// Address returns where the link's listener is, once PutLink opened it
// (useful with port 0).
func (p *Provider) Address(l provider.Link) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.servers[l.Key()]
	if !ok {
		return "", false
	}
	return s.addr, true
}

// shutdown drains the listener: requests in flight finish until ctx ends.
func (s *server) shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		s.srv.Close()
	}
	<-s.done
	return err
}

// DelLink closes the link's listener after its requests finish.
func (p *Provider) DelLink(ctx context.Context, l provider.Link) error {
	p.mu.Lock()
	s := p.servers[l.Key()]
	delete(p.servers, l.Key())
	p.mu.Unlock()
	if s == nil {
		return nil
	}
	return s.shutdown(ctx)
}

// Handle implements provider.Provider: actors call nothing on this
// contract.
func (p *Provider) Handle(_ context.Context, c provider.Call) ([]byte, error) {
	return nil, fmt.Errorf("%w %q: %s only calls actors", provider.ErrUnknownOperation, c.Operation, Contract)
}

// Stop drains every listener.
func (p *Provider) Stop(ctx context.Context) error {
	p.mu.Lock()
	servers := p.servers
	p.servers = map[string]*server{}
	p.mu.Unlock()
	var wg sync.WaitGroup
	errs := make([]error, 0, len(servers))
	var mu sync.Mutex
	for _, s := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.shutdown(ctx)
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// serve turns one HTTP request into an actor call.
func (p *Provider) serve(srv *server, w http.ResponseWriter, r *http.Request) {
	s := srv.cfg.Load()
	payload, err := readRequest(w, r, s.maxBody)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, fmt.Sprintf("request body over %d bytes", s.maxBody), http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "reading request body: "+err.Error(), http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	ctx, span := p.startSpan(ctx, s, r)
	out, err := p.rt.CallActor(ctx, s.link.Actor, Operation, payload)
	endSpan(span, err)
	if err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
			status = http.StatusGatewayTimeout
		}
		p.rt.Logger().WarnContext(ctx, "actor failed an HTTP request", "actor", s.link.Actor, "path", r.URL.Path, "err", err)
		http.Error(w, "actor "+s.link.Actor+": "+err.Error(), status)
		return
	}
	var resp Response
	if err := decodeResponse(out, &resp); err != nil {
		http.Error(w, "actor "+s.link.Actor+" answered a malformed HttpResponse: "+err.Error(), http.StatusBadGateway)
		return
	}
	for k, vals := range resp.Header {
		for _, v := range vals {
			w.Header().Add(k, v)
		}
	}
	status := int(resp.StatusCode)
	if status == 0 {
		status = http.StatusOK
	}
	if status < 100 || status > 999 {
		http.Error(w, fmt.Sprintf("actor %s answered status %d", s.link.Actor, status), http.StatusBadGateway)
		return
	}
	w.WriteHeader(status)
	w.Write(resp.Body)
}

// readRequest reads r, with a body of at most max bytes, into the payload
// of the actor's call. A body whose length is declared is read straight
// into the payload, after its head: one copy of a large upload in memory,
// where reading it whole and then encoding it made three (the reader's
// growing buffer, its last size, the payload).
func readRequest(w http.ResponseWriter, r *http.Request, max int64) ([]byte, error) {
	max = min(max, math.MaxUint32) // a MessagePack bin holds no more
	body := http.MaxBytesReader(w, r.Body, max)
	n := r.ContentLength
	if n < 0 { // chunked: the length comes at the end
		b, err := io.ReadAll(body)
		if err != nil {
			return nil, err
		}
		return appendRequest(make([]byte, 0, 128+len(b)), r, b), nil
	}
	if n > max {
		return nil, &http.MaxBytesError{Limit: max}
	}
	head := appendRequestHead(make([]byte, 0, 256), r, int(n))
	payload := make([]byte, len(head)+int(n))
	copy(payload, head)
	if _, err := io.ReadFull(body, payload[len(head):]); err != nil {
		return nil, err
	}
	return payload, nil
}

// appendRequest encodes the HttpRequest of r by hand: the same bytes as
// msgpack.Marshal(&Request{...}) without reflection, on every request.
func appendRequest(b []byte, r *http.Request, body []byte) []byte {
	return append(appendRequestHead(b, r, len(body)), body...)
}

// appendRequestHead is appendRequest up to the body's bytes, for a body of
// n bytes.
func appendRequestHead(b []byte, r *http.Request, n int) []byte {
	b = append(b, 0x85) // a map of 5
	b = appendStr(appendStr(b, "method"), r.Method)
	b = appendStr(appendStr(b, "path"), r.URL.Path)
	b = appendStr(appendStr(b, "queryString"), r.URL.RawQuery)
	b = appendStr(b, "header")
	b = appendLen(b, len(r.Header), 0x80, 0xde, 0xdf)
	for k, vals := range r.Header {
		b = appendStr(b, k)
		b = appendLen(b, len(vals), 0x90, 0xdc, 0xdd)
		for _, v := range vals {
			b = appendStr(b, v)
		}
	}
	b = appendStr(b, "body")
	switch {
	case n < 1<<8:
		b = append(b, 0xc4, byte(n))
	case n < 1<<16:
		b = append(b, 0xc5, byte(n>>8), byte(n))
	default:
		b = append(b, 0xc6, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return b
}

func appendStr(b []byte, s string) []byte {
	switch n := len(s); {
	case n < 32:
		b = append(b, 0xa0|byte(n))
	case n < 1<<8:
		b = append(b, 0xd9, byte(n))
	case n < 1<<16:
		b = append(b, 0xda, byte(n>>8), byte(n))
	default:
		b = append(b, 0xdb, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, s...)
}

// appendLen appends a map or array header of n entries: fix is the
// fixed-size prefix, c16 and c32 the 16- and 32-bit codes.
func appendLen(b []byte, n int, fix, c16, c32 byte) []byte {
	switch {
	case n < 16:
		return append(b, fix|byte(n))
	case n < 1<<16:
		return append(b, c16, byte(n>>8), byte(n))
	}
	return append(b, c32, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// decodeResponse reads the actor's HttpResponse field by field; its
// strings and body share b's memory. Every count is checked against what
// is left of b before anything is sized from it.
func decodeResponse(b []byte, resp *Response) error {
	n, rest, err := msgpack.ReadMapHeader(b)
	if err != nil {
		return err
	}
	for range n {
		var k string
		if k, rest, err = msgpack.ReadStringView(rest); err != nil {
			return err
		}
		switch k {
		case "statusCode":
			var v uint64
			if v, rest, err = msgpack.ReadUint(rest); err == nil && v > math.MaxUint16 {
				err = fmt.Errorf("status %d", v)
			}
			resp.StatusCode = uint16(v)
		case "header":
			resp.Header, rest, err = msgpack.ReadStringsMap(rest)
		case "body":
			resp.Body, rest, err = msgpack.ReadBytes(rest)
		default:
			rest, err = msgpack.Skip(rest)
		}
		if err != nil {
			return fmt.Errorf("field %s: %w", k, err)
		}
	}
	return nil
}

// startSpan continues the trace of an HTTP client that sent a W3C
// traceparent header, and starts the request's span when spans are on.
func (p *Provider) startSpan(ctx context.Context, s *serverConfig, r *http.Request) (context.Context, oteltrace.Span) {
	if r.Header.Get(trace.HeaderTraceparent) != "" {
		ctx = propagation.TraceContext{}.Extract(ctx, propagation.HeaderCarrier(r.Header))
	}
	if !trace.Enabled() {
		return ctx, oteltrace.SpanFromContext(ctx)
	}
	return trace.Start(ctx, "HTTP "+r.Method, oteltrace.SpanKindServer,
		trace.AttrLattice.String(p.rt.Lattice()), trace.AttrContract.String(Contract),
		trace.AttrLinkName.String(s.link.Name), trace.AttrActor.String(s.link.Actor),
		attribute.String("http.request.method", r.Method), attribute.String("url.path", r.URL.Path))
}

// endSpan ends the request's span with the actor call's result.
func endSpan(span oteltrace.Span, err error) {
	if err == nil {
		trace.End(span, "ok", nil)
		return
	}
	outcome := "error"
	if errors.Is(err, context.DeadlineExceeded) {
		outcome = "timeout"
	}
	trace.End(span, outcome, err)
}
