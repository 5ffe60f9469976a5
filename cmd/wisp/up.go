//go:build !wispcli

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/wisp-dev/wisp/host"
	"github.com/wisp-dev/wisp/host/claims"
	"github.com/wisp-dev/wisp/host/engine"
	"github.com/wisp-dev/wisp/internal/keystore"
	"github.com/wisp-dev/wisp/internal/logging"
	"github.com/wisp-dev/wisp/internal/wasmbuild"
	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/reconciler"
	"github.com/wisp-dev/wisp/oci"
	"github.com/wisp-dev/wisp/provider"
)

type upFlags struct {
	// stderr takes the host's log and what it tells the person who
	// started it.
	stderr         io.Writer
	natsHost       string
	noReconciler   bool
	natsPort       int
	jsDir          string
	noJetStream    bool
	name           string
	labels         []string
	engine         string
	engineMode     string
	fuel           uint64
	noSnapshot     bool
	cacheDir       string
	noCache        bool
	maxPages       uint32
	maxPayload     int
	callTimeout    time.Duration
	drain          time.Duration
	logLevel       string
	logFormat      string
	demo           bool
	providers      []string
	providersOnly  bool
	allowedIssuers []string
	allowUnsigned  bool
	allowLatest    bool
	insecure       []string
	ociCache       string
	maxLayer       int64
	heartbeat      time.Duration
	clusterListen  string
	clusterRoutes  []string
	clusterName    string
	leafListen     string
	leafNoAdvert   bool
	leafURLs       []string
	leafCreds      string
	noAuth         bool
	fresh          bool
	tlsCert        string
	tlsKey         string
	tlsCA          string
	tlsMode        string
	fileDirs       []string
	maxModule      int64
	maxInstances   int
	maxHostInst    int
	metricsListen  string
	uiListen       string
	uiRemote       bool
	pprofListen    string
	otlpEndpoint   string
}

func newUpCmd(g *globals) *cobra.Command {
	f := &upFlags{}
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run a host, with an embedded NATS server unless --nats-url names one",
		Long: `Run a wisp host until interrupted (Ctrl-C or SIGTERM), then drain it: calls in
flight finish, instances close.

Without --nats-url (or WISP_NATS_URL) the host starts its own NATS server with
JetStream on 127.0.0.1:4222 (--nats-port), so nothing else needs to be
installed. With either it joins the lattice of an existing server.

  wisp up                                  # host + embedded NATS on 127.0.0.1:4222
  wisp up --demo                           # ...and build and start the echo actor
  wisp up --nats-port 4333 --label tier=pi
  wisp up --nats-url nats://10.0.0.5:4222  # join an existing lattice

Labels come from --label k=v, from WISP_LABEL_<key>=v variables, and the
built-in wisp.* and hostcore.* labels. The host's name is --name, or one made
from its id such as brave-otter-0412.

NATS topologies of the embedded server:

  # a cluster: two (or more) embedded servers routing to each other; links
  # and events are replicated on min(3, members) servers
  wisp up --nats-port 4222 --cluster-listen 127.0.0.1:6222 --cluster-routes 127.0.0.1:6222,127.0.0.1:6223
  wisp up --nats-port 4223 --cluster-listen 127.0.0.1:6223 --cluster-routes 127.0.0.1:6222,127.0.0.1:6223

  # a leaf node: an edge site's own server connected up to a hub; the
  # lattice's links and events live in the hub's JetStream, by its domain
  wisp up --leaf-listen 0.0.0.0:7422 --js-domain cloud              # the hub
  wisp up --leaf-url nats://hub:7422 --js-domain cloud              # the edge

The embedded server requires credentials: the first run makes an auth store
(an operator, the lattice's account, an admin user) under the config dir and
a context the CLI on this machine reads ('wisp creds --help', 'wisp ctx').
--tls auto (or --tls-cert/--tls-key, --tls-ca) puts TLS on every listener;
--insecure-no-auth runs open, for experiments on loopback only.

  wisp up --tls auto --leaf-listen 0.0.0.0:7422 --js-domain cloud   # a hub for edge sites
  wisp up --leaf-url tls://hub:7422 --leaf-creds plant-1.creds --js-domain cloud

--lattice keeps lattices apart on one NATS fabric (an account each).
--nats-creds (made by 'wisp creds create NAME --role host'), --nats-nkey,
--nats-user/--nats-password and --nats-tls-ca authenticate the connection of
a host joining with --nats-url; on the machine holding the auth store it
needs none.
Actors start from a file path on the host or from an OCI reference the host
pulls (see 'wisp push --help'): credentials from WISP_REGISTRY_USER and
WISP_REGISTRY_PASSWORD or the Docker config of the host's user; plain HTTP
only for registries on this machine and those in --allowed-insecure; the tag
latest only with --allow-latest. Pulled modules are cached (--oci-cache-dir)
and a cached tag is not asked for again.`,
		Args: args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			f.stderr = cmd.ErrOrStderr()
			return runUp(cmd.Context(), g, f, cmd.Flags().Changed("nats-url") || os.Getenv("WISP_NATS_URL") != "")
		},
	}
	f.register(cmd.Flags())
	return cmd
}

