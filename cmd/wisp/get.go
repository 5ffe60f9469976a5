package main

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wisp-dev/wisp/lattice"
)

// getLong explains the grammar of listings; `wisp get --help` shows it.
const getLong = `List what the lattice holds, kubectl's way: 'wisp get RESOURCE'. Every
listing of wisp, here and under its nouns ('wisp app list', 'wisp keys list'),
takes the same output flags:

  -o table     columns for people (the default)
  -o wide      more columns
  -o json      the records, for scripts
  -o yaml      the same records as YAML
  --no-headers table rows without the header line

  wisp get hosts
  wisp get inventory -o wide
  wisp get links -o json | jq -r '.[].actor_name'`

func newGetCmd(g *globals) *cobra.Command {
	get := &cobra.Command{Use: "get", Short: "List hosts, what runs on them, and links", Long: getLong}
	get.AddCommand(newGetHostsCmd(g), newGetInventoryCmd(g), newGetLinksCmd(g), newGetProvidersCmd(g))
	return get
}

func newGetHostsCmd(g *globals) *cobra.Command {
	var l listing
	cmd := &cobra.Command{
		Use:     "hosts",
		Aliases: []string{"host"},
		Short:   "List the hosts of the lattice",
		Long: `List the hosts of the lattice that answer a ping: id, name, uptime, actors,
instances, version and the labels given with --label. -o wide adds the
engine, OS and architecture; -o json and yaml hold every label.`,
		Args: args(0, 0),
		RunE: g.listing(&l, func(cmd *cobra.Command, c *lattice.Client) error {
			hosts, err := c.Hosts(cmd.Context())
			if err != nil {
				return err
			}
			return printList(cmd, &l, hosts, hostColumns)
		}),
	}
	l.register(cmd)
	return cmd
}

var hostColumns = []column[lattice.HostSummary]{
	{header: "ID", cell: func(h lattice.HostSummary) string { return h.ID }},
	{header: "NAME", cell: func(h lattice.HostSummary) string { return h.Name }},
	{header: "UPTIME", cell: func(h lattice.HostSummary) string {
		return (time.Duration(h.UptimeSeconds) * time.Second).String()
	}},
	{header: "ACTORS", cell: func(h lattice.HostSummary) string { return fmt.Sprint(h.Actors) }},
	{header: "INSTANCES", cell: func(h lattice.HostSummary) string { return fmt.Sprint(h.Instances) }},
	{header: "VERSION", cell: func(h lattice.HostSummary) string { return h.Version }},
	{header: "ENGINE", wide: true, cell: func(h lattice.HostSummary) string { return h.Labels["wisp.engine"] }},
	{header: "OS/ARCH", wide: true, cell: func(h lattice.HostSummary) string { return h.Labels["wisp.os"] + "/" + h.Labels["wisp.arch"] }},
	{header: "LABELS", cell: func(h lattice.HostSummary) string { return userLabels(h.Labels) }},
}

// actorRow is one actor of one host, as `wisp get inventory` lists it.
type actorRow struct {
	host lattice.HostSummary
	d    lattice.ActorDescription
}

var actorColumns = []column[actorRow]{
	{header: "HOST", cell: func(r actorRow) string { return r.host.ID }},
	{header: "HOST NAME", wide: true, cell: func(r actorRow) string { return r.host.Name }},
	{header: "ACTOR", cell: func(r actorRow) string { return dash(r.d.Name) }},
	{header: "KEY", cell: func(r actorRow) string {
		switch {
		case r.d.Name == "":
			return ""
		case r.d.Key == "":
			return "(unsigned)"
		}
		return r.d.Key
	}},
	{header: "INSTANCES", cell: func(r actorRow) string {
		switch {
		case r.d.Name == "":
			return ""
		case r.d.Asleep:
			return "0 (asleep)"
		}
		return fmt.Sprint(r.d.Instances)
	}},
	{header: "BUSY", cell: func(r actorRow) string { return count(r, r.d.Busy) }},
	{header: "REPLACED", cell: func(r actorRow) string { return count(r, r.d.Replaced) }},
	{header: "CALLS", cell: func(r actorRow) string { return count(r, int(r.d.Calls)) }},
	{header: "CAPS", cell: func(r actorRow) string {
		if r.d.Name == "" {
			return ""
		}
		return capList(r.d.Caps)
	}},
	{header: "VERSION", wide: true, cell: func(r actorRow) string { return r.d.Version }},
	{header: "ISSUER", wide: true, cell: func(r actorRow) string { return r.d.Issuer }},
	{header: "REF", cell: func(r actorRow) string { return r.d.Ref }},
}

// count is a number cell of an actor row, empty on a host's empty row.
func count(r actorRow, n int) string {
	if r.d.Name == "" {
		return ""
	}
	return fmt.Sprint(n)
}

// providerRow is one provider of one host.
type providerRow struct {
	host lattice.HostSummary
	p    lattice.ProviderDescription
}

var providerColumns = []column[providerRow]{
	{header: "HOST", cell: func(r providerRow) string { return r.host.ID }},
	{header: "HOST NAME", wide: true, cell: func(r providerRow) string { return r.host.Name }},
	{header: "PROVIDER", cell: func(r providerRow) string { return r.p.Name }},
	{header: "CONTRACT", cell: func(r providerRow) string { return r.p.Contract }},
	{header: "LINK NAME", cell: func(r providerRow) string { return r.p.LinkName }},
	{header: "LINKS", cell: func(r providerRow) string { return fmt.Sprint(r.p.Links) }},
	{header: "HEALTH", cell: func(r providerRow) string { return r.p.Health() }},
	{header: "STARTED", wide: true, cell: func(r providerRow) string { return r.p.StartedAt.Local().Format(time.DateTime) }},
}

