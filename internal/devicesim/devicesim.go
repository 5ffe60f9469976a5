// Package devicesim is a simulated microcontroller that speaks CoAP: a
// temperature sensor at /temp (observable) and an LED at /led, listed at
// /.well-known/core. Given a gateway it registers there (the gateway's
// resource directory, /rd) from its own socket, refreshes the
// registration and leaves on Stop. `wisp device sim` runs one; tests use
// it as a device that wisp did not have to trust.
package devicesim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/mux"
	coapnet "github.com/plgd-dev/go-coap/v3/net"
	"github.com/plgd-dev/go-coap/v3/options"
	"github.com/plgd-dev/go-coap/v3/udp"
	udpclient "github.com/plgd-dev/go-coap/v3/udp/client"
	udpserver "github.com/plgd-dev/go-coap/v3/udp/server"
)

// Resources lists what the simulated device offers, in link-format.
const Resources = `</temp>;rt="temperature";obs,</led>;rt="light"`

// Config describes a simulated device.
type Config struct {
	// Name is the endpoint name it registers under.
	Name string
	// Listen is its UDP address (default 127.0.0.1:0, a free port).
	Listen string
	// Gateway, if set, is the host:port of the gateway to register with.
	Gateway string
	// Lifetime of the registration (default 60s); it is refreshed at half.
	Lifetime time.Duration
	// Interval between temperature changes (default 1s).
	Interval time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Sim is a running simulated device.
type Sim struct {
	cfg  Config
	srv  *udpserver.Server
	addr string
	done chan struct{} // Serve returned
	stop context.CancelFunc
	wg   sync.WaitGroup // the sensor and the registration loops

	mu        sync.Mutex
	temp      float64
	led       bool
	seq       uint32
	observers []observer
}

type observer struct {
	cc    *udpclient.Conn
	token message.Token
}

// Start runs the device; with a gateway it returns once registered.
func Start(ctx context.Context, cfg Config) (*Sim, error) {
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.Lifetime <= 0 {
		cfg.Lifetime = time.Minute
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	conn, err := coapnet.NewListenUDP("udp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("device %s: listen %s: %w", cfg.Name, cfg.Listen, err)
	}
	s := &Sim{cfg: cfg, addr: conn.LocalAddr().String(), done: make(chan struct{}), temp: 21.0}
	router := mux.NewRouter()
	router.Handle("/temp", mux.HandlerFunc(s.handleTemp))
	router.Handle("/led", mux.HandlerFunc(s.handleLED))
	router.Handle("/.well-known/core", mux.HandlerFunc(func(w mux.ResponseWriter, _ *mux.Message) {
		w.SetResponse(codes.Content, message.AppLinkFormat, bytes.NewReader([]byte(Resources)))
	}))
	s.srv = udp.NewServer(options.WithMux(router))
	go func() {
		defer close(s.done)
		s.srv.Serve(conn)
	}()
	loopCtx, stop := context.WithCancel(context.Background())
	s.stop = stop
	s.wg.Add(1)
	go s.sense(loopCtx)
	if cfg.Gateway != "" {
		if err := s.register(ctx); err != nil {
			s.Stop(context.Background())
			return nil, err
		}
		s.wg.Add(1)
		go s.refresh(loopCtx)
	}
	return s, nil
}

// Addr is the device's UDP address.
func (s *Sim) Addr() string { return s.addr }

// LED reports whether the LED is on.
func (s *Sim) LED() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.led
}

// Temperature is the current reading.
func (s *Sim) Temperature() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.temp
}

func (s *Sim) reading() string { return strconv.FormatFloat(s.temp, 'f', 1, 64) }

