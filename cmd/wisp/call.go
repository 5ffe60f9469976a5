package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/wisp-dev/wisp/lattice"
)

func newCallCmd(g *globals) *cobra.Command {
	var dataFile string
	var raw bool
	cmd := &cobra.Command{
		Use:   "call ACTOR OPERATION [DATA]",
		Short: "Call an operation on an actor and print its answer",
		Long: `Call OPERATION on ACTOR (its call alias or module key) with DATA as the
payload, and print the answer. With --data-file the payload is read from a
file ('-' for stdin).

  wisp call echo Echo.Reply hello
  wisp call echo Echo.Reply --data-file request.bin --raw > answer.bin

The same call from any NATS client, with no wisp code:

  nats req wisp.rpc.default.echo hello -H Wisp-Operation:Echo.Reply`,
		Args: args(2, 3),
		RunE: func(cmd *cobra.Command, a []string) error {
			if err := lattice.ValidateAlias("actor", a[0]); err != nil {
				return usageError{err}
			}
			var payload []byte
			switch {
			case dataFile != "" && len(a) == 3:
				return usageError{fmt.Errorf("give DATA or --data-file, not both")}
			case dataFile == "-":
				b, err := io.ReadAll(cmd.InOrStdin())
				if err != nil {
					return err
				}
				payload = b
			case dataFile != "":
				b, err := os.ReadFile(dataFile)
				if err != nil {
					return err
				}
				payload = b
			case len(a) == 3:
				payload = []byte(a[2])
			}
			c, err := g.connect()
			if err != nil {
				return err
			}
			defer c.Close()
			out, err := c.Call(cmd.Context(), a[0], a[1], payload)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if !raw {
				out = append(out, '\n')
			}
			if _, err := w.Write(out); err != nil {
				return fmt.Errorf("write the answer: %w", err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dataFile, "data-file", "", "read the payload from this file ('-' for stdin)")
	cmd.Flags().BoolVar(&raw, "raw", false, "print the answer's bytes only, without a trailing newline")
	return cmd
}
