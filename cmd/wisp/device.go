package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wisp-dev/wisp/internal/devicesim"
	"github.com/wisp-dev/wisp/lattice"
)

// deviceLong explains devices; `wisp device --help` shows it.
const deviceLong = `Microcontrollers that cannot run a host reach the lattice through a gateway:
a host running the coap provider, whose link listener is also a resource
directory (after RFC 9176). A device registers with POST /rd?ep=<name>&lt=<s>
and its link-format resources; actors then reach it as coap://<name>/..., and
the gateway observes its observable resources and hands each notification to
the linked actor as Coap.HandleRequest with method NOTIFY.

Devices that speak MQTT register with the mqtt provider instead, on a link
with DEVICES=true: a retained JSON message on wisp/devices/<name>/register
({"resources": [...], "attributes": {...}}) lists them, "offline" on
wisp/devices/<name>/state (their last will) takes them off. See
docs/providers.md.`

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

var deviceColumns = []column[lattice.DeviceInfo]{
	{header: "DEVICE", cell: func(d lattice.DeviceInfo) string { return d.Name }},
	{header: "PROTOCOL", cell: func(d lattice.DeviceInfo) string { return d.Protocol }},
	{header: "ADDRESS", cell: func(d lattice.DeviceInfo) string { return d.Address }},
	{header: "GATEWAY", cell: func(d lattice.DeviceInfo) string { return d.HostName }},
	{header: "GATEWAY ID", wide: true, cell: func(d lattice.DeviceInfo) string { return d.HostID }},
	{header: "PROVIDER", wide: true, cell: func(d lattice.DeviceInfo) string { return d.Provider }},
	{header: "ACTOR", cell: func(d lattice.DeviceInfo) string { return d.Actor }},
	{header: "RESOURCES", cell: func(d lattice.DeviceInfo) string { return strings.Join(d.Resources, ",") }},
	{header: "ATTRIBUTES", wide: true, cell: func(d lattice.DeviceInfo) string { return keyValues(d.Attributes) }},
	{header: "EXPIRES", cell: func(d lattice.DeviceInfo) string {
		if d.Expires.IsZero() {
			return "-" // held by the connection (MQTT's last will)
		}
		return time.Until(d.Expires).Round(time.Second).String()
	}},
}

func newDeviceListCmd(g *globals) *cobra.Command {
	var l listing
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the devices the lattice's gateways know",
		Long: `List the microcontrollers registered with the gateways of the lattice (hosts
running the coap provider, or the mqtt provider with DEVICES=true): name,
protocol, address, the gateway host and actor, their resources and when the
registration expires ("-": until the device's MQTT last will). -o wide adds
the gateway's id, the provider and the device's attributes.

  wisp device list
  wisp device list -o json | jq -r '.[].name'`,
		Args: args(0, 0),
		RunE: g.listing(&l, func(cmd *cobra.Command, c *lattice.Client) error {
			devs, err := c.Devices(cmd.Context())
			if err != nil {
				return err
			}
			return printList(cmd, &l, devs, deviceColumns)
		}),
	}
	l.register(cmd)
	return cmd
}
