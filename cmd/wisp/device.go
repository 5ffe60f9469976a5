package main

import (
	"strings"
	"time"

	"github.com/spf13/cobra"

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
