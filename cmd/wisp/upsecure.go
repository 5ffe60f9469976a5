//go:build !wispcli

package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wisp-dev/wisp/internal/selfsigned"
	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/auth"
	"github.com/wisp-dev/wisp/lattice/natsserver"
)

// embeddedServer starts the host's own NATS server, secured unless
// --insecure-no-auth, and connects the host to it in process. With auth
// on it also writes a context for the server and, when no other context is
// current, makes it current, so the CLI on this machine connects to it as
// the lattice's admin.
func (f *upFlags) embeddedServer(ctx context.Context, g *globals, log *slog.Logger) (*natsserver.Server, *nats.Conn, error) {
	scfg := natsserver.Config{Host: f.natsHost, Port: f.natsPort, NoJetStream: f.noJetStream, StoreDir: f.jsDir, Logger: log,
		ClusterListen: f.clusterListen, ClusterRoutes: f.clusterRoutes, ClusterName: f.clusterName,
		LeafListen: f.leafListen, LeafNoAdvertise: f.leafNoAdvert, LeafRemotes: f.leafURLs, LeafCredentials: f.leafCreds, JetStreamDomain: g.jsDomain}
	if scfg.StoreDir == "" {
		var err error
		if scfg.StoreDir, err = cacheDir("", fmt.Sprintf("jetstream-%d", f.natsPort)); err != nil {
			return nil, nil, err
		}
	}
	if f.fresh {
		// An earlier run's links, applications and events go: a stale
		// link holding a port is the usual reason to ask.
		if err := os.RemoveAll(scfg.StoreDir); err != nil {
			return nil, nil, fmt.Errorf("--fresh: %w", err)
		}
		fmt.Fprintf(f.stderr, "--fresh: started with an empty JetStream store (%s)\n", scfg.StoreDir)
	} else if !f.noJetStream {
		fmt.Fprintf(f.stderr, "JetStream store %s keeps the lattice's links, apps and events across restarts (--fresh starts empty)\n", scfg.StoreDir)
	}
	tlsCfg, caFile, err := f.serverTLS()
	if err != nil {
		return nil, nil, err
	}
	scfg.TLS = tlsCfg
	var hostCreds string
	if f.noAuth {
		if err := f.refuseOpenBinding(); err != nil {
			return nil, nil, err
		}
	} else {
		st, err := openAuth()
		if err != nil {
			return nil, nil, err
		}
		if scfg.Auth, err = st.ServerConfig(g.lattice); err != nil {
			return nil, nil, err
		}
		scfg.LeafAccount = scfg.Auth.LatticeAccounts[g.lattice]
		if scfg.RouteSecret, err = st.RouteSecret(); err != nil {
			return nil, nil, err
		}
		if len(f.leafURLs) > 0 && scfg.LeafCredentials == "" {
			// A hub that shares this store trusts its leaf user; any
			// other hub needs --leaf-creds from its own store.
			scfg.LeafCredentials = st.LocalCreds(g.lattice, auth.LeafUser)
		}
		hostCreds = st.LocalCreds(g.lattice, localUser(f))
	}
	srv, err := natsserver.Start(ctx, scfg)
	if err != nil {
		return nil, nil, err
	}
	copts, err := lattice.Credentials{CredsFile: hostCreds}.NATSOptions()
	if err != nil {
		srv.Shutdown()
		return nil, nil, err
	}
	nc, err := connectEmbedded(ctx, srv, log, append(copts, nats.Name("wisp host"), asyncErrors(log))...)
	if err != nil {
		srv.Shutdown()
		return nil, nil, err
	}
	if !f.noAuth {
		st, _ := openAuth()
		c := natsContext{Name: contextName(g.lattice, f.natsPort, srv.ClientURL()), URL: srv.ClientURL(),
			Creds: st.LocalCreds(g.lattice, auth.AdminUser), TLSCA: caFile, Lattice: g.lattice, JSDomain: g.jsDomain}
		// The first server's context becomes current; later ones (a
		// second host, an edge site on this machine) do not take it over
		// from a server that still answers.
		cur := currentContext()
		curCtx, curErr := loadContext(cur)
		makeCurrent := cur == "" || cur == c.Name || curErr != nil || !answers(curCtx.URL)
		err := saveContext(c)
		if err == nil && makeCurrent {
			err = useContext(c.Name)
		}
		switch {
		case err != nil:
			log.Warn("could not write the CLI's context", "err", err)
		case makeCurrent:
			fmt.Fprintf(f.stderr, "context %s is current: wisp commands here connect to %s as the lattice's admin ('wisp ctx list')\n", c.Name, c.URL)
		default:
			fmt.Fprintf(f.stderr, "context %s saved; %s stays current ('wisp ctx use %s' to switch)\n", c.Name, cur, c.Name)
		}
	}
	return srv, nc, nil
}

// localUser is the store's user this process connects as.
func localUser(f *upFlags) string {
	if f.providersOnly {
		return auth.ProviderUser
	}
	return auth.HostUser
}

// contextName names the context of a local server: local-<port>, with the
// lattice appended when it is not the default one.
func contextName(L string, port int, url string) string {
	if port <= 0 {
		if _, p, err := net.SplitHostPort(strings.TrimPrefix(strings.TrimPrefix(url, "nats://"), "tls://")); err == nil {
			fmt.Sscan(p, &port)
		}
	}
	name := fmt.Sprintf("local-%d", port)
	if L != lattice.DefaultLattice {
		name += "-" + L
	}
	return name
}

