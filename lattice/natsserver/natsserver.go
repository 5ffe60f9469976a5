// Package natsserver runs the NATS server embedded in a wisp host, so that
// `wisp up` needs nothing installed: a standalone server with JetStream on
// by default. Cluster routes and leaf-node remotes are the seams where hosts
// join a bigger lattice.
package natsserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/wisp-dev/wisp/lattice/auth"
)

// Config configures the embedded server. The zero value listens on
// 127.0.0.1:4222 with JetStream in a temporary directory.
type Config struct {
	// Host is the client listen address (default 127.0.0.1).
	Host string
	// Port is the client port (default 4222; -1 picks a free one).
	Port int
	// Name is the server's name in a cluster (default: generated).
	Name string
	// NoJetStream turns JetStream off.
	NoJetStream bool
	// StoreDir keeps JetStream data; empty uses a temporary directory that
	// is removed at shutdown.
	StoreDir string
	// MaxPayload is the largest message the server accepts (default 8 MiB:
	// actor modules and large payloads fit).
	MaxPayload int32
	// Logger receives the server's warnings and errors (default: none).
	Logger *slog.Logger

	// ClusterListen ("host:port") makes the server a member of a NATS
	// cluster, accepting routes there. ClusterRoutes are the other
	// members' route URLs (nats-route://host:port, or host:port); a
	// member may list itself. JetStream becomes clustered: its state is
	// replicated and a cluster needs a majority of its members up.
	ClusterListen string
	ClusterRoutes []string
	// ClusterName names the cluster (default "wisp"); all members agree.
	ClusterName string

	// LeafListen ("host:port") accepts leaf-node connections from edge
	// servers started with LeafRemotes.
	LeafListen string
	// LeafNoAdvertise keeps the hub from telling leaf nodes the leaf-node
	// URLs of its servers, so that they reconnect only through the URL
	// they were given: the hub sits behind a proxy, a load balancer or
	// NAT, where its own addresses are not the way in.
	LeafNoAdvertise bool
	// LeafRemotes are the URLs (nats-leaf://host:port, or host:port) of
	// a hub server this server connects to as a leaf node: its clients
	// and the hub's see each other's subjects. A leaf node runs without
	// its own JetStream unless JetStream is asked for explicitly
	// (LeafJetStream), so the lattice's links and events live at the hub.
	LeafRemotes []string
	// LeafCredentials is a .creds file the leaf connection authenticates
	// with, for hubs that require it.
	LeafCredentials string
	// LeafJetStream keeps JetStream on in a leaf node.
	LeafJetStream bool

	// JetStreamDomain names this server's JetStream domain, so that
	// clients behind leaf nodes can reach it with that domain (hosts use
	// the same name, see host.WithJetStreamDomain).
	JetStreamDomain string

	// Auth makes the server require authentication: it trusts the
	// operator of an auth.Store and knows its accounts (one per lattice),
	// keeping updates pushed through the system account in StoreDir (or
	// a temporary directory). Nil runs the server open: anyone who
	// reaches a listener may do anything.
	Auth *auth.ServerConfig
	// LeafAccount is the account (public key) whose subjects the leaf
	// connection to a hub carries, with Auth: the lattice's account.
	LeafAccount string
	// RouteSecret authenticates cluster routes: every member must have
	// the same one (derived from the shared auth store). Empty accepts
	// routes from anyone who reaches ClusterListen.
	RouteSecret string

	// TLS serves every listener (clients, cluster routes, leaf nodes)
	// over TLS with its certificates; its RootCAs verify the other side
	// of routes and of the leaf connection to a hub.
	TLS *tls.Config
}

// Server is a running embedded NATS server.
type Server struct {
	srv     *server.Server
	tempDir string
}

