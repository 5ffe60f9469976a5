package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wisp-dev/wisp/lattice"
)

func newGetHostsCmd(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "hosts",
		Short: "List the hosts of the lattice",
		Args:  args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			c, err := g.connect()
			if err != nil {
				return err
			}
			defer c.Close()
			hosts, err := c.Hosts(cmd.Context())
			if err != nil {
				return err
			}
			if output == "json" {
				return printJSON(hosts)
			}
			w := table()
			fmt.Fprintln(w, "ID\tNAME\tUPTIME\tACTORS\tINSTANCES\tVERSION\tLABELS")
			for _, h := range hosts {
				fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d\t%s\t%s\n", h.ID, h.Name, time.Duration(h.UptimeSeconds)*time.Second,
					h.Actors, h.Instances, h.Version, userLabels(h.Labels))
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	return cmd
}

func newGetInventoryCmd(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "inventory [HOST]",
		Short: "List the actors on one host, or on every host",
		Args:  args(0, 1),
		RunE: func(cmd *cobra.Command, a []string) error {
			if err := checkOutput(output); err != nil {
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
			if output == "json" {
				return printJSON(invs)
			}
			w := table()
			fmt.Fprintln(w, "HOST\tACTOR\tKEY\tINSTANCES\tBUSY\tREPLACED\tCALLS\tCAPS\tREF")
			for _, inv := range invs {
				if len(inv.Actors) == 0 {
					fmt.Fprintf(w, "%s\t-\t\t\t\t\t\t\t\n", inv.Host.ID)
				}
				for _, d := range inv.Actors {
					key := d.Key
					if key == "" {
						key = "(unsigned)"
					}
					inst := fmt.Sprint(d.Instances)
					if d.Asleep {
						inst = "0 (asleep)"
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\n", inv.Host.ID, d.Name, key, inst, d.Busy, d.Replaced, d.Calls, capList(d.Caps), d.Ref)
				}
			}
			if err := w.Flush(); err != nil {
				return err
			}
			var provs bool
			for _, inv := range invs {
				provs = provs || len(inv.Providers) > 0
			}
			if !provs {
				return nil
			}
			fmt.Println()
			fmt.Fprintln(w, "HOST\tPROVIDER\tCONTRACT\tLINK NAME\tLINKS")
			for _, inv := range invs {
				for _, p := range inv.Providers {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\n", inv.Host.ID, p.Name, p.Contract, p.LinkName, p.Links)
				}
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	return cmd
}

func printActor(output, hostID string, d *lattice.ActorDescription) error {
	if err := checkOutput(output); err != nil {
		return err
	}
	if output == "json" {
		return printJSON(struct {
			Host  string                    `json:"host"`
			Actor *lattice.ActorDescription `json:"actor"`
		}{hostID, d})
	}
	fmt.Printf("actor %s running on host %s with %d instances\n", d.Name, hostID, d.Instances)
	return nil
}

func checkOutput(o string) error {
	if o != "table" && o != "json" {
		return usageError{errBadOutput}
	}
	return nil
}

func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func table() *tabwriter.Writer { return tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0) }

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
