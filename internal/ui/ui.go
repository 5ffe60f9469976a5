// Package ui serves wisp's web dashboard: hosts, actors, providers and
// links, applications, the live event stream and a topology picture of one
// lattice, from the process that runs `wisp ui`.
//
// That process holds the NATS connection, with the user's context and
// credentials; the browser never gets them. The page is plain HTML, CSS
// and JavaScript embedded in the binary (no CDN, no build step). It loads
// once and then follows the lattice through server-sent events on
// /api/stream: a "snapshot" event with the whole state whenever it
// changes (after each lattice event that may change it, and on a timer
// for what events do not say, such as a host that stopped answering), and
// a "lattice" event with each CloudEvent the lattice publishes.
//
//	srv, err := ui.New(ui.Config{Client: c})
//	...
//	err = srv.Serve(ctx, ln) // until ctx ends
//
// # Actions
//
// POST /api/scale, /api/stop and /api/undeploy scale an actor, stop it and
// undeploy an application with the ui process's connection, so they need
// the credentials of a role that may (admin); a refusal by NATS comes back
// to the page as the error. They are guarded against cross-site requests:
// each needs the per-process token the page carries (header
// X-Wisp-Token), a JSON body, and an Origin (when the browser sends one)
// equal to the page's own. Every response refuses framing, and a server on
// a loopback address answers only to loopback host names, so a page
// elsewhere can neither drive nor read it (DNS rebinding).
package ui

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/app"
)

//go:embed assets
var assets embed.FS

// Config configures a Server.
type Config struct {
	// Client is the lattice connection the dashboard reads and acts
	// with. The Server does not close it.
	Client *lattice.Client
	// Refresh is how often the whole lattice is read again when no event
	// asks for it sooner (default 3s).
	Refresh time.Duration
	// Log receives what the server does (default: discard).
	Log *slog.Logger
}

// Server is the dashboard's HTTP server and the loop that keeps its view
// of the lattice current.
type Server struct {
	cfg   Config
	log   *slog.Logger
	token string
	index []byte

	kick chan struct{} // a lattice event asks for a read

	mu       sync.Mutex
	snap     []byte // the last snapshot's JSON
	last     *Snapshot
	recent   []json.RawMessage // the last events' JSON, oldest first
	subs     map[chan sseMsg]struct{}
	problems map[string]problem // NATS's asynchronous errors, shown for problemTTL
	// refused are NATS's last refusals of a subject, and when they
	// came: an action that fails after one says why (a request NATS
	// refused otherwise only times out).
	refused []refusal
	// inflight are the actions running, by the verb of their subjects:
	// NATS's refusal of that verb ends them at once rather than at
	// their deadline.
	inflight map[*inflightAction]struct{}
	stopped  []string // host ids that said host_stopped, for the collector
}

// problem is an asynchronous error the page shows for a while.
type problem struct {
	msg string
	at  time.Time
}

// problemTTL is how long the page shows an asynchronous error after it
// last happened.
const problemTTL = time.Minute

// sseMsg is one server-sent event.
type sseMsg struct {
	event string
	data  []byte
}

// recentEvents is how many lattice events a page that connects gets.
const recentEvents = 200

// New returns a Server for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Client == nil {
		return nil, errors.New("ui: no lattice client")
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = 3 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("ui: token: %w", err)
	}
	index, err := assets.ReadFile("assets/index.html")
	if err != nil {
		return nil, fmt.Errorf("ui: %w", err)
	}
	s := &Server{cfg: cfg, log: cfg.Log, token: hex.EncodeToString(b), kick: make(chan struct{}, 1),
		subs: map[chan sseMsg]struct{}{}, problems: map[string]problem{}, inflight: map[*inflightAction]struct{}{}}
	s.index = bytes.ReplaceAll(index, []byte("{{TOKEN}}"), []byte(s.token))
	s.index = bytes.ReplaceAll(s.index, []byte("{{LATTICE}}"), []byte(cfg.Client.Lattice()))
	return s, nil
}

// Serve serves the dashboard on ln and keeps it current until ctx ends,
// then stops every goroutine it started and returns. It closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	nc := s.cfg.Client.Conn()
	prev := nc.ErrorHandler()
	nc.SetErrorHandler(func(c *nats.Conn, sub *nats.Subscription, err error) {
		s.noteNATSError(err)
		if prev != nil {
			prev(c, sub, err)
		}
	})
	defer nc.SetErrorHandler(prev)

	hs := &http.Server{
		Handler:           s.Handler(ln.Addr()),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx }, // ends the event streams
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.poll(ctx) }()
	go func() { defer wg.Done(); s.follow(ctx) }()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	var serveErr error
	served := false
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
		served = true
	}
	cancel()
	shut, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	err := hs.Shutdown(shut)
	if !served {
		serveErr = <-errc
	}
	wg.Wait()
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("ui: serve: %w", serveErr)
	}
	if err != nil {
		return fmt.Errorf("ui: shutdown: %w", err)
	}
	return nil
}

