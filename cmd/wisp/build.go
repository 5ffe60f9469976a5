package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wisp-dev/wisp/host/claims"
	"github.com/wisp-dev/wisp/internal/wasmbuild"
)

func newBuildCmd() *cobra.Command {
	var out string
	var noSign bool
	f := &signFlags{}
	cmd := &cobra.Command{
		Use:   "build DIR",
		Short: "Build a Go actor into a signed Wasm module",
		Long: `Build the Go actor package in DIR with the standard Go toolchain
(GOOS=wasip1 GOARCH=wasm, -buildmode=c-shared) into DIR/build/<name>.wasm,
sign it, and print the module's path.

The module is signed in place (see 'wisp claims --help') with the key store's
account key and the module's own key, <name>_module.nk, both created on first
use (see 'wisp keys --help'). Its name and call alias are DIR's name; it is
granted no capabilities unless --cap says so. --no-sign skips signing.

  wisp build ./actors/echo             # -> actors/echo/build/echo.wasm, signed
  wisp build ./actors/kv --cap wasmcloud:keyvalue --rev 2 --ver 0.2.0
  wisp build ./actors/echo --issuer-seed-file ci_account.nk
  wisp build ./actors/echo --no-sign`,
		Args: args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) error {
			dir := a[0]
			var opts claims.SignOptions
			var issuer, subject *claims.KeyPair
			if noSign {
				if ch := f.changed(cmd); len(ch) > 0 {
					return usageError{fmt.Errorf("--no-sign cannot be combined with %s", strings.Join(ch, ", "))}
				}
			} else {
				var err error
				if opts, err = f.options(cmd, time.Now()); err != nil {
					return err
				}
				target := out
				if target == "" {
					target = wasmbuild.DefaultOutput(dir)
				}
				// Keys first: a bad seed file fails before a long build.
				if issuer, subject, err = f.keys(target, cmd.ErrOrStderr()); err != nil {
					return err
				}
				defer issuer.Wipe()
				defer subject.Wipe()
			}
			path, err := wasmbuild.Build(cmd.Context(), dir, wasmbuild.Options{Output: out, Stderr: cmd.ErrOrStderr()})
			if err != nil {
				return err
			}
			if !noSign {
				abs, err := filepath.Abs(dir)
				if err != nil {
					return fmt.Errorf("build %s: %w", dir, err)
				}
				opts.Name = filepath.Base(abs)
				opts.CallAlias = opts.Name
				if err := signInPlace(path, opts, issuer, subject); err != nil {
					return fmt.Errorf("%w (the module was built but is not signed)", err)
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "signed %s as %q (call alias %q): module %s, issuer %s, capabilities: %s\n",
					filepath.Base(path), opts.Name, claims.NormalizeCallAlias(opts.CallAlias), subject.PublicKey(), issuer.PublicKey(), capList(opts.Caps))
			}
			fmt.Fprintln(cmd.OutOrStdout(), path)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "module path (default DIR/build/<name>.wasm)")
	cmd.Flags().BoolVar(&noSign, "no-sign", false, "do not sign the module")
	f.register(cmd)
	return cmd
}

// signInPlace replaces the module at path with a signed copy.
func signInPlace(path string, opts claims.SignOptions, issuer, subject *claims.KeyPair) error {
	data, err := readModule(path)
	if err != nil {
		return fmt.Errorf("signing: %w", err)
	}
	signed, err := claims.Sign(data, opts, issuer, subject)
	if err != nil {
		return fmt.Errorf("signing %s: %w", path, err)
	}
	return writeModule(path, signed, path)
}