// Start starts the server and waits until it accepts connections.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.Port == 0 {
		cfg.Port = 4222
	}
	if cfg.MaxPayload == 0 {
		cfg.MaxPayload = 8 << 20
	}
	if cfg.Port > 0 {
		// Fail with a clear message instead of the server's silent retry.
		addr := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("embedded NATS server on %s: %w (another `wisp up` or nats-server? use --nats-port, or --nats-url to join it)", addr, err)
		}
		l.Close()
	}
	opts := &server.Options{
		ServerName: cfg.Name,
		Host:       cfg.Host,
		Port:       cfg.Port,
		MaxPayload: cfg.MaxPayload,
		NoSigs:     true,
		JetStream:  !cfg.NoJetStream && (len(cfg.LeafRemotes) == 0 || cfg.LeafJetStream),
	}
	if opts.JetStream {
		opts.JetStreamDomain = cfg.JetStreamDomain
	}
	if err := cfg.topology(opts); err != nil {
		return nil, err
	}
	if cfg.TLS != nil {
		opts.TLSConfig, opts.TLSTimeout = cfg.TLS, 5
		opts.Cluster.TLSConfig, opts.Cluster.TLSTimeout = cfg.TLS, 5
		opts.LeafNode.TLSConfig, opts.LeafNode.TLSTimeout = cfg.TLS, 5
		for _, r := range opts.LeafNode.Remotes {
			r.TLS, r.TLSConfig, r.TLSTimeout = true, &tls.Config{RootCAs: cfg.TLS.RootCAs, MinVersion: tls.VersionTLS12}, 5
		}
	}
	s := &Server{}
	if opts.JetStream || cfg.Auth != nil {
		opts.StoreDir = cfg.StoreDir
		if opts.StoreDir == "" {
			dir, err := os.MkdirTemp("", "wisp-jetstream-")
			if err != nil {
				return nil, fmt.Errorf("jetstream store: %w", err)
			}
			s.tempDir, opts.StoreDir = dir, dir
		}
	}
	if cfg.Auth != nil {
		if err := cfg.operatorMode(opts); err != nil {
			s.cleanup()
			return nil, err
		}
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		s.cleanup()
		return nil, fmt.Errorf("embedded NATS server: %w", err)
	}
	if cfg.Logger != nil {
		srv.SetLoggerV2(&logger{cfg.Logger}, false, false, false)
	}
	s.srv = srv
	go srv.Start()
	deadline := 10 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		deadline = time.Until(dl)
	}
	if !srv.ReadyForConnections(deadline) {
		s.Shutdown()
		return nil, errors.New("embedded NATS server did not become ready in time")
	}
	return s, nil
}

// operatorMode makes the server trust the operator of cfg.Auth, with a
// directory resolver so that account updates pushed by the system account
// (revocations, new lattices) take effect without a restart.
func (cfg Config) operatorMode(opts *server.Options) error {
	a := cfg.Auth
	opts.TrustedOperators = []*jwt.OperatorClaims{a.Operator}
	opts.SystemAccount = a.SystemAccount
	res, err := server.NewDirAccResolver(filepath.Join(opts.StoreDir, "accounts"), 0, 0, server.NoDelete)
	if err != nil {
		return fmt.Errorf("account resolver: %w", err)
	}
	for pub, tok := range a.Accounts {
		if err := res.Store(pub, tok); err != nil {
			return fmt.Errorf("account resolver: %w", err)
		}
	}
	opts.AccountResolver = res
	for _, r := range opts.LeafNode.Remotes {
		r.LocalAccount = cfg.LeafAccount
	}
	return nil
}

// topology sets the cluster and leaf-node options.
func (cfg Config) topology(opts *server.Options) error {
	if cfg.ClusterListen == "" && len(cfg.ClusterRoutes) > 0 {
		return errors.New("cluster routes need a cluster listen address (--cluster-listen host:port)")
	}
	if cfg.ClusterListen != "" {
		host, port, err := splitHostPort("--cluster-listen", cfg.ClusterListen)
		if err != nil {
			return err
		}
		opts.Cluster.Host, opts.Cluster.Port = host, port
		opts.Cluster.Name = cfg.ClusterName
		if cfg.RouteSecret != "" {
			opts.Cluster.Username, opts.Cluster.Password = "wisp-route", cfg.RouteSecret
		}
		if opts.Cluster.Name == "" {
			opts.Cluster.Name = "wisp"
		}
		// A clustered JetStream knows its peers by server name, so the
		// name must survive restarts: derive it from the route address.
		if opts.ServerName == "" {
			opts.ServerName = "wisp-" + strings.NewReplacer(".", "-", ":", "-").Replace(net.JoinHostPort(host, strconv.Itoa(port)))
		}
		for _, r := range cfg.ClusterRoutes {
			u, err := parseURL("--cluster-routes", r, "nats-route")
			if err != nil {
				return err
			}
			if cfg.RouteSecret != "" {
				u.User = url.UserPassword("wisp-route", cfg.RouteSecret)
			}
			opts.Routes = append(opts.Routes, u)
		}
	}
	if cfg.LeafListen != "" {
		host, port, err := splitHostPort("--leaf-listen", cfg.LeafListen)
		if err != nil {
			return err
		}
		opts.LeafNode.Host, opts.LeafNode.Port = host, port
		opts.LeafNode.NoAdvertise = cfg.LeafNoAdvertise
	}
	if len(cfg.LeafRemotes) > 0 {
		remote := &server.RemoteLeafOpts{Credentials: cfg.LeafCredentials}
		for _, r := range cfg.LeafRemotes {
			u, err := parseURL("--leaf-url", r, "nats-leaf")
			if err != nil {
				return err
			}
			remote.URLs = append(remote.URLs, u)
		}
		opts.LeafNode.Remotes = []*server.RemoteLeafOpts{remote}
		opts.LeafNode.ReconnectInterval = time.Second
		// An uplink that goes silent (a firewall dropping packets, a
		// cellular link gone) sends no reset: the leaf notices only when
		// pings go unanswered. NATS's default (2 minutes, 2 pings) would
		// leave calls to cloud actors hanging that long; an edge server
		// pings every 5 s and gives up after 3 missed (about 15 s).
		opts.PingInterval, opts.MaxPingsOut = LeafPingInterval, 3
	}
	return nil
}

