package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"

	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/auth"
)

const credsLong = `Make, list and revoke the NATS credentials of a lattice's users.

A lattice is a NATS account; each user has a role, a fixed set of subjects the
NATS server lets it use:

  admin     drive hosts, deploy apps, put links, call actors (the CLI)
  host      run actors and providers, keep the lattice's state
  caller    call the actors it is granted (--allow-call), nothing else
  provider  serve provider calls and read links ('wisp provider run')
  leaf      connect an edge site's NATS server to the hub ('wisp up --leaf-creds')

Credentials are minted from the auth store on this machine (made by the first
'wisp up'; $WISP_AUTH_DIR moves it), without restarting any server. A .creds
file holds a secret: hand it over as you would a password.

  wisp creds create shop-frontend --role caller --allow-call echo,kvcounter -o shop.creds
  wisp creds create edge-1 --role host -o edge-1.creds
  wisp creds create plant-1 --role leaf -o plant-1.creds
  wisp creds list
  wisp creds revoke shop-frontend`

func newCredsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "creds", Short: "Make, list and revoke credentials of a lattice's users", Long: credsLong}
	cmd.AddCommand(newCredsCreateCmd(g), newCredsListCmd(g), newCredsRevokeCmd(g))
	// create and revoke hand the account to the server of the context.
	g.natsFlags(cmd.PersistentFlags())
	return cmd
}

func newCredsCreateCmd(g *globals) *cobra.Command {
	var role, out string
	var calls, contracts, subs []string
	cmd := &cobra.Command{
		Use:   "create NAME --role ROLE",
		Short: "Make a user of the lattice and write its .creds file",
		Long: `Make a user of the lattice (--lattice) with a role and write its .creds file
(-o FILE, mode 0600; default: standard output). The user's replies arrive
under the inbox prefix _INBOX.NAME, the only one it may read: a plain NATS
client sets it (nats.go: nats.CustomInboxPrefix("_INBOX.NAME")); wisp's
own clients read it from the file.

  wisp creds create shop-frontend --role caller --allow-call echo,kvcounter -o shop.creds
  wisp creds create edge-1 --role host -o edge-1.creds     # wisp up --nats-url … --nats-creds edge-1.creds
  wisp creds create plant-1 --role leaf -o plant-1.creds   # wisp up --leaf-url … --leaf-creds plant-1.creds
  wisp creds create msg-gw --role provider --contract wasmcloud:messaging --allow-sub 'iot.>' -o gw.creds`,
		Args: args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) error {
			r, err := auth.ParseRole(role)
			if err != nil {
				return usageError{err}
			}
			if len(calls) > 0 && r != auth.RoleCaller {
				return usageError{errors.New("--allow-call is for --role caller")}
			}
			if (len(contracts) > 0 || len(subs) > 0) && r != auth.RoleProvider {
				return usageError{errors.New("--contract and --allow-sub are for --role provider")}
			}
			st, err := needAuth()
			if err != nil {
				return err
			}
			_, created, err := st.Account(g.lattice)
			if err != nil {
				return usageError{err}
			}
			b, err := st.CreateUser(g.lattice, a[0], r, auth.Grant{Calls: calls, Contracts: contracts, Subscribe: subs})
			if err != nil {
				return usageError{err}
			}
			if created {
				pushAccount(cmd, g, st)
			}
			if out == "" || out == "-" {
				_, err = cmd.OutOrStdout().Write(b)
				return err
			}
			if err := os.WriteFile(out, b, 0o600); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "user %s (%s) of lattice %s: %s (inbox prefix %s)\n", a[0], r, g.lattice, out, lattice.InboxPrefix(a[0]))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&role, "role", "", "admin, host, caller, provider or leaf (required)")
	fl.StringSliceVar(&calls, "allow-call", nil, "caller: actors (call aliases or module keys, comma-separated; * for all) it may call")
	fl.StringSliceVar(&contracts, "contract", nil, "provider: contracts it may serve (default: all)")
	fl.StringSliceVar(&subs, "allow-sub", nil, "provider: subjects it may subscribe to besides its calls (a messaging provider's SUBSCRIPTION, e.g. 'iot.>')")
	fl.StringVarP(&out, "output-file", "o", "", "write the .creds file here (0600) instead of standard output")
	cmd.MarkFlagRequired("role")
	return cmd
}

