//go:build !wispcli

package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// The CLI reference in docs/cli is generated from the command tree, as
// Caddy generates its manual pages, so help and docs cannot drift:
// TestCLIReferenceIsUpToDate regenerates it and fails on any difference.
// After changing a command, update it with
//
//	go generate ./cmd/wisp
//
//go:generate go run . gendoc ../../docs/cli

// newGenDocCmd is the hidden `wisp gendoc DIR`, which writes the reference.
func newGenDocCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "gendoc DIR",
		Short:  "Write the CLI reference as Markdown into DIR (docs/cli)",
		Hidden: true,
		Args:   args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) error {
			// The reference shows the built-in defaults, not the ones this
			// shell's WISP_* variables would give.
			for _, kv := range os.Environ() {
				if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "WISP_") {
					os.Unsetenv(k)
				}
			}
			if err := writeReference(a[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote the CLI reference to %s\n", a[0])
			return nil
		},
	}
}

// writeReference writes one Markdown page per command of a fresh command
// tree into dir, which must exist, and removes the pages of commands that
// are gone.
func writeReference(dir string) error {
	old, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("CLI reference: %w", err)
	}
	for _, e := range old {
		if strings.HasSuffix(e.Name(), ".md") {
			if err := os.Remove(dir + "/" + e.Name()); err != nil {
				return fmt.Errorf("CLI reference: %w", err)
			}
		}
	}
	root := newRootCmd()
	root.InitDefaultCompletionCmd()
	walkCommands(root, addAliases)
	if err := doc.GenMarkdownTree(root, dir); err != nil {
		return fmt.Errorf("CLI reference: %w", err)
	}
	return nil
}

// walkCommands calls fn on c and every command below it.
func walkCommands(c *cobra.Command, fn func(*cobra.Command)) {
	fn(c)
	for _, sc := range c.Commands() {
		walkCommands(sc, fn)
	}
}

// addAliases ends a command's description with its other spellings, which
// help shows under "Aliases:" and cobra's Markdown leaves out.
func addAliases(c *cobra.Command) {
	if len(c.Aliases) == 0 {
		return
	}
	long := c.Long
	if long == "" {
		long = c.Short
	}
	var also []string
	for _, a := range c.Aliases {
		also = append(also, "'"+c.Parent().CommandPath()+" "+a+"'")
	}
	c.Long = long + "\n\nAlso spelled " + strings.Join(also, ", ") + "."
}
