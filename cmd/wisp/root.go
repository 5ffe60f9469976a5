package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

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

// rootLong is what `wisp --help` says.
const rootLong = `wisp runs WebAssembly actors (waPC modules) on hosts joined by NATS.

Start a host with an embedded NATS server, build an actor, run it, call it:

  wisp up
  wisp build ./actors/echo
  wisp start actor ./actors/echo/build/echo.wasm --count 4
  wisp call echo Echo.Reply hello

Any NATS client can call an actor too: a request to wisp.rpc.<lattice>.<actor>
with the header Wisp-Operation gets the actor's answer.

The grammar is kubectl's and the nats CLI's: 'wisp VERB NOUN' for the
lattice (get, start, stop, scale), 'wisp NOUN VERB' for one kind of thing
(link, app, keys, creds, ctx...). Listings are 'list' (alias ls), deletions
'delete' (alias rm), and every listing takes -o table|wide|json|yaml and
--no-headers. Verbs that talk to the lattice take the NATS flags (--nats-url,
--context, --nats-creds...); verbs that work on this machine only do not.`

// newRootCmd builds the whole command tree; main executes it, and tests
// execute it in process with their own arguments and buffers.
func newRootCmd() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "wisp",
		Short:         "Run WebAssembly actors on a NATS lattice, from the cloud to the edge",
		Long:          rootLong,
		SilenceUsage:  true,
		SilenceErrors: true,
		// The generated reference in docs/cli must not change with the day.
		DisableAutoGenTag: true,
	}
	root.PersistentPreRunE = func(c *cobra.Command, _ []string) error {
		if c.Flags().Lookup("nats-url") == nil {
			return nil // works on this machine only
		}
		return g.resolve(c)
	}
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
	update := &cobra.Command{Use: "update", Short: "Swap a running actor's module for another version"}
	update.AddCommand(newUpdateActorCmd(g))
	get, link := newGetCmd(g), newLinkCmd(g)
	for _, c := range []*cobra.Command{start, stop, scale, update, get, link} {
		g.natsFlags(c.PersistentFlags())
	}
	keys := &cobra.Command{Use: "keys", Short: "Generate and list the keys that sign actors", Long: keysLong}
	keys.AddCommand(newKeysGenCmd(), newKeysListCmd())
	claimsCmd := &cobra.Command{Use: "claims", Short: "Sign actor modules and inspect their claims", Long: claimsLong}
	claimsCmd.AddCommand(newClaimsSignCmd(), newClaimsInspectCmd())
	providerCmd := &cobra.Command{Use: "provider", Short: "Run a capability provider in a process of its own"}
	device := &cobra.Command{Use: "device", Short: "Simulate and list the microcontrollers gateways front", Long: deviceLong}
	device.AddCommand(g.withNATS(newDeviceListCmd(g)))
	appCmd := newAppCmd(g)
	credsCmd, ctxCmd := newCredsCmd(g), newCtxCmd(g)
	for _, c := range []*cobra.Command{root, start, stop, scale, update, get, keys, claimsCmd, device, link, providerCmd, appCmd, credsCmd, ctxCmd} {
		c.Args = noArgsHelp
		c.RunE = func(c *cobra.Command, args []string) error {
			if !c.HasParent() {
				return c.Help()
			}
			return usageError{fmt.Errorf("%s needs a subcommand: %s", c.CommandPath(), subcommands(c))}
		}
	}
	root.AddCommand(newBuildCmd(), g.withNATS(newCallCmd(g)), start, stop, scale, update, get, keys, claimsCmd,
		link, g.withNATS(newEventsCmd(g)), newPushCmd(), newPullCmd(), newInspectCmd(), device, providerCmd, appCmd,
		credsCmd, ctxCmd, newNATSConfigCmd(g), newVersionCmd(), g.withNATS(newSpyCmd(g)))
	addHostVerbs(g, root, providerCmd, device)
	root.Version = versionString()
	return root
}

// natsFlags adds the flags of a verb that talks to the lattice to fs: where
// the NATS server is, which lattice, as whom, and how long to wait. Verbs
// that work on this machine only (build, keys, claims, push, pull...) do
// not take them, so their help does not offer them.
func (g *globals) natsFlags(fs *pflag.FlagSet) {
	fs.StringVar(&g.natsURL, "nats-url", envOr("WISP_NATS_URL", "nats://127.0.0.1:4222"), "NATS server of the lattice (env WISP_NATS_URL)")
	g.latticeFlag(fs)
	fs.DurationVar(&g.timeout, "timeout", 10*time.Second, "how long to wait for answers")
	fs.StringVar(&g.creds.CredsFile, "nats-creds", os.Getenv("WISP_NATS_CREDS"), "NATS .creds file (user JWT and seed) (env WISP_NATS_CREDS)")
	fs.StringVar(&g.creds.NkeySeedFile, "nats-nkey", os.Getenv("WISP_NATS_NKEY"), "file with a NATS user nkey seed (env WISP_NATS_NKEY)")
	fs.StringVar(&g.creds.User, "nats-user", os.Getenv("WISP_NATS_USER"), "NATS user name (env WISP_NATS_USER)")
	// No env default here: help would print the password.
	fs.StringVar(&g.creds.Password, "nats-password", "", "NATS password (env WISP_NATS_PASSWORD)")
	fs.StringVar(&g.creds.TLSCAFile, "nats-tls-ca", os.Getenv("WISP_NATS_TLS_CA"), "PEM file of the CA that signed the NATS server's certificate (env WISP_NATS_TLS_CA)")
	fs.StringVar(&g.jsDomain, "js-domain", os.Getenv("WISP_JS_DOMAIN"), "JetStream domain holding the lattice's links and events (env WISP_JS_DOMAIN; see 'wisp up --help')")
	fs.StringVar(&g.context, "context", "", "context to connect with (env WISP_CONTEXT; default: the current one, see 'wisp ctx')")
}

// latticeFlag adds --lattice alone, for verbs that work on this machine's
// auth store for one lattice.
func (g *globals) latticeFlag(fs *pflag.FlagSet) {
	fs.StringVar(&g.lattice, "lattice", envOr("WISP_LATTICE", lattice.DefaultLattice), "lattice id (env WISP_LATTICE)")
}

// withNATS adds the NATS flags to cmd and returns it.
func (g *globals) withNATS(cmd *cobra.Command) *cobra.Command {
	g.natsFlags(cmd.Flags())
	return cmd
}

// noArgsHelp refuses stray arguments with a usage error, suggesting the
// subcommands whose names are close to the one typed, as cobra does for
// its root.
func noArgsHelp(c *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q: want one of %s", args[0], c.CommandPath(), subcommands(c))
	if c.SuggestionsMinimumDistance <= 0 {
		c.SuggestionsMinimumDistance = 2 // cobra's own default
	}
	if s := c.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "\n\nDid you mean this?\n\t" + strings.Join(s, "\n\t")
	}
	return usageError{errors.New(msg)}
}

// subcommands lists the names of c's subcommands people use.
func subcommands(c *cobra.Command) string {
	var names []string
	for _, sc := range c.Commands() {
		if sc.IsAvailableCommand() {
			names = append(names, sc.Name())
		}
	}
	return strings.Join(names, ", ")
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