// joinCredentials are the options a host joining a server with --nats-url
// authenticates with: the flags' credentials, else, where this machine
// holds the lattice's auth store, its host user (the lattice's account is
// pushed to the server first if the store just made it), else none (a
// server without authentication).
func (f *upFlags) joinCredentials(ctx context.Context, g *globals, log *slog.Logger) ([]nats.Option, error) {
	if g.explicitCreds {
		opts, err := g.credentials().NATSOptions()
		if err != nil {
			return nil, usageError{err}
		}
		return opts, nil
	}
	cr := lattice.Credentials{TLSCAFile: g.credentials().TLSCAFile}
	if st, ok := existingAuth(); ok {
		acct, created, err := st.Account(g.lattice)
		if err != nil {
			return nil, err
		}
		if created {
			if err := pushTo(ctx, g, st, acct); err != nil {
				log.Warn("the lattice's new account was not pushed to the server", "err", err)
			}
		}
		cr.CredsFile = st.LocalCreds(g.lattice, localUser(f))
	}
	opts, err := cr.NATSOptions()
	if err != nil {
		return nil, usageError{err}
	}
	return opts, nil
}

// refuseOpenBinding refuses a server without authentication on any
// address other than loopback.
func (f *upFlags) refuseOpenBinding() error {
	for flag, addr := range map[string]string{"--nats-host": f.natsHost, "--cluster-listen": listenHost(f.clusterListen), "--leaf-listen": listenHost(f.leafListen)} {
		if addr == "" {
			continue
		}
		if ip := net.ParseIP(addr); addr == "localhost" || (ip != nil && ip.IsLoopback()) {
			continue
		}
		return usageError{fmt.Errorf("%s %s with --insecure-no-auth would let anyone on the network run code on this host: "+
			"drop --insecure-no-auth (the server then requires credentials; make them with 'wisp creds create') and add TLS with --tls auto or --tls-cert/--tls-key", flag, addr)}
	}
	return nil
}

func listenHost(hostport string) string {
	if hostport == "" {
		return ""
	}
	h, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return hostport
	}
	return h
}

// serverTLS is the TLS configuration of the embedded server's listeners
// and the CA file clients verify it with ("" without TLS).
func (f *upFlags) serverTLS() (*tls.Config, string, error) {
	if f.tlsMode != "" && f.tlsMode != "auto" {
		return nil, "", usageError{fmt.Errorf("--tls %q: want auto (or give --tls-cert and --tls-key)", f.tlsMode)}
	}
	if f.tlsMode == "auto" && f.tlsCert != "" {
		return nil, "", usageError{errors.New("--tls auto makes its own certificate: give it or --tls-cert, not both")}
	}
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return nil, "", usageError{errors.New("--tls-cert and --tls-key go together")}
	}
	certFile, keyFile, caFile := f.tlsCert, f.tlsKey, f.tlsCA
	if f.tlsMode == "auto" {
		dir, err := configDir()
		if err != nil {
			return nil, "", err
		}
		hosts := []string{"127.0.0.1", "::1", "localhost"}
		if hn, err := os.Hostname(); err == nil {
			hosts = append(hosts, hn)
		}
		for _, a := range []string{f.natsHost, listenHost(f.clusterListen), listenHost(f.leafListen)} {
			if a != "" && a != "0.0.0.0" && a != "::" {
				hosts = append(hosts, a)
			}
		}
		files, err := selfsigned.Ensure(filepath.Join(dir, "tls"), hosts)
		if err != nil {
			return nil, "", fmt.Errorf("--tls auto: %w", err)
		}
		certFile, keyFile, caFile = files.Cert, files.Key, files.CA
	}
	if certFile == "" {
		if caFile != "" {
			return nil, "", usageError{errors.New("--tls-ca needs --tls-cert and --tls-key (or --tls auto)")}
		}
		return nil, "", nil
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, "", usageError{fmt.Errorf("--tls-cert/--tls-key: %w", err)}
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, "", usageError{fmt.Errorf("--tls-ca: %w", err)}
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, "", usageError{fmt.Errorf("--tls-ca %s: no PEM certificate in it", caFile)}
		}
	}
	return cfg, caFile, nil
}

// answers says whether something listens at a NATS URL's address.
func answers(url string) bool {
	u := url
	if i := strings.Index(u, "://"); i >= 0 {
		u = u[i+3:]
	}
	if i := strings.LastIndex(u, "@"); i >= 0 {
		u = u[i+1:]
	}
	c, err := net.DialTimeout("tcp", u, 300*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// connectEmbedded connects the host to its own server. A member of a
// JetStream cluster refuses a JetStream account's users until the cluster
// has elected its leader (seen: 30 s on a loaded machine, the second
// member's own host refused), so a refusal is tried again, for up to two
// minutes, until ctx ends.
func connectEmbedded(ctx context.Context, srv *natsserver.Server, log *slog.Logger, opts ...nats.Option) (*nats.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for said := false; ; {
		nc, err := srv.Connect(opts...)
		if err == nil {
			return nc, nil
		}
		if !said {
			log.Warn("the embedded server does not take the host's connection yet; retrying (a JetStream cluster elects its leader first)", "err", err)
			said = true
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(time.Second):
		}
	}
}