func newGetInventoryCmd(g *globals) *cobra.Command {
	var l listing
	cmd := &cobra.Command{
		Use:     "inventory [HOST]",
		Aliases: []string{"inv"},
		Short:   "List the actors and providers on one host, or on every host",
		Long: `List the actors on one host, or on every host: key, instances, calls in
flight, replaced instances, calls served, capabilities and reference; then
the providers, if any run. -o wide adds each host's name and each actor's
version and issuer; -o json and yaml print one inventory per host.`,
		Args: args(0, 1),
		RunE: func(cmd *cobra.Command, a []string) error {
			if err := l.check(); err != nil {
				return err
			}
			c, err := g.connect()
			if err != nil {
				return err
			}
			defer c.Close()
			ctx := cmd.Context()
			var ids []string
			if len(a) == 1 {
				ids = a
			} else {
				hosts, err := c.Hosts(ctx)
				if err != nil {
					return err
				}
				for _, h := range hosts {
					ids = append(ids, h.ID)
				}
			}
			invs := []*lattice.HostInventory{}
			for _, id := range ids {
				inv, err := c.Inventory(ctx, id)
				if err != nil {
					return err
				}
				invs = append(invs, inv)
			}
			if l.structured() {
				return printStructured(cmd.OutOrStdout(), l.output, invs)
			}
			var actors []actorRow
			var provs []providerRow
			for _, inv := range invs {
				if len(inv.Actors) == 0 {
					actors = append(actors, actorRow{host: inv.Host})
				}
				for _, d := range inv.Actors {
					actors = append(actors, actorRow{host: inv.Host, d: d})
				}
				for _, p := range inv.Providers {
					provs = append(provs, providerRow{host: inv.Host, p: p})
				}
			}
			if err := printList(cmd, &l, actors, actorColumns); err != nil {
				return err
			}
			if len(provs) == 0 {
				return nil
			}
			fmt.Fprintln(cmd.OutOrStdout())
			return printList(cmd, &l, provs, providerColumns)
		},
	}
	l.register(cmd)
	return cmd
}

func newGetProvidersCmd(g *globals) *cobra.Command {
	var l listing
	cmd := &cobra.Command{
		Use:     "providers",
		Aliases: []string{"provider", "prov"},
		Short:   "List the providers of every host, with their health",
		Long: `List the capability providers running on every host of the lattice: contract,
link name, links applied and health. A provider is healthy when it applied
every link it was handed and never had to be restarted; otherwise HEALTH says
how many links it refused (and the first reason) or how often it restarted.
Each refusal is also a link_failed event, each restart provider_restarted.`,
		Args: args(0, 0),
		RunE: g.listing(&l, func(cmd *cobra.Command, c *lattice.Client) error {
			invs, err := c.Inventories(cmd.Context())
			if err != nil {
				return err
			}
			provs := []providerRow{}
			for _, inv := range invs {
				for _, p := range inv.Providers {
					provs = append(provs, providerRow{host: inv.Host, p: p})
				}
			}
			if l.structured() {
				type record struct {
					Host string `json:"host_id"`
					lattice.ProviderDescription
					Health string `json:"health"`
				}
				out := make([]record, len(provs))
				for i, r := range provs {
					out[i] = record{r.host.ID, r.p, r.p.Health()}
				}
				return printStructured(cmd.OutOrStdout(), l.output, out)
			}
			return printList(cmd, &l, provs, providerColumns)
		}),
	}
	l.register(cmd)
	return cmd
}

// newGetLinksCmd is `wisp get links`, the same as `wisp link list`.
func newGetLinksCmd(g *globals) *cobra.Command {
	cmd := newLinkListCmd(g)
	cmd.Use, cmd.Aliases = "links", []string{"link"}
	return cmd
}

// printActor reports an actor started or scaled on a host.
func printActor(cmd *cobra.Command, output, hostID string, d *lattice.ActorDescription) error {
	if err := checkOutput(output); err != nil {
		return err
	}
	if output != outTable {
		return printStructured(cmd.OutOrStdout(), output, struct {
			Host  string                    `json:"host"`
			Actor *lattice.ActorDescription `json:"actor"`
		}{hostID, d})
	}
	fmt.Fprintf(cmd.OutOrStdout(), "actor %s running on host %s with %d instances\n", d.Name, hostID, d.Instances)
	return nil
}

// checkOutput checks the -o of a verb that prints one record: table (a
// sentence or labelled lines), json or yaml.
func checkOutput(o string) error {
	if o != outTable && o != outJSON && o != outYAML {
		return usageError{errBadOutput}
	}
	return nil
}

// userLabels formats the labels that are not built in.
// userLabels are the labels a person gave the host, then the built-in
// ones that tell hosts apart (where it runs and on which engine); the
// others are in -o json.
func userLabels(l map[string]string) string {
	var out []string
	for k, v := range l {
		if !strings.HasPrefix(k, "wisp.") && !strings.HasPrefix(k, "hostcore.") {
			out = append(out, k+"="+v)
		}
	}
	sort.Strings(out)
	for _, k := range []string{"wisp.os", "wisp.arch", "wisp.engine"} {
		if v, ok := l[k]; ok {
			out = append(out, k+"="+v)
		}
	}
	return strings.Join(out, ",")
}

// keyValues formats a map as sorted k=v pairs.
func keyValues(m map[string]string) string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, k+"="+m[k])
	}
	return strings.Join(out, ",")
}