func splitHostPort(flag, s string) (string, int, error) {
	host, p, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, fmt.Errorf("%s %q: want host:port: %w", flag, s, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("%s %q: bad port", flag, s)
	}
	return host, port, nil
}

// parseURL accepts scheme://host:port or host:port.
func parseURL(flag, s, scheme string) (*url.URL, error) {
	if !strings.Contains(s, "://") {
		s = scheme + "://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Port() == "" {
		return nil, fmt.Errorf("%s %q: want %s://host:port", flag, s, scheme)
	}
	return u, nil
}

// ClientURL is the URL clients connect to.
func (s *Server) ClientURL() string { return s.srv.ClientURL() }

// LeafPingInterval is how often a server that is a leaf node pings its
// connections, so that a silent uplink is noticed within seconds.
const LeafPingInterval = 5 * time.Second

// LeafNodes is the number of leaf-node connections the server has: on an
// edge server, 1 while its uplink to the hub is up; on a hub, the edge
// sites connected to it.
func (s *Server) LeafNodes() int { return s.srv.NumLeafNodes() }

// Connect opens an in-process connection, which skips the TCP stack.
func (s *Server) Connect(opts ...nats.Option) (*nats.Conn, error) {
	opts = append([]nats.Option{nats.InProcessServer(s.srv)}, opts...)
	nc, err := nats.Connect("", opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to embedded server: %w", err)
	}
	return nc, nil
}

// Shutdown stops the server and removes a temporary JetStream store.
func (s *Server) Shutdown() {
	if s.srv != nil {
		s.srv.Shutdown()
		s.srv.WaitForShutdown()
	}
	s.cleanup()
}

func (s *Server) cleanup() {
	if s.tempDir != "" {
		os.RemoveAll(s.tempDir)
		s.tempDir = ""
	}
}

// logger passes the server's warnings and errors to slog; notices, debug
// and trace lines are dropped.
type logger struct{ l *slog.Logger }

func (l *logger) Noticef(string, ...any) {}
func (l *logger) Debugf(string, ...any)  {}
func (l *logger) Tracef(string, ...any)  {}
func (l *logger) Warnf(f string, v ...any) {
	l.l.Warn(fmt.Sprintf(f, v...), "component", "nats")
}
func (l *logger) Errorf(f string, v ...any) {
	l.l.Error(fmt.Sprintf(f, v...), "component", "nats")
}
func (l *logger) Fatalf(f string, v ...any) {
	l.l.Error(fmt.Sprintf(f, v...), "component", "nats", "fatal", true)
}

// Routes is the number of cluster routes the server has.
func (s *Server) Routes() int { return s.srv.NumRoutes() }

// MsgCounts returns the messages the server has received from and sent to
// its clients, routes and leaf nodes since it started (its varz in_msgs
// and out_msgs): how busy a lattice is, idle or not.
func (s *Server) MsgCounts() (in, out int64) {
	v, err := s.srv.Varz(nil)
	if err != nil {
		return 0, 0
	}
	return v.InMsgs, v.OutMsgs
}