// handleTemp answers reads and observe registrations of /temp.
func (s *Sim) handleTemp(w mux.ResponseWriter, r *mux.Message) {
	if r.Code() != codes.GET {
		w.SetResponse(codes.MethodNotAllowed, message.TextPlain, nil)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var opts []message.Option
	if obs, err := r.Options().Observe(); err == nil {
		cc, ok := w.Conn().(*udpclient.Conn)
		switch {
		case obs == 0 && ok:
			s.observers = append(s.observers, observer{cc: cc, token: append(message.Token(nil), r.Token()...)})
			s.seq++
			buf := make([]byte, 3)
			n, _ := message.EncodeUint32(buf, s.seq)
			opts = append(opts, message.Option{ID: message.Observe, Value: buf[:n]})
		case obs == 1:
			s.forget(r.Token())
		}
	}
	w.SetResponse(codes.Content, message.TextPlain, bytes.NewReader([]byte(s.reading())), opts...)
}

// forget drops an observer by token; s.mu is held.
func (s *Sim) forget(token message.Token) {
	for i, o := range s.observers {
		if bytes.Equal(o.token, token) {
			s.observers = append(s.observers[:i], s.observers[i+1:]...)
			return
		}
	}
}

func (s *Sim) handleLED(w mux.ResponseWriter, r *mux.Message) {
	switch r.Code() {
	case codes.GET:
		s.mu.Lock()
		state := map[bool]string{true: "on", false: "off"}[s.led]
		s.mu.Unlock()
		w.SetResponse(codes.Content, message.TextPlain, bytes.NewReader([]byte(state)))
	case codes.PUT, codes.POST:
		body, _ := r.ReadBody()
		switch string(bytes.TrimSpace(body)) {
		case "on", "1":
			s.mu.Lock()
			s.led = true
			s.mu.Unlock()
		case "off", "0":
			s.mu.Lock()
			s.led = false
			s.mu.Unlock()
		default:
			w.SetResponse(codes.BadRequest, message.TextPlain, bytes.NewReader([]byte(`want "on" or "off"`)))
			return
		}
		w.SetResponse(codes.Changed, message.TextPlain, nil)
	default:
		w.SetResponse(codes.MethodNotAllowed, message.TextPlain, nil)
	}
}

// sense changes the temperature every interval and notifies observers.
func (s *Sim) sense(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		s.temp += float64(rand.IntN(5)-2) / 10
		s.seq++
		seq, value, obs := s.seq, s.reading(), append([]observer(nil), s.observers...)
		s.mu.Unlock()
		for _, o := range obs {
			if err := notify(o, seq, value); err != nil {
				s.mu.Lock()
				s.forget(o.token)
				s.mu.Unlock()
			}
		}
	}
}

func notify(o observer, seq uint32, value string) error {
	m := o.cc.AcquireMessage(o.cc.Context())
	defer o.cc.ReleaseMessage(m)
	m.SetCode(codes.Content)
	m.SetToken(o.token)
	m.SetObserve(seq)
	m.SetContentFormat(message.TextPlain)
	m.SetBody(bytes.NewReader([]byte(value)))
	return o.cc.WriteMessage(m)
}

// gatewayConn talks to the gateway from the device's own socket, so the
// gateway learns the address the device serves on.
func (s *Sim) gatewayConn() (*udpclient.Conn, error) {
	addr, err := net.ResolveUDPAddr("udp", s.cfg.Gateway)
	if err != nil {
		return nil, fmt.Errorf("gateway %q: %w", s.cfg.Gateway, err)
	}
	// Serve sets the listener up in its goroutine: give it a moment.
	for deadline := time.Now().Add(2 * time.Second); ; {
		cc, err := s.srv.NewConn(addr)
		if err == nil || time.Now().After(deadline) {
			return cc, err
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// register adds the device to the gateway's directory.
func (s *Sim) register(ctx context.Context) error {
	cc, err := s.gatewayConn()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	path := fmt.Sprintf("/rd?ep=%s&lt=%d", s.cfg.Name, int(s.cfg.Lifetime/time.Second))
	resp, err := cc.Post(ctx, "/rd", message.AppLinkFormat, bytes.NewReader([]byte(Resources)),
		message.Option{ID: message.URIQuery, Value: []byte("ep=" + s.cfg.Name)},
		message.Option{ID: message.URIQuery, Value: []byte(fmt.Sprintf("lt=%d", int(s.cfg.Lifetime/time.Second)))})
	if err != nil {
		return fmt.Errorf("register with %s: %w (is a gateway listening there? start one with: wisp up --provider coap)", s.cfg.Gateway, err)
	}
	if resp.Code() != codes.Created {
		body, _ := resp.ReadBody()
		return fmt.Errorf("register with %s (POST %s): %s %s", s.cfg.Gateway, path, resp.Code(), body)
	}
	s.cfg.Logger.Info("registered", "device", s.cfg.Name, "gateway", s.cfg.Gateway, "address", s.addr)
	return nil
}

// refresh renews the registration at half its lifetime, registering again
// if the gateway forgot it.
func (s *Sim) refresh(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.Lifetime / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cc, err := s.gatewayConn()
		if err != nil {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		resp, err := cc.Post(rctx, "/rd/"+s.cfg.Name, message.TextPlain, nil)
		cancel()
		if err == nil && resp.Code() == codes.NotFound {
			err = s.register(ctx)
		}
		if err != nil {
			s.cfg.Logger.Warn("refresh registration", "device", s.cfg.Name, "err", err)
		}
	}
}

// Stop leaves the gateway's directory (when it can) and stops the device.
func (s *Sim) Stop(ctx context.Context) error {
	var err error
	if s.cfg.Gateway != "" {
		if cc, cerr := s.gatewayConn(); cerr == nil {
			dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			_, err = cc.Delete(dctx, "/rd/"+s.cfg.Name)
			cancel()
		}
	}
	s.stop()
	s.wg.Wait()
	s.srv.Stop()
	<-s.done
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("leave %s: the gateway did not answer", s.cfg.Gateway)
	}
	return err
}
