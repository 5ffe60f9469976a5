package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/wisp-dev/wisp/internal/wasmbuild"
)

func newBuildCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "build DIR",
		Short: "Build a Go actor into a Wasm module",
		Long: `Build the Go actor package in DIR with the standard Go toolchain
(GOOS=wasip1 GOARCH=wasm, -buildmode=c-shared) into DIR/build/<name>.wasm,
and print the module's path.

  wisp build ./actors/echo             # -> actors/echo/build/echo.wasm`,
		Args: args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) error {
			path, err := wasmbuild.Build(cmd.Context(), a[0], wasmbuild.Options{Output: out, Stderr: os.Stderr})
			if err != nil {
				return err
			}
			fmt.Println(path)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "module path (default DIR/build/<name>.wasm)")
	return cmd
}
