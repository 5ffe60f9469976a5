//go:build wispcli

package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// edition is what `wisp version` says of this build.
const edition = " (CLI alone: -tags wispcli)"

// addHostVerbs adds, in the CLI alone (built with -tags wispcli), a
// command for each verb that runs part of a lattice in this process. Each
// says, in help and when run, which build has it, so that a script
// calling `wisp up` on the wrong binary fails with a reason instead of
// "unknown command".
func addHostVerbs(_ *globals, root, provider, device *cobra.Command) {
	root.AddCommand(hostOnly("up"), hostOnly("ui"))
	provider.AddCommand(hostOnly("run"))
	device.AddCommand(hostOnly("sim"))
}

func hostOnly(verb string) *cobra.Command {
	return &cobra.Command{
		Use:                verb,
		Short:              "Not in the CLI alone: needs the full wisp (go build ./cmd/wisp)",
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return fmt.Errorf("%s: this wisp is the CLI alone (built with -tags wispcli), which cannot run hosts, providers, the dashboard or devices; build the full wisp with 'go build ./cmd/wisp'", cmd.CommandPath())
		},
	}
}