// envInt is the integer in the environment variable name, or def when it
// is unset or not an integer.
func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return n
	}
	return def
}

// register defines the flags of `wisp up` on fl.
func (f *upFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&f.natsHost, "nats-host", "127.0.0.1", "listen address of the embedded NATS server")
	fl.IntVar(&f.natsPort, "nats-port", envInt("WISP_NATS_PORT", 4222), "port of the embedded NATS server (env WISP_NATS_PORT; -1: any free port)")
	fl.StringVar(&f.jsDir, "js-dir", "", "JetStream store of the embedded server (default: under the user cache dir)")
	fl.BoolVar(&f.noJetStream, "no-jetstream", false, "run the embedded server without JetStream")
	fl.StringVar(&f.name, "name", "", "friendly name of the host (default: one made from its id, such as brave-otter-0412)")
	fl.StringArrayVar(&f.labels, "label", nil, "host label key=value (repeatable)")
	fl.StringVar(&f.engine, "engine", "wazero", "Wasm engine: wazero, or wasmtime in a build with -tags wasmtime")
	fl.StringVar(&f.engineMode, "engine-mode", "auto", "auto, compiler or interpreter")
	fl.Uint64Var(&f.fuel, "fuel", 0, "wasmtime only: fuel per call, about one unit per Wasm instruction (0: not metered; the call timeout stops loops either way)")
	fl.BoolVar(&f.noSnapshot, "no-snapshot", false, "wazero: run every instance's initialisation instead of starting further instances of an actor from a copy-on-write snapshot of its first (for measuring, and for guests that need fresh random seeds per instance)")
	fl.StringVar(&f.cacheDir, "cache-dir", "", "compiled-code cache (default: under the user cache dir)")
	fl.BoolVar(&f.noCache, "no-cache", false, "do not cache compiled code on disk")
	fl.Uint32Var(&f.maxPages, "max-memory-pages", engine.DefaultMaxMemoryPages, "default per-actor linear memory limit, in 64 KiB pages")
	fl.IntVar(&f.maxPayload, "max-payload", host.DefaultMaxPayload, "default per-actor payload limit, in bytes, at most 64 MiB (calls above the NATS server's max_payload travel in chunks)")
	fl.DurationVar(&f.callTimeout, "call-timeout", engine.DefaultCallTimeout, "default per-actor call timeout (stops runaway guests)")
	fl.DurationVar(&f.drain, "drain-timeout", 30*time.Second, "how long calls in flight may take to finish at shutdown")
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fl.StringVar(&f.logFormat, "log-format", "text", "text or json; lines logged while serving a traced call carry its trace_id and span_id")
	fl.BoolVar(&f.demo, "demo", false, "build ./actors/echo and start it (run from the wisp repository)")
	fl.StringArrayVar(&f.providers, "provider", nil, "run a built-in provider, NAME or NAME:LINKNAME (repeatable; see 'wisp start provider --help')")
	fl.StringSliceVar(&f.allowedIssuers, "allowed-issuers", nil, "only run actors signed by these accounts (A…, comma-separated)")
	fl.BoolVar(&f.allowUnsigned, "allow-unsigned", false, "DEVELOPMENT ONLY: run actors without signed claims, with access to every contract")
	fl.BoolVar(&f.allowLatest, "allow-latest", false, "start actors by the tag latest or by references without a tag")
	fl.StringSliceVar(&f.insecure, "allowed-insecure", nil, "registries (host:port, comma-separated) that may use plain HTTP or unverified certificates")
	fl.StringVar(&f.ociCache, "oci-cache-dir", os.Getenv("WISP_OCI_CACHE"), "pulled-artifact cache (env WISP_OCI_CACHE; default: wisp/oci under the user cache dir)")
	fl.Int64Var(&f.maxLayer, "max-layer-size", oci.DefaultMaxLayerSize, "largest module layer the host downloads, in bytes")
	fl.DurationVar(&f.heartbeat, "heartbeat", host.DefaultHeartbeat, "how often the host publishes a host_heartbeat event")
	fl.StringVar(&f.clusterListen, "cluster-listen", "", "host:port where the embedded server accepts cluster routes")
	fl.StringSliceVar(&f.clusterRoutes, "cluster-routes", nil, "routes (host:port or nats-route://host:port, comma-separated) to the cluster's servers")
	fl.StringVar(&f.clusterName, "cluster-name", "wisp", "name of the NATS cluster (the same on every member)")
	fl.StringVar(&f.leafListen, "leaf-listen", "", "host:port where the embedded server accepts leaf-node connections")
	fl.BoolVar(&f.leafNoAdvert, "leaf-no-advertise", false, "do not tell leaf nodes this server's leaf-node addresses: they reconnect only by the URL they were given (a hub behind a proxy or NAT)")
	fl.StringSliceVar(&f.leafURLs, "leaf-url", nil, "hub URL(s) (nats://host:port of its --leaf-listen) the embedded server connects to as a leaf node")
	fl.StringVar(&f.leafCreds, "leaf-creds", "", ".creds file of the leaf-node connection to the hub")
	fl.BoolVar(&f.fresh, "fresh", false, "start the embedded server with an empty JetStream store: no links, applications or events of earlier runs")
	fl.BoolVar(&f.noAuth, "insecure-no-auth", false, "EXPERIMENTS ONLY: run the embedded server without authentication (anyone who reaches it may do anything; loopback addresses only)")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "PEM certificate every listener of the embedded server serves (with --tls-key)")
	fl.StringVar(&f.tlsKey, "tls-key", "", "PEM private key of --tls-cert")
	fl.StringVar(&f.tlsCA, "tls-ca", "", "PEM CA bundle that verifies cluster routes and the hub of a leaf connection (and clients, through the context)")
	fl.StringVar(&f.tlsMode, "tls", "", "auto: TLS on every listener with a CA and certificate made and kept under the config dir")
	ceil := host.DefaultCeilings()
	fl.StringArrayVar(&f.fileDirs, "allow-file-dir", nil, "directory whose module files actors may start from (repeatable; env WISP_ALLOW_FILE_DIR, a list; default: the directory wisp up starts in, none when joining with --nats-url or --leaf-url)")
	fl.Int64Var(&f.maxModule, "max-module-size", host.DefaultMaxModuleSize, "largest module file the host reads, in bytes")
	fl.IntVar(&f.maxInstances, "max-instances", ceil.Instances, "most instances one start or scale may ask for (default sized to this machine's memory)")
	fl.IntVar(&f.maxHostInst, "max-host-instances", ceil.HostInstances, "most actor instances the host runs in all (default sized to this machine's memory)")
	fl.StringVar(&f.metricsListen, "metrics-listen", "", "host:port where Prometheus metrics are served on /metrics (e.g. 127.0.0.1:9464; default: none); the host's wisp.metrics label gives their URL, where wisp ui reads rates")
	fl.StringVar(&f.uiListen, "ui", "", "host:port where this host serves the web dashboard of its lattice (see 'wisp ui --help'; default: none)")
	fl.BoolVar(&f.uiRemote, "ui-allow-remote", false, "allow a --ui address that is not loopback (the dashboard has no login)")
	fl.StringVar(&f.otlpEndpoint, "otlp-endpoint", "", "OTLP/HTTP receiver the host sends its spans to, e.g. http://127.0.0.1:4318 (default: OTEL_EXPORTER_OTLP_ENDPOINT; none: no spans, trace headers still pass through)")
	fl.StringVar(&f.pprofListen, "pprof-listen", "", "host:port where Go profiles are served on /debug/pprof/ (default: none; keep it on loopback)")
	fl.BoolVar(&f.noReconciler, "no-reconciler", false, "do not run the application reconciler here (one host of the lattice is its active one; see 'wisp app --help')")
}

