//go:build !wispcli

package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/provider"
)

func newProviderRunCmd(g *globals) *cobra.Command {
	f := &upFlags{}
	var linkName string
	cmd := &cobra.Command{
		Use:   "run NAME",
		Short: "Run a provider in a process of its own, joined to a lattice",
		Long: `Run the built-in provider NAME in this process until interrupted, joined to
the lattice at --nats-url. The process is a host that runs providers only
(label wisp.role=provider): it serves the provider's subject, follows the
lattice's links and never takes actors. Actors anywhere on the lattice
reach it over NATS.

  wisp provider run mqtt --nats-url nats://10.0.0.5:4222 --label site=plant-1
  wisp provider run httpserver --link-name public`,
		Args: args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) error {
			if _, ok := provider.Builtin[a[0]]; !ok {
				return usageError{fmt.Errorf("no provider named %q: built in are %s", a[0], builtinNames())}
			}
			spec := a[0]
			if linkName != "" {
				spec += ":" + linkName
			}
			f.providers = []string{spec}
			f.providersOnly = true
			// The application reconciler belongs to hosts: a provider's
			// credentials may not touch the lattice's applications.
			f.noReconciler = true
			f.labels = append(f.labels, lattice.LabelRole+"="+lattice.RoleProvider)
			f.stderr = cmd.ErrOrStderr()
			return runUp(cmd.Context(), g, f, true)
		},
	}
	fs := pflag.NewFlagSet("up", pflag.ContinueOnError)
	f.register(fs) // the defaults of wisp up
	fl := cmd.Flags()
	fl.StringVar(&linkName, "link-name", lattice.DefaultLinkName, "link name the provider serves")
	fl.StringArrayVar(&f.labels, "label", nil, "host label key=value (repeatable)")
	fl.StringVar(&f.name, "name", "", "friendly name of the process (default: one made from its id)")
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fl.StringVar(&f.logFormat, "log-format", "text", "text or json")
	fl.StringVar(&f.metricsListen, "metrics-listen", "", "host:port where Prometheus metrics are served on /metrics (default: none)")
	fl.StringVar(&f.otlpEndpoint, "otlp-endpoint", "", "OTLP/HTTP receiver of the provider's spans (default: OTEL_EXPORTER_OTLP_ENDPOINT)")
	return cmd
}
