//go:build !wispcli

package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/wisp-dev/wisp/internal/devicesim"
)

func newDeviceSimCmd() *cobra.Command {
	var cfg devicesim.Config
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Run a simulated CoAP microcontroller: a temperature sensor and an LED",
		Long: `Run a simulated microcontroller until interrupted: a CoAP server with an
observable temperature at /temp (it drifts every --interval) and an LED at
/led (GET, or PUT on|off), listed at /.well-known/core. With --gateway it
registers with that gateway's resource directory from its own socket,
refreshes the registration at half its --lifetime, and leaves on Ctrl-C.

  wisp device sim --name kitchen --gateway 127.0.0.1:5683
  coap-client-notls -m put -e on coap://127.0.0.1:<port>/led`,
		Args: args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !validName(cfg.Name) {
				return usageError{fmt.Errorf("--name %q: want letters, digits, '-' and '_'", cfg.Name)}
			}
			ctx := cmd.Context()
			sim, err := devicesim.Start(ctx, cfg)
			if err != nil {
				return err
			}
			stderr := cmd.ErrOrStderr()
			fmt.Fprintf(stderr, "device %s listening on coap://%s (/temp, /led)", cfg.Name, sim.Addr())
			if cfg.Gateway != "" {
				fmt.Fprintf(stderr, ", registered with %s", cfg.Gateway)
			}
			fmt.Fprintln(stderr, "\nCtrl-C to stop.")
			<-ctx.Done()
			// Ctrl-C ended cmd's context: leave the gateway's directory
			// on a context of its own.
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return sim.Stop(sctx)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&cfg.Name, "name", "sim-1", "endpoint name to register under")
	fl.StringVar(&cfg.Listen, "listen", "127.0.0.1:0", "UDP address of the device")
	fl.StringVar(&cfg.Gateway, "gateway", "", "host:port of the gateway to register with")
	fl.DurationVar(&cfg.Lifetime, "lifetime", time.Minute, "registration lifetime")
	fl.DurationVar(&cfg.Interval, "interval", time.Second, "time between temperature changes")
	return cmd
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