func runUp(ctx context.Context, g *globals, f *upFlags, join bool) error {
	log, err := logging.New(f.stderr, logging.Config{Format: f.logFormat, Level: f.logLevel})
	if err != nil {
		return usageError{fmt.Errorf("--log-format %q, --log-level %q: %w", f.logFormat, f.logLevel, err)}
	}
	labels, err := host.ParseLabels(f.labels)
	if err != nil {
		return usageError{err}
	}
	if len(f.leafURLs) > 0 && !join {
		labels[lattice.LabelLeaf] = "true" // its server's uplink is a leaf connection
	}
	if f.uiListen != "" {
		if err := checkUIListen("--ui", f.uiListen, f.uiRemote, "--ui-allow-remote"); err != nil {
			return err
		}
	}
	for _, k := range f.allowedIssuers {
		if kind, err := claims.PublicKeyKind(k); err != nil || kind != claims.KindAccount {
			return usageError{fmt.Errorf("--allowed-issuers: %q is not an account public key (A…)", k)}
		}
	}
	if f.allowUnsigned {
		log.Warn("--allow-unsigned: this host runs actors nobody signed, with access to every contract. Use it for development only.")
	}
	ecfg := engine.Config{Name: f.engine, Mode: f.engineMode, Fuel: f.fuel, NoSnapshot: f.noSnapshot}
	if !f.noCache {
		if ecfg.CacheDir, err = cacheDir(f.cacheDir, "compiled"); err != nil {
			return err
		}
	}

	obs, err := f.startObservability(ctx, g, log)
	if err != nil {
		return usageError{err}
	}
	defer obs.close(context.Background())
	pull, err := f.puller(log, obs.pulled)
	if err != nil {
		return err
	}

	var nc *nats.Conn
	url := g.natsURL
	if join && (f.clusterListen != "" || len(f.leafURLs) > 0 || f.leafListen != "") {
		return usageError{errors.New("--nats-url joins an existing server: --cluster-*, --leaf-url and --leaf-listen configure the embedded one")}
	}
	if f.noAuth {
		log.Warn("--insecure-no-auth: the NATS server requires no credentials; anyone who reaches it can stop hosts, answer calls and read every actor's data. Use it for experiments on this machine only.")
	}
	if join {
		copts, err := f.joinCredentials(ctx, g, log)
		if err != nil {
			return err
		}
		copts = append([]nats.Option{nats.Name("wisp host"), asyncErrors(log), nats.MaxReconnects(-1), nats.ReconnectWait(time.Second), nats.Timeout(3 * time.Second)}, copts...)
		nc, err = nats.Connect(url, copts...)
		if errors.Is(err, nats.ErrNoServers) {
			return fmt.Errorf("join lattice at %s: %w", url, lattice.ErrNoServer)
		}
		if err != nil {
			return fmt.Errorf("join lattice at %s: %w", url, lattice.AuthHint(err))
		}
	} else {
		srv, conn, err := f.embeddedServer(ctx, g, log)
		if err != nil {
			return err
		}
		defer srv.Shutdown()
		nc, url = conn, srv.ClientURL()
	}
	defer nc.Close()

	dirs, err := f.allowedFileDirs(join)
	if err != nil {
		return err
	}
	obsOpts, err := obs.hostOptions(ecfg, nc, g.lattice)
	if err != nil {
		return err
	}
	h, err := host.New(ctx, nc, append([]host.Option{
		host.WithFileDirs(dirs...),
		host.WithCeilings(host.Ceilings{Instances: f.maxInstances, HostInstances: f.maxHostInst, ModuleSize: f.maxModule}),
		host.WithLattice(g.lattice),
		host.WithName(f.name),
		host.WithLabels(host.EnvLabels(os.Environ())),
		host.WithLabels(labels),
		host.WithEngine(ecfg),
		host.WithPolicy(host.Policy{AllowedIssuers: f.allowedIssuers, AllowUnsigned: f.allowUnsigned}),
		host.WithLogger(log),
		host.WithPull(pull),
		host.WithProvidersOnly(f.providersOnly),
		host.WithHeartbeat(f.heartbeat),
		host.WithJetStreamDomain(g.jsDomain),
		host.WithDefaultLimits(lattice.ActorLimits{
			MaxMemoryPages: f.maxPages,
			MaxPayload:     f.maxPayload,
			CallTimeoutMS:  f.callTimeout.Milliseconds(),
		})}, obsOpts...)...)
	if err != nil {
		return err
	}
	obs.watch(h, nc)
	log.Info("host up", "id", h.ID(), "name", h.Name(), "lattice", g.lattice, "nats", url, "engine", h.Labels()["wisp.engine"], "cache", ecfg.CacheDir)
	fmt.Fprintf(f.stderr, "\nwisp host %s (%s) is up on lattice %q, NATS at %s\n", h.Name(), h.ID(), g.lattice, url)
	if f.demo {
		if err := startDemo(ctx, h, f.stderr); err != nil {
			h.Stop(context.Background())
			return err
		}
	}
	for _, spec := range f.providers {
		name, linkName, _ := strings.Cut(spec, ":")
		d, err := h.StartProvider(ctx, lattice.StartProviderRequest{Name: name, LinkName: linkName})
		if err != nil {
			h.Stop(context.Background())
			return usageError{fmt.Errorf("--provider %s: %w", spec, err)}
		}
		fmt.Fprintf(f.stderr, "provider %s serving %s (link name %s)\n", d.Name, d.Contract, d.LinkName)
	}
	var recDone chan struct{}
	stopRec := func() {}
	if !f.noReconciler {
		rec, err := reconciler.New(reconciler.Config{Conn: nc, Lattice: g.lattice, JetStreamDomain: g.jsDomain,
			HostID: h.ID(), HostName: h.Name(), Providers: provider.Contracts(), Logger: log, Links: h.Links,
			Observer: obs.reconcilerObserver()})
		if err != nil {
			h.Stop(context.Background())
			return err
		}
		rctx, cancel := context.WithCancel(context.Background())
		recDone = make(chan struct{})
		go func() {
			defer close(recDone)
			if err := rec.Run(rctx); err != nil && !errors.Is(err, context.Canceled) {
				log.Error("application reconciler stopped", "err", err)
			}
		}()
		stopRec = func() { cancel(); <-recDone }
	}
	defer stopRec()
	stopUI := func() {}
	if f.uiListen != "" {
		if stopUI, err = serveUI(nc, g, f.uiListen, log); err != nil {
			h.Stop(context.Background())
			return err
		}
	}
	defer func() { stopUI() }()
	if url != "nats://127.0.0.1:4222" && f.noAuth {
		fmt.Fprintf(f.stderr, "point clients at it: export WISP_NATS_URL=%s\n", url)
	}
	fmt.Fprintln(f.stderr, "Ctrl-C to stop.")

	select {
	case <-ctx.Done():
		log.Info("signal received: draining")
	case <-h.StopRequested():
		log.Info("stop requested over the lattice: draining")
	}
	stopUI()
	stopUI = func() {}
	stopRec() // hands the lease over before the host's actors go; the deferred call is then a no-op
	dctx, cancel := context.WithTimeout(context.Background(), f.drain)
	defer cancel()
	if err := h.Stop(dctx); err != nil {
		return fmt.Errorf("drain: %w", err)
	}
	if err := nc.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		log.Warn("drain NATS connection", "err", err)
	}
	log.Info("host stopped")
	return nil
}