var userColumns = []column[auth.User]{
	{header: "NAME", cell: func(u auth.User) string { return u.Name }},
	{header: "ROLE", cell: func(u auth.User) string { return string(u.Role) }},
	{header: "KEY", cell: func(u auth.User) string { return u.Key }},
	{header: "CREATED", cell: func(u auth.User) string { return u.Created.Format(time.RFC3339) }},
	{header: "STATUS", cell: func(u auth.User) string {
		if !u.Revoked.IsZero() {
			return "revoked " + u.Revoked.Format(time.RFC3339)
		}
		return "active"
	}},
	{header: "GRANTS", cell: func(u auth.User) string { return strings.Join(slices.Concat(u.Calls, u.Contracts, u.Subscribe), ",") }},
}

func newCredsListCmd(g *globals) *cobra.Command {
	var l listing
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the users of the lattice the auth store made",
		Args:    args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := l.check(); err != nil {
				return err
			}
			st, err := needAuth()
			if err != nil {
				return err
			}
			users, err := st.Users(g.lattice)
			if err != nil {
				return err
			}
			return printList(cmd, &l, users, userColumns)
		},
	}
	l.register(cmd)
	return cmd
}

func newCredsRevokeCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke NAME",
		Short: "Revoke a user: running servers drop it at once",
		Long: `Revoke a user of the lattice. The account's new JWT goes to the NATS server of
the current context (--nats-url) through the system account: the server closes
the user's connections and refuses its credentials from then on, without a
restart. Servers that were not reachable learn it when they next start.`,
		Args: args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) error {
			st, err := needAuth()
			if err != nil {
				return err
			}
			acct, err := st.Revoke(g.lattice, a[0])
			if err != nil {
				return err
			}
			if err := pushTo(cmd.Context(), g, st, acct); err != nil {
				return fmt.Errorf("revoked in the store, but %w (servers learn it when they next start)", err)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "user %s of lattice %s revoked; %s dropped its connections\n", a[0], g.lattice, g.natsURL)
			return nil
		},
	}
}

// pushAccount hands the lattice's account to the context's server, so that
// a lattice made here is known there at once; a server that is not
// reachable learns it when it next starts, which is said, not failed.
func pushAccount(cmd *cobra.Command, g *globals, st *auth.Store) {
	acct, _, err := st.Account(g.lattice)
	if err == nil {
		err = pushTo(cmd.Context(), g, st, acct)
	}
	if err != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "note: new lattice account not pushed to %s: %v (a server learns it when it starts)\n", g.natsURL, err)
	}
}

// pushTo sends an account JWT through the store's system user.
func pushTo(ctx context.Context, g *globals, st *auth.Store, acct auth.Account) error {
	opts, err := lattice.Credentials{CredsFile: st.SystemCreds(), TLSCAFile: g.credentials().TLSCAFile}.NATSOptions()
	if err != nil {
		return err
	}
	sys, err := nats.Connect(g.natsURL, append(opts, nats.Timeout(3*time.Second), nats.Name("wisp creds"))...)
	if err != nil {
		return fmt.Errorf("reach %s as the system user: %w", g.natsURL, err)
	}
	defer sys.Close()
	ctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	return auth.PushAccount(ctx, sys, acct)
}

const ctxLong = `Contexts say where and as whom the CLI connects: a NATS URL, a .creds file, the
CA of the server's TLS certificate, a lattice and a JetStream domain. 'wisp up'
writes one for the server it starts (and makes it current); flags override a
context's fields one by one, as kubectl's do.

  wisp ctx list
  wisp ctx use local-4222
  wisp ctx add prod --nats-url tls://nats.example:4222 --nats-creds admin.creds --nats-tls-ca ca.pem
  wisp --context prod get hosts`

func newCtxCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "ctx", Short: "List, choose and add connection contexts", Long: ctxLong}
	var l listing
	list := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the contexts; * marks the current one",
		Args:    args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := l.check(); err != nil {
				return err
			}
			cs, err := listContexts()
			if err != nil {
				return err
			}
			cur := currentContext()
			cols := []column[natsContext]{
				{header: "CURRENT", cell: func(c natsContext) string {
					if c.Name == cur {
						return "*"
					}
					return ""
				}},
				{header: "NAME", cell: func(c natsContext) string { return c.Name }},
				{header: "URL", cell: func(c natsContext) string { return c.URL }},
				{header: "LATTICE", cell: func(c natsContext) string { return c.Lattice }},
				{header: "JS DOMAIN", wide: true, cell: func(c natsContext) string { return c.JSDomain }},
				{header: "CREDS", cell: func(c natsContext) string { return c.Creds }},
				{header: "TLS CA", cell: func(c natsContext) string { return c.TLSCA }},
			}
			return printList(cmd, &l, cs, cols)
		},
	}
	l.register(list)
	use := &cobra.Command{
		Use:   "use NAME",
		Short: "Make NAME the current context",
		Args:  args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) error {
			if err := useContext(a[0]); err != nil {
				return usageError{err}
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "context %s is current\n", a[0])
			return nil
		},
	}
	add := &cobra.Command{
		Use:   "add NAME",
		Short: "Save the connection flags given as context NAME",
		Args:  args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) error {
			c := natsContext{Name: a[0], URL: g.natsURL, Creds: g.creds.CredsFile, TLSCA: g.creds.TLSCAFile, Lattice: g.lattice, JSDomain: g.jsDomain}
			if err := saveContext(c); err != nil {
				return usageError{err}
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "context %s saved ('wisp ctx use %s' to make it current)\n", c.Name, c.Name)
			return nil
		},
	}
	cmd.AddCommand(list, use, g.withNATS(add))
	return cmd
}

func newNATSConfigCmd(g *globals) *cobra.Command {
	var jwtDir string
	cmd := &cobra.Command{
		Use:   "nats-config",
		Short: "Print a nats-server configuration that enforces the lattices' users",
		Long: `Print the configuration an operator's own nats-server needs to enforce wisp's
users: the operator it trusts, its system account, a full account resolver
(so that 'wisp creds revoke' reaches it) preloaded with the lattices' accounts.
Add listeners, clustering and TLS as for any nats-server, then join hosts to it
with 'wisp up --nats-url'.

  wisp nats-config --lattice default > wisp.conf
  nats-server -c wisp.conf -js`,
		Args: args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := openAuth()
			if err != nil {
				return err
			}
			cfg, err := st.ServerConfig(g.lattice)
			if err != nil {
				return err
			}
			op, err := st.OperatorJWT()
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "# wisp: operator %s, lattices %s\n", cfg.Operator.Subject, strings.Join(sortedKeys(cfg.LatticeAccounts), ", "))
			fmt.Fprintf(w, "operator: %q\n", op)
			fmt.Fprintf(w, "system_account: %s\n", cfg.SystemAccount)
			fmt.Fprintf(w, "resolver: {\n  type: full\n  dir: %q\n  allow_delete: false\n}\n", jwtDir)
			fmt.Fprintln(w, "resolver_preload: {")
			for _, pub := range sortedKeys(cfg.Accounts) {
				fmt.Fprintf(w, "  %s: %q\n", pub, cfg.Accounts[pub])
			}
			fmt.Fprintln(w, "}")
			return nil
		},
	}
	cmd.Flags().StringVar(&jwtDir, "jwt-dir", "./jwt", "directory where the server keeps account JWTs it is sent")
	g.latticeFlag(cmd.Flags())
	return cmd
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
