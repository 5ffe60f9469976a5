package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wisp-dev/wisp/lattice"
)

func newEventsCmd(g *globals) *cobra.Command {
	var output string
	var opts lattice.EventOptions
	var count int
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Print the lattice's events as they happen, one per line",
		Long: `Print the lattice's events (CloudEvents 1.0) one per line until interrupted:
` + strings.Join(lattice.EventTypes, ", ") + `.

With --replay, first the events the lattice's event stream still holds (the
last 24 hours, at most 10,000), then live ones. -o json prints each event's
CloudEvents JSON.

  wisp events
  wisp events --replay --type actor_failed -o json
  wisp events --count 1 --type host_started      # wait for the next host

It runs until interrupted, or for --timeout when that flag is given; with
--count it exits 5 when fewer events came in that time.`,
		Args: args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			if output != outTable && output != outJSON {
				return usageError{errors.New("--output: want table or json (one CloudEvent per line)")}
			}
			for _, t := range opts.Types {
				if !slices.Contains(lattice.EventTypes, t) {
					return usageError{fmt.Errorf("--type %q: no such event (want some of %s)", t, strings.Join(lattice.EventTypes, ", "))}
				}
			}
			c, err := g.connect()
			if err != nil {
				return err
			}
			defer c.Close()
			ctx, cancel := context.WithCancel(cmd.Context())
			if cmd.Flags().Changed("timeout") {
				ctx, cancel = context.WithTimeout(cmd.Context(), g.timeout)
			}
			defer cancel()
			seen := 0
			w := cmd.OutOrStdout()
			enc := json.NewEncoder(w)
			defer func() {
				if count > 0 && seen < count && errors.Is(ctx.Err(), context.DeadlineExceeded) {
					err = fmt.Errorf("%d of %d events within %s: %w", seen, count, g.timeout, context.DeadlineExceeded)
				}
			}()
			return c.Events(ctx, opts, func(e lattice.Event) bool {
				if output == outJSON {
					enc.Encode(e)
				} else {
					fmt.Fprintf(w, "%s  %-15s %s  %s\n", e.Time.Local().Format("15:04:05.000"), e.ShortType(), hostOf(e.Source), eventText(e))
				}
				seen++
				return count <= 0 || seen < count
			})
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", outTable, "output format: table or json (a CloudEvent per line)")
	cmd.Flags().BoolVar(&opts.Replay, "replay", false, "start with the events the lattice's stream still holds")
	cmd.Flags().StringSliceVar(&opts.Types, "type", nil, "only these event types (comma-separated, e.g. actor_started,actor_failed)")
	cmd.Flags().IntVar(&count, "count", 0, "exit after this many events (0: run until interrupted)")
	return cmd
}

func hostOf(source string) string {
	if i := strings.LastIndexByte(source, '/'); i >= 0 {
		return source[i+1:]
	}
	return source
}

// eventText summarises an event's data in a few words.
func eventText(e lattice.Event) string {
	switch e.ShortType() {
	case lattice.EventHostStarted, lattice.EventHostHeartbeat, lattice.EventHostStopped:
		var d lattice.HostEventData
		json.Unmarshal(e.Data, &d)
		return fmt.Sprintf("%s actors=%d instances=%d labels=%s", d.Host.Name, d.Host.Actors, d.Host.Instances, userLabels(d.Host.Labels))
	case lattice.EventLinkSet, lattice.EventLinkDeleted:
		var d lattice.LinkEventData
		json.Unmarshal(e.Data, &d)
		return fmt.Sprintf("%s -> %s %s (%s)", d.Link.ActorName, d.Link.ProviderID, d.Link.ContractID, d.Link.LinkName)
	}
	var d lattice.ActorEventData
	json.Unmarshal(e.Data, &d)
	s := d.Name
	if d.Actor != nil {
		s = fmt.Sprintf("%s instances=%d", d.Actor.Name, d.Actor.Instances)
	}
	if d.Error != "" {
		s += " error: " + d.Error
	}
	return s
}