// asyncErrors sends the connection's asynchronous errors to the host's log
// instead of nats.go's default, a bare line on stderr. A JetStream consumer
// that stopped answering is expected while the lattice's JetStream is away
// (an edge site whose uplink is down, a cluster electing a leader); the
// host says so once and retries, so those are debug lines.
func asyncErrors(log *slog.Logger) nats.Option {
	return nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
		subject := ""
		if sub != nil {
			subject = sub.Subject
		}
		if errors.Is(err, nats.ErrConsumerNotActive) {
			log.Debug("NATS", "err", err, "subject", subject)
			return
		}
		log.Warn("NATS", "err", err, "subject", subject)
	})
}

// puller returns how the host pulls actors by OCI reference.
func (f *upFlags) puller(log *slog.Logger, pulled func(cached bool, err error)) (host.PullFunc, error) {
	opts := []oci.Option{oci.WithAllowLatest(f.allowLatest), oci.WithAllowedInsecure(f.insecure...), oci.WithMaxLayerSize(f.maxLayer)}
	if f.ociCache != "" {
		opts = append(opts, oci.WithCacheDir(f.ociCache))
	}
	if u, p := os.Getenv("WISP_REGISTRY_USER"), os.Getenv("WISP_REGISTRY_PASSWORD"); u != "" || p != "" {
		opts = append(opts, oci.WithBasicAuth(u, p))
	}
	c, err := oci.New(opts...)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, ref string) ([]byte, error) {
		a, err := c.Pull(ctx, ref, oci.IfNotPresent)
		pulled(err == nil && a.Cached, err)
		if err != nil {
			return nil, err
		}
		log.Info("actor module pulled", "ref", a.Reference, "digest", a.Digest, "cached", a.Cached, "bytes", len(a.Module))
		return a.Module, nil
	}, nil
}

