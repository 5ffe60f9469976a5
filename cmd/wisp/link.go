package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wisp-dev/wisp/lattice"
)

const linkLong = `A link connects an actor to the capability provider that serves one
contract for it, under a link name (default "default"). When the actor makes a
host call for that contract and link name, its host sends it to the provider
on wisp.prov.<lattice>.<contract>.<link name>.

Links live in a JetStream key-value bucket of the lattice, so a link put on
any host takes effect on every host and survives restarts of all of them. A
link is refused when the actor runs nowhere on the lattice, or when its claims
do not list the contract.

  wisp link put echo kvredis wasmcloud:keyvalue URL=redis://127.0.0.1:6379
  wisp link list                       # or: wisp get links
  wisp link delete echo wasmcloud:keyvalue`

func newLinkCmd(g *globals) *cobra.Command {
	link := &cobra.Command{Use: "link", Short: "Link actors to capability providers", Long: linkLong}
	link.AddCommand(newLinkPutCmd(g), newLinkListCmd(g), newLinkDeleteCmd(g))
	return link
}

func newLinkPutCmd(g *globals) *cobra.Command {
	var linkName, output string
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "put ACTOR PROVIDER CONTRACT [KEY=VALUE...]",
		Short: "Link an actor to a provider for a contract",
		Long: `Link ACTOR (call alias or module key) to PROVIDER for CONTRACT, with
configuration values for the provider.

  wisp link put echo kvredis wasmcloud:keyvalue URL=redis://127.0.0.1:6379
  wisp link put api httpd wasmcloud:httpserver --link-name public port=8080`,
		Args: args(3, -1),
		RunE: func(cmd *cobra.Command, a []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			values := map[string]string{}
			for _, kv := range a[3:] {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return usageError{fmt.Errorf("link value %q: want KEY=VALUE", kv)}
				}
				values[k] = v
			}
			l := lattice.Link{ActorID: a[0], ProviderID: a[1], ContractID: a[2], LinkName: linkName, Values: values}
			if err := l.Validate(); err != nil {
				return usageError{err}
			}
			c, err := g.connect()
			if err != nil {
				return err
			}
			defer c.Close()
			stored, verdicts, expected, err := c.PutLinkAndWait(cmd.Context(), l, wait)
			if err != nil {
				return err
			}
			var refused []string
			for _, v := range verdicts {
				if v.Error != "" {
					refused = append(refused, fmt.Sprintf("provider %s on host %s: %s", v.Provider, v.HostID, v.Error))
				}
			}
			out := cmd.OutOrStdout()
			if output != outTable {
				if err := printStructured(out, output, map[string]any{"link": stored, "verdicts": verdicts, "providers": expected}); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(out, "linked %s (%s) to %s for %s, link name %s\n", stored.ActorName, stored.ActorID, stored.ProviderID, stored.ContractID, stored.LinkName)
				switch {
				case expected == 0:
					fmt.Fprintf(out, "no provider of %s serves link name %s yet: the link reaches one when it starts\n", stored.ContractID, stored.LinkName)
				case len(verdicts) < expected:
					fmt.Fprintf(out, "%d of %d providers applied it; %d did not answer within %s ('wisp link list' shows their state)\n",
						len(verdicts)-len(refused), expected, expected-len(verdicts), wait)
				case len(refused) == 0:
					fmt.Fprintf(out, "applied by %d provider(s)\n", expected)
				}
			}
			if len(refused) > 0 {
				return lattice.WithCode(lattice.CodeRefused, fmt.Errorf("link stored, but refused by %s (the host hands it again every few seconds; 'wisp link list' shows its state)", strings.Join(refused, "; ")))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&linkName, "link-name", lattice.DefaultLinkName, "link name (the binding the actor's host calls name)")
	cmd.Flags().StringVarP(&output, "output", "o", outTable, "output format: table, json or yaml")
	cmd.Flags().DurationVar(&wait, "wait", 5*time.Second, "how long to wait for the running providers' verdicts (a refusal exits 6)")
	return cmd
}

func newLinkDeleteCmd(g *globals) *cobra.Command {
	var linkName string
	cmd := &cobra.Command{
		Use:     "delete ACTOR CONTRACT",
		Aliases: []string{"del", "rm"},
		Short:   "Delete the link of an actor for a contract",
		Args:    args(2, 2),
		RunE: func(cmd *cobra.Command, a []string) error {
			if err := lattice.ValidateContract(a[1]); err != nil {
				return usageError{err}
			}
			c, err := g.connect()
			if err != nil {
				return err
			}
			defer c.Close()
			l, err := c.DeleteLink(cmd.Context(), a[0], a[1], linkName)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted the link of %s to %s for %s, link name %s\n", l.ActorName, l.ProviderID, l.ContractID, l.LinkName)
			return nil
		},
	}
	cmd.Flags().StringVar(&linkName, "link-name", lattice.DefaultLinkName, "link name")
	return cmd
}

func newLinkListCmd(g *globals) *cobra.Command {
	var l listing
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls", "get"},
		Short:   "List the links of the lattice",
		Args:    args(0, 0),
		RunE: g.listing(&l, func(cmd *cobra.Command, c *lattice.Client) error {
			ls, err := c.Links(cmd.Context())
			if err != nil {
				return err
			}
			states := linkStates(cmd.Context(), c, ls)
			rows := make([]linkRow, len(ls))
			for i, l := range ls {
				rows[i] = linkRow{l, states[i]}
			}
			return printList(cmd, &l, rows, linkColumns)
		}),
	}
	l.register(cmd)
	return cmd
}

// linkRow is a link with what the running providers made of it.
type linkRow struct {
	lattice.Link
	State string `json:"state"`
}

var linkColumns = []column[linkRow]{
	{header: "ACTOR", cell: func(l linkRow) string { return l.ActorName }},
	{header: "ACTOR ID", cell: func(l linkRow) string { return l.ActorID }},
	{header: "CONTRACT", cell: func(l linkRow) string { return l.ContractID }},
	{header: "LINK NAME", cell: func(l linkRow) string { return l.LinkName }},
	{header: "PROVIDER", cell: func(l linkRow) string { return l.ProviderID }},
	{header: "STATE", cell: func(l linkRow) string { return l.State }},
	{header: "CAPABILITY", wide: true, cell: func(l linkRow) string { return capList([]string{l.ContractID}) }},
	{header: "VALUES", cell: func(l linkRow) string { return keyValues(l.Values) }},
}

// linkStates says, for each link, what the providers running for it made
// of it: "applied" by all, "failed: why (host)" when one refused it, "no
// provider" when none runs.
func linkStates(ctx context.Context, c *lattice.Client, ls []lattice.Link) []string {
	out := make([]string, len(ls))
	byProvider := map[string]map[string]lattice.ProviderDescription{}
	for i, l := range ls {
		k := l.ContractID + "\x00" + l.LinkName
		provs, ok := byProvider[k]
		if !ok {
			provs, _ = c.ProvidersOf(ctx, l.ContractID, l.LinkName)
			byProvider[k] = provs
		}
		out[i] = "no provider"
		if len(provs) > 0 {
			out[i] = "applied"
		}
		for _, host := range slices.Sorted(maps.Keys(provs)) {
			if why, failed := provs[host].LinkErrors[l.ActorID]; failed {
				out[i] = "failed: " + why + " (host " + host[:min(8, len(host))] + ")"
				break
			}
		}
	}
	return out
}
