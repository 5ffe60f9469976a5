package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/wisp-dev/wisp/lattice/app"
)

const rolloutLong = `Drive the rollout of an application's deployed version by hand.

A new version of a manifest rolls out host by host: each host starts the new
module beside the old one, which then leaves the queue group and drains, so
no call fails (maxSurge and maxUnavailable on the spreadscaler bound how many
instances swap at once). With 'rollout: {strategy: canary, ...}' on the
spreadscaler the new version takes its share of the hosts step by step, and
the reconciler goes back to the previous version on its own when the new
one's error rate crosses maxErrorRate. See docs/apps.md.

  wisp app rollout status shop
  wisp app rollout pause shop     # no host takes the new version, no step advances
  wisp app rollout resume shop
  wisp app rollout undo shop      # back to the version deployed before`

func newAppRolloutCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "rollout", Short: "Show, pause, resume or undo the rollout of an application's new version", Long: rolloutLong,
		Args: noArgsHelp,
		RunE: func(c *cobra.Command, _ []string) error {
			return usageError{fmt.Errorf("%s needs a subcommand: %s", c.CommandPath(), subcommands(c))}
		}}
	cmd.AddCommand(newRolloutStatusCmd(g), newRolloutPauseCmd(g, true), newRolloutPauseCmd(g, false), newRolloutUndoCmd(g))
	return cmd
}

// rolloutView is what `wisp app rollout status` prints.
type rolloutView struct {
	Name       string             `json:"name"`
	Version    string             `json:"version"`
	Previous   string             `json:"previous,omitempty"`
	Paused     bool               `json:"paused,omitempty"`
	RolledBack string             `json:"rolled_back,omitempty"`
	Phase      string             `json:"phase,omitempty"`
	Components []rolloutComponent `json:"components,omitempty"`
}

type rolloutComponent struct {
	Name    string `json:"name"`
	Rollout string `json:"rollout"`
}

func newRolloutStatusCmd(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "status NAME",
		Short: "Show how far the rollout of an application's deployed version has come",
		Args:  args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			ctx := cmd.Context()
			return g.withApps(ctx, func(store *app.Store) error {
				rec, err := store.Get(ctx, a[0])
				if err != nil {
					return err
				}
				v := rolloutView{Name: rec.Name, Version: rec.Deployed, Previous: rec.Previous, Paused: rec.Paused, RolledBack: rec.RolledBack}
				st, err := store.Status(ctx, a[0])
				if err != nil && !errors.Is(err, app.ErrNotFound) {
					return err
				}
				if st != nil && st.Version == rec.Deployed {
					v.Phase = st.Summary()
					for _, cs := range st.Components {
						if cs.Rollout != "" {
							v.Components = append(v.Components, rolloutComponent{Name: cs.Name, Rollout: cs.Rollout})
						}
					}
				}
				out := cmd.OutOrStdout()
				if output != outTable {
					return printStructured(out, output, v)
				}
				fmt.Fprintf(out, "app %s version %s (previous %s)", v.Name, dash(v.Version), dash(v.Previous))
				if v.Phase != "" {
					fmt.Fprintf(out, ": %s", v.Phase)
				}
				fmt.Fprintln(out)
				if v.Paused {
					fmt.Fprintln(out, "rollout paused (wisp app rollout resume "+v.Name+")")
				}
				for _, c := range v.Components {
					fmt.Fprintf(out, "component %s: %s\n", c.Name, c.Rollout)
				}
				if len(v.Components) == 0 && v.Phase != "" {
					fmt.Fprintln(out, "every instance runs the deployed version")
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", outTable, "output format: table, json or yaml")
	return cmd
}

func newRolloutPauseCmd(g *globals, pause bool) *cobra.Command {
	use, short, said := "resume NAME", "Let a paused rollout go on", "resumed"
	if pause {
		use, short, said = "pause NAME", "Hold a rollout where it is: no more hosts take the new version, no canary step advances", "paused"
	}
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) error {
			return g.withApps(cmd.Context(), func(store *app.Store) error {
				rec, err := store.SetPaused(cmd.Context(), a[0], pause)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "rollout of app %s version %s %s\n", rec.Name, rec.Deployed, said)
				return nil
			})
		},
	}
}

func newRolloutUndoCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "undo NAME",
		Short: "Go back to the version deployed before the current one, rolling out as a new version does",
		Args:  args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) error {
			ctx := cmd.Context()
			return g.withApps(ctx, func(store *app.Store) error {
				rec, err := store.Get(ctx, a[0])
				if err != nil {
					return err
				}
				from := rec.Deployed
				rec, err = store.RollBack(ctx, a[0], from, "undone by hand (wisp app rollout undo)")
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "app %s goes back from version %s to %s\n", rec.Name, from, rec.Deployed)
				return nil
			})
		},
	}
}
