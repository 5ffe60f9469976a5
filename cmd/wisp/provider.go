package main

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/provider"
)

func newStartProviderCmd(g *globals) *cobra.Command {
	var hostFlag, linkName, output string
	var constraints []string
	cmd := &cobra.Command{
		Use:   "provider NAME",
		Short: "Run a built-in capability provider on a host",
		Long: `Run a capability provider on a host. It serves its contract under --link-name
to every actor linked to it ('wisp link put'), from any host of the lattice;
actors on the same host reach it without a NATS round trip. Built in:
` + builtinNames() + ` (docs/providers.md).

Without --host an auction picks the least loaded host whose labels include
every --constraint and that does not run the provider under that link name.

  wisp start provider httpserver
  wisp start provider keyvalue --constraint tier=cloud
  wisp start provider mqtt --link-name plant --host NAB...`,
		Args: args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			if _, ok := provider.Builtin[a[0]]; !ok {
				return usageError{fmt.Errorf("no provider named %q: built in are %s", a[0], builtinNames())}
			}
			cons, err := lattice.ParseConstraints(constraints)
			if err != nil {
				return usageError{err}
			}
			if hostFlag != "" && len(cons) > 0 {
				return usageError{errors.New("give --host or --constraint, not both")}
			}
			c, err := g.connect()
			if err != nil {
				return err
			}
			defer c.Close()
			ctx := cmd.Context()
			hostID := hostFlag
			if hostID == "" {
				bids, err := c.AuctionProvider(ctx, lattice.AuctionProviderRequest{Name: a[0], LinkName: linkName, Constraints: cons})
				if err != nil {
					return err
				}
				hostID = bids[0].HostID
			}
			d, err := c.StartProvider(ctx, hostID, lattice.StartProviderRequest{Name: a[0], LinkName: linkName})
			if err != nil {
				return err
			}
			if output != outTable {
				return printStructured(cmd.OutOrStdout(), output, map[string]any{"host_id": hostID, "provider": d})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "provider %s (%s, link name %s) running on host %s\n", d.Name, d.Contract, d.LinkName, hostID)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&hostFlag, "host", "", "host id to run on (default: chosen by an auction)")
	fl.StringArrayVar(&constraints, "constraint", nil, "label key=value a host must carry to bid (repeatable)")
	fl.StringVar(&linkName, "link-name", lattice.DefaultLinkName, "link name the provider serves")
	fl.StringVarP(&output, "output", "o", outTable, "output format: table, json or yaml")
	return cmd
}

func newStopProviderCmd(g *globals) *cobra.Command {
	var hostFlag, linkName string
	cmd := &cobra.Command{
		Use:   "provider NAME",
		Short: "Stop a capability provider",
		Long: `Stop the provider NAME serving --link-name on every host that runs it (or
only on --host). Its listeners drain and close.`,
		Args: args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) error {
			c, err := g.connect()
			if err != nil {
				return err
			}
			defer c.Close()
			ctx := cmd.Context()
			hosts := []string{hostFlag}
			if hostFlag == "" {
				hosts = nil
				all, err := c.Hosts(ctx)
				if err != nil {
					return err
				}
				for _, h := range all {
					inv, err := c.Inventory(ctx, h.ID)
					if err != nil {
						continue
					}
					for _, p := range inv.Providers {
						if p.Name == a[0] && p.LinkName == linkName {
							hosts = append(hosts, h.ID)
						}
					}
				}
				if len(hosts) == 0 {
					return fmt.Errorf("provider %s (link name %q): %w", a[0], linkName, errProviderNotRunning)
				}
			}
			for _, h := range hosts {
				if err := c.StopProvider(ctx, h, lattice.StopProviderRequest{Name: a[0], LinkName: linkName}); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "stopped provider %s on host %s\n", a[0], h)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&hostFlag, "host", "", "host id (default: every host running it)")
	cmd.Flags().StringVar(&linkName, "link-name", lattice.DefaultLinkName, "link name the provider serves")
	return cmd
}

// errProviderNotRunning is a not-found error (exit code 3).
var errProviderNotRunning = errors.New("not running on any host")

// builtinNames lists the built-in providers for help and errors.
func builtinNames() string {
	return strings.Join(slices.Sorted(maps.Keys(provider.Builtin)), ", ")
}