// Token is the per-process token the page sends with its actions.
func (s *Server) Token() string { return s.token }

// noteNATSError keeps NATS's asynchronous errors (a permission refused
// on a subject) for the page, which shows them next to what is missing.
func (s *Server) noteNATSError(err error) {
	if err == nil {
		return
	}
	s.log.Warn("nats", "err", err)
	err = lattice.AuthHint(err)
	s.mu.Lock()
	s.problems["nats"] = problem{err.Error(), time.Now()}
	if errors.Is(err, lattice.ErrNotAuthorized) {
		s.refused = append(s.refused, refusal{time.Now(), err})
		if len(s.refused) > 16 {
			s.refused = s.refused[1:]
		}
		for a := range s.inflight {
			if strings.Contains(err.Error(), a.verb) {
				a.cancel()
			}
		}
	}
	s.mu.Unlock()
	// No wake: a read NATS refuses would refuse again at once. The next
	// tick shows it.
}

// inflightAction is an action waiting for the lattice.
type inflightAction struct {
	verb   string
	cancel context.CancelFunc
}

// refusal is one NATS refusal of a subject.
type refusal struct {
	at  time.Time
	err error
}

// refusedSince is NATS's latest refusal since t of a subject that
// contains verb, else of any subject; nil if none came.
func (s *Server) refusedSince(t time.Time, verb string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var other error
	for i := len(s.refused) - 1; i >= 0 && !s.refused[i].at.Before(t); i-- {
		r := s.refused[i]
		if strings.Contains(r.err.Error(), verb) {
			return r.err
		}
		if other == nil {
			other = r.err
		}
	}
	return other
}