// startDemo builds the echo actor from the repository and starts it.
func startDemo(ctx context.Context, h *host.Host, stderr io.Writer) error {
	dir := filepath.Join("actors", "echo")
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("--demo builds ./actors/echo: run it from the wisp repository (%w)", err)
	}
	fmt.Fprintln(stderr, "building the echo actor...")
	out, err := wasmbuild.Build(ctx, dir, wasmbuild.Options{Stderr: stderr})
	if err != nil {
		return err
	}
	// Signed like `wisp build` does, with the key store's keys.
	var keys keystore.Store
	acct, _, err := keys.Account()
	if err != nil {
		return err
	}
	mod, _, err := keys.Module(out)
	if err != nil {
		return err
	}
	if err := signInPlace(out, claims.SignOptions{Name: "echo", CallAlias: "echo"}, acct, mod); err != nil {
		return err
	}
	if _, err := h.StartActor(ctx, lattice.StartActorRequest{Ref: out, Name: "echo", Count: 2}); err != nil {
		return err
	}
	fmt.Fprintln(stderr, "demo: echo actor running. Call it from another terminal:")
	fmt.Fprintln(stderr, "  go run ./cmd/wisp call echo Echo.Reply hello")
	fmt.Fprintln(stderr, "  go run ./cmd/wisp creds create app --role caller --allow-call echo -o app.creds")
	fmt.Fprintln(stderr, "  nats req wisp.rpc.default.echo hello -H Wisp-Operation:Echo.Reply --creds app.creds --inbox-prefix _INBOX.app")
	return nil
}

// cacheDir returns dir, or the wisp folder sub under the user cache dir,
// created if missing.
func cacheDir(dir, sub string) (string, error) {
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("user cache dir: %w (set --cache-dir)", err)
		}
		dir = filepath.Join(base, "wisp", sub)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("cache dir: %w", err)
	}
	return dir, nil
}
