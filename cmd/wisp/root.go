package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/wisp-dev/wisp/lattice"
)

// globals are the flags every client verb shares.
type globals struct {
	natsURL  string
	lattice  string
	timeout  time.Duration
	creds    lattice.Credentials
	jsDomain string
	context  string
	// explicitCreds says the credentials came from flags or the
	// environment, not from a context or the local auth store.
	explicitCreds bool
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func newRootCmd() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "wisp",
		Short: "Run WebAssembly actors on a NATS lattice, from the cloud to the edge",
		Long: `wisp runs WebAssembly actors (waPC modules) on hosts joined by NATS.

Start a host with an embedded NATS server, build an actor, run it, call it:

  wisp up
  wisp build ./actors/echo
  wisp start actor ./actors/echo/build/echo.wasm --count 4
  wisp call echo Echo.Reply hello

Any NATS client can call an actor too: a request to wisp.rpc.<lattice>.<actor>
with the header Wisp-Operation gets the actor's answer.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.natsURL, "nats-url", envOr("WISP_NATS_URL", "nats://127.0.0.1:4222"), "NATS server of the lattice (env WISP_NATS_URL)")
	pf.StringVar(&g.lattice, "lattice", envOr("WISP_LATTICE", lattice.DefaultLattice), "lattice id (env WISP_LATTICE)")
	pf.DurationVar(&g.timeout, "timeout", 10*time.Second, "how long to wait for answers")
	pf.StringVar(&g.creds.CredsFile, "nats-creds", os.Getenv("WISP_NATS_CREDS"), "NATS .creds file (user JWT and seed) (env WISP_NATS_CREDS)")
	pf.StringVar(&g.creds.NkeySeedFile, "nats-nkey", os.Getenv("WISP_NATS_NKEY"), "file with a NATS user nkey seed (env WISP_NATS_NKEY)")
	pf.StringVar(&g.creds.User, "nats-user", os.Getenv("WISP_NATS_USER"), "NATS user name (env WISP_NATS_USER)")
	// No env default here: help would print the password.
	pf.StringVar(&g.creds.Password, "nats-password", "", "NATS password (env WISP_NATS_PASSWORD)")
	pf.StringVar(&g.creds.TLSCAFile, "nats-tls-ca", os.Getenv("WISP_NATS_TLS_CA"), "PEM file of the CA that signed the NATS server's certificate (env WISP_NATS_TLS_CA)")
	pf.StringVar(&g.jsDomain, "js-domain", os.Getenv("WISP_JS_DOMAIN"), "JetStream domain holding the lattice's links and events (env WISP_JS_DOMAIN; see 'wisp up --help')")
	pf.StringVar(&g.context, "context", "", "context to connect with (env WISP_CONTEXT; default: the current one, see 'wisp ctx')")
	root.PersistentPreRunE = func(c *cobra.Command, _ []string) error { return g.resolve(c) }
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		//lint:ignore ST1005 a usage error ends, as cobra's do, with a sentence saying where help is.
		return usageError{fmt.Errorf("%w\nSee '%s --help'.", err, c.CommandPath())}
	})

	start := &cobra.Command{Use: "start", Short: "Start an actor or a provider on a host"}
	start.AddCommand(newStartActorCmd(g), newStartProviderCmd(g))
	stop := &cobra.Command{Use: "stop", Short: "Stop an actor, a provider or a host"}
	stop.AddCommand(newStopActorCmd(g), newStopProviderCmd(g), newStopHostCmd(g))
	scale := &cobra.Command{Use: "scale", Short: "Change how many instances of an actor run"}
	scale.AddCommand(newScaleActorCmd(g))
	get := &cobra.Command{Use: "get", Short: "List hosts and what runs on them"}
	get.AddCommand(newGetHostsCmd(g), newGetInventoryCmd(g), newGetLinksCmd(g))
	link := &cobra.Command{Use: "link", Short: "Link actors to capability providers", Long: linkLong}
	link.AddCommand(newLinkPutCmd(g), newLinkGetCmd(g), newLinkDelCmd(g))
	keys := &cobra.Command{Use: "keys", Short: "Generate and list the keys that sign actors", Long: keysLong}
	keys.AddCommand(newKeysGenCmd(), newKeysListCmd())
	claimsCmd := &cobra.Command{Use: "claims", Short: "Sign actor modules and inspect their claims", Long: claimsLong}
	claimsCmd.AddCommand(newClaimsSignCmd(), newClaimsInspectCmd())
	providerCmd := &cobra.Command{Use: "provider", Short: "Run a capability provider in a process of its own"}
	providerCmd.AddCommand(newProviderRunCmd(g))
	device := &cobra.Command{Use: "device", Short: "Simulate and list the microcontrollers gateways front", Long: deviceLong}
	device.AddCommand(newDeviceSimCmd(), newDeviceListCmd(g))
	appCmd := newAppCmd(g)
	credsCmd, ctxCmd := newCredsCmd(g), newCtxCmd(g)
	for _, c := range []*cobra.Command{start, stop, scale, get, keys, claimsCmd, device, link, providerCmd, appCmd, credsCmd, ctxCmd} {
		c.Args = noArgsHelp
		c.RunE = func(c *cobra.Command, args []string) error {
			return usageError{fmt.Errorf("%s needs a subcommand: %s", c.CommandPath(), subcommands(c))}
		}
	}
	root.AddCommand(newUpCmd(g), newBuildCmd(), newCallCmd(g), start, stop, scale, get, keys, claimsCmd,
		link, newEventsCmd(g), newPushCmd(), newPullCmd(), newInspectCmd(), device, providerCmd, appCmd,
		credsCmd, ctxCmd, newNATSConfigCmd(g), newVersionCmd(), newSpyCmd(g))
	root.Version = versionString()
	return root
}

// noArgsHelp refuses stray arguments with a usage error.
func noArgsHelp(c *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError{fmt.Errorf("unknown command %q for %q: want one of %s", args[0], c.CommandPath(), subcommands(c))}
	}
	return nil
}

func subcommands(c *cobra.Command) string {
	s := ""
	for i, sc := range c.Commands() {
		if i > 0 {
			s += ", "
		}
		s += sc.Name()
	}
	return s
}

// args checks the count of positional arguments with a usage error.
func args(min, max int) cobra.PositionalArgs {
	return func(c *cobra.Command, a []string) error {
		if len(a) < min || (max >= 0 && len(a) > max) {
			return usageError{fmt.Errorf("wrong number of arguments\nUsage: %s", c.UseLine())}
		}
		return nil
	}
}

// connect opens a client on the lattice the flags name.
func (g *globals) connect() (*lattice.Client, error) {
	return lattice.Connect(g.natsURL, lattice.WithLattice(g.lattice), lattice.WithTimeout(g.timeout),
		lattice.WithCredentials(g.credentials()), lattice.WithJetStreamDomain(g.jsDomain))
}

// credentials are the NATS credentials of the flags, the password from
// WISP_NATS_PASSWORD when --nats-password is not given.
func (g *globals) credentials() lattice.Credentials {
	c := g.creds
	if c.Password == "" {
		c.Password = os.Getenv("WISP_NATS_PASSWORD")
	}
	return c
}