// wake asks the poll loop for a read soon.
func (s *Server) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// poll reads the lattice on every tick and after every kick (coalescing
// the kicks of a burst of events) and publishes the snapshot when it
// changed.
func (s *Server) poll(ctx context.Context) {
	k := newCollector(s.cfg.Client, func() map[string]string {
		s.mu.Lock()
		defer s.mu.Unlock()
		out := map[string]string{}
		for k, p := range s.problems {
			if time.Since(p.at) > problemTTL {
				delete(s.problems, k)
				continue
			}
			out[k] = p.msg
		}
		return out
	})
	t := time.NewTicker(s.cfg.Refresh)
	defer t.Stop()
	for {
		s.mu.Lock()
		for _, id := range s.stopped {
			k.forget(id)
		}
		s.stopped = nil
		s.mu.Unlock()
		rctx, cancel := context.WithTimeout(ctx, 2*s.cfg.Refresh+5*time.Second)
		snap := k.read(rctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		s.publish(snap)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.kick:
			// Let the rest of a burst of events arrive first.
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

// publish stores snap and sends it to every page when it differs from
// the last one in more than its time.
func (s *Server) publish(snap *Snapshot) {
	at := snap.UpdatedAt
	snap.UpdatedAt = time.Time{}
	cmp, _ := json.Marshal(snap)
	snap.UpdatedAt = at
	b, err := json.Marshal(snap)
	if err != nil {
		s.log.Error("ui: snapshot", "err", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	same := false
	if s.last != nil {
		lat := s.last.UpdatedAt
		s.last.UpdatedAt = time.Time{}
		prev, _ := json.Marshal(s.last)
		s.last.UpdatedAt = lat
		same = bytes.Equal(prev, cmp)
	}
	s.last, s.snap = snap, b
	if !same {
		s.broadcast(sseMsg{"snapshot", b})
	}
}

// broadcast sends m to every page; a page too slow to take it is
// dropped (its browser reconnects and gets a fresh snapshot). Hold mu.
func (s *Server) broadcast(m sseMsg) {
	for ch := range s.subs {
		select {
		case ch <- m:
		default:
			delete(s.subs, ch)
			close(ch)
		}
	}
}

// follow passes the lattice's events to the pages and kicks the poll
// loop for those that change what the page shows.
func (s *Server) follow(ctx context.Context) {
	for ctx.Err() == nil {
		err := s.cfg.Client.Events(ctx, lattice.EventOptions{}, func(e lattice.Event) bool {
			b, err := json.Marshal(e)
			if err != nil {
				return true
			}
			s.mu.Lock()
			s.recent = append(s.recent, b)
			if len(s.recent) > recentEvents {
				s.recent = s.recent[len(s.recent)-recentEvents:]
			}
			if e.ShortType() == lattice.EventHostStopped {
				s.stopped = append(s.stopped, hostOf(e.Source))
			}
			s.broadcast(sseMsg{"lattice", b})
			s.mu.Unlock()
			if e.ShortType() != lattice.EventHostHeartbeat {
				s.wake()
			}
			return true
		})
		if err != nil {
			s.log.Warn("ui: events", "err", err)
			s.mu.Lock()
			s.problems["events"] = problem{lattice.AuthHint(err).Error(), time.Now()}
			s.mu.Unlock()
		}
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
		}
	}
}

// hostOf is the host id at the end of an event's source.
func hostOf(source string) string {
	if i := strings.LastIndexByte(source, '/'); i >= 0 {
		return source[i+1:]
	}
	return source
}

// Handler is the dashboard's HTTP handler for a server listening on addr.
func (s *Server) Handler(addr net.Addr) http.Handler {
	static, _ := fs.Sub(assets, "assets")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.serveIndex)
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /api/snapshot", s.serveSnapshot)
	mux.HandleFunc("GET /api/stream", s.serveStream)
	mux.HandleFunc("POST /api/scale", s.action(lattice.VerbScaleActor, s.scale))
	mux.HandleFunc("POST /api/stop", s.action(lattice.VerbStopActor, s.stop))
	mux.HandleFunc("POST /api/undeploy", s.action("KV", s.undeploy))
	allowed := allowedHosts(addr)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if allowed != nil && !allowed[strings.ToLower(r.Host)] {
			http.Error(w, "wisp ui: unexpected Host header "+r.Host+": open it as http://"+addr.String()+"/", http.StatusMisdirectedRequest)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// allowedHosts are the Host headers a server on addr answers: for a
// loopback address, its loopback names only (a DNS name rebound to
// 127.0.0.1 is refused); nil, any, for another address.
func allowedHosts(addr net.Addr) map[string]bool {
	ta, ok := addr.(*net.TCPAddr)
	if !ok || !ta.IP.IsLoopback() {
		return nil
	}
	p := fmt.Sprint(ta.Port)
	return map[string]bool{"localhost:" + p: true, "127.0.0.1:" + p: true, "[::1]:" + p: true, strings.ToLower(ta.String()): true}
}

func (s *Server) serveIndex(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(s.index)
}

func (s *Server) serveSnapshot(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	b := s.snap
	s.mu.Unlock()
	if b == nil {
		b = []byte("null")
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

// serveStream sends the snapshot and the recent events, then every
// change, until the page goes or the server stops.
func (s *Server) serveStream(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	ch := make(chan sseMsg, 64)
	s.mu.Lock()
	snap := s.snap
	backlog, _ := json.Marshal(s.recent)
	s.subs[ch] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if _, ok := s.subs[ch]; ok {
			delete(s.subs, ch)
			close(ch)
		}
		s.mu.Unlock()
	}()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	write := func(m sseMsg) bool {
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", m.event, m.data); err != nil {
			return false
		}
		fl.Flush()
		return true
	}
	if snap != nil && !write(sseMsg{"snapshot", snap}) {
		return
	}
	if !write(sseMsg{"backlog", backlog}) {
		return
	}
	keep := time.NewTicker(15 * time.Second)
	defer keep.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case m, ok := <-ch:
			if !ok || !write(m) {
				return
			}
		case <-keep.C:
			if _, err := io.WriteString(w, ": keep-alive\n\n"); err != nil {
				return
			}
			fl.Flush()
		}
	}
}

// actionResult is what an action answers.
type actionResult struct {
	OK      bool   `json:"ok"`
	Message string `json:"message,omitempty"`
	Error   string `json:"error,omitempty"`
	Code    string `json:"code,omitempty"`
}

// actionRequest is the body of every action.
type actionRequest struct {
	Actor  string `json:"actor,omitempty"`
	HostID string `json:"host_id,omitempty"`
	Count  int    `json:"count,omitempty"`
	App    string `json:"app,omitempty"`
}

// errForbidden marks a request the CSRF checks refused.
var errForbidden = errors.New("forbidden")

// checkAction refuses a request that may come from another site.
func (s *Server) checkAction(r *http.Request) error {
	if got := r.Header.Get("X-Wisp-Token"); subtle.ConstantTimeCompare([]byte(got), []byte(s.token)) != 1 {
		return fmt.Errorf("%w: missing or wrong X-Wisp-Token (reload the page: the token changes when wisp ui restarts)", errForbidden)
	}
	if o := r.Header.Get("Origin"); o != "" && o != "http://"+r.Host && o != "https://"+r.Host {
		return fmt.Errorf("%w: origin %s is not this dashboard's", errForbidden, o)
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return fmt.Errorf("%w: a %s request", errForbidden, site)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return fmt.Errorf("%w: want a JSON body", errForbidden)
	}
	return nil
}

// action wraps an action's function with the CSRF checks, the body's
// decoding, a deadline and the answer.
// verb is the last token of the subjects the action publishes to, to
// find NATS's refusal of them.
func (s *Server) action(verb string, do func(ctx context.Context, req actionRequest) (string, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		reply := func(status int, res actionResult) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			json.NewEncoder(w).Encode(res)
		}
		if err := s.checkAction(r); err != nil {
			reply(http.StatusForbidden, actionResult{Error: err.Error()})
			return
		}
		var req actionRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil {
			reply(http.StatusBadRequest, actionResult{Error: "bad request body: " + err.Error()})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 60*time.Second)
		defer cancel()
		a := &inflightAction{verb: verb, cancel: cancel}
		s.mu.Lock()
		s.inflight[a] = struct{}{}
		s.mu.Unlock()
		defer func() {
			s.mu.Lock()
			delete(s.inflight, a)
			s.mu.Unlock()
		}()
		began := time.Now()
		msg, err := do(ctx, req)
		s.wake()
		if err != nil {
			err = lattice.AuthHint(err)
			if why := s.refusedSince(began, verb); why != nil && !errors.Is(err, lattice.ErrNotAuthorized) {
				err = fmt.Errorf("%w (then: %v)", why, err)
			}
			s.log.Warn("ui: action refused", "path", r.URL.Path, "err", err)
			status := http.StatusBadGateway
			switch {
			case errors.Is(err, errBadAction):
				status = http.StatusBadRequest
			case errors.Is(err, lattice.ErrNotAuthorized):
				status = http.StatusForbidden
			case errors.Is(err, lattice.ErrNotFound), errors.Is(err, app.ErrNotFound):
				status = http.StatusNotFound
			}
			reply(status, actionResult{Error: err.Error(), Code: string(lattice.CodeOf(err))})
			return
		}
		s.log.Info("ui: action", "path", r.URL.Path, "result", msg)
		reply(http.StatusOK, actionResult{OK: true, Message: msg})
	}
}

// errBadAction marks an action request that is wrong on its face.
var errBadAction = errors.New("bad request")

// hostsRunning is hostID, or every host the last snapshot shows running
// actor.
func (s *Server) hostsRunning(actor, hostID string) ([]string, error) {
	if hostID != "" {
		return []string{hostID}, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	if s.last != nil {
		for _, a := range s.last.Actors {
			if a.Name == actor {
				ids = append(ids, a.HostID)
			}
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%s: %w on any host of lattice %q", actor, lattice.ErrActorNotRunning, s.cfg.Client.Lattice())
	}
	return ids, nil
}

func (s *Server) scale(ctx context.Context, req actionRequest) (string, error) {
	if req.Actor == "" || req.Count < 1 {
		return "", fmt.Errorf("scale: %w: want an actor and a count of at least 1", errBadAction)
	}
	hosts, err := s.hostsRunning(req.Actor, req.HostID)
	if err != nil {
		return "", err
	}
	for _, h := range hosts {
		if _, err := s.cfg.Client.ScaleActor(ctx, h, req.Actor, req.Count); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("scaled %s to %d instances on %d host(s)", req.Actor, req.Count, len(hosts)), nil
}

func (s *Server) stop(ctx context.Context, req actionRequest) (string, error) {
	if req.Actor == "" {
		return "", fmt.Errorf("stop: %w: want an actor", errBadAction)
	}
	hosts, err := s.hostsRunning(req.Actor, req.HostID)
	if err != nil {
		return "", err
	}
	for _, h := range hosts {
		if err := s.cfg.Client.StopActor(ctx, h, req.Actor); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("stopped %s on %d host(s)", req.Actor, len(hosts)), nil
}

func (s *Server) undeploy(ctx context.Context, req actionRequest) (string, error) {
	if req.App == "" {
		return "", fmt.Errorf("undeploy: %w: want an app", errBadAction)
	}
	js, err := s.cfg.Client.JetStream()
	if err != nil {
		return "", fmt.Errorf("undeploy %s: %w", req.App, err)
	}
	st, err := app.OpenExisting(ctx, js, s.cfg.Client.Lattice())
	if err != nil {
		return "", fmt.Errorf("undeploy %s: %w", req.App, err)
	}
	if _, err := st.Undeploy(ctx, req.App); err != nil {
		return "", err
	}
	return fmt.Sprintf("app %s undeployed: the reconciler stops its actors and providers and deletes its links", req.App), nil
}
