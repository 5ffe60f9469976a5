//go:build !wispcli

package main

import (
	"github.com/spf13/cobra"

	// The built-in providers, registered by name for wisp up and wisp
	// provider run.
	_ "github.com/wisp-dev/wisp/provider/coap"
	_ "github.com/wisp-dev/wisp/provider/httpserver"
	_ "github.com/wisp-dev/wisp/provider/keyvalue"
	_ "github.com/wisp-dev/wisp/provider/messaging"
	_ "github.com/wisp-dev/wisp/provider/mqtt"
)

// edition is what `wisp version` says of this build: nothing, for the
// full wisp.
const edition = ""

// addHostVerbs adds the verbs that run part of a lattice in this process:
// a host (up), a provider (provider run), the dashboard (ui) and a
// simulated device (device sim), and the hidden gendoc. The CLI alone,
// built with -tags wispcli, leaves them out, and with them the engines,
// the embedded NATS server and the providers' libraries.
func addHostVerbs(g *globals, root, provider, device *cobra.Command) {
	root.AddCommand(g.withNATS(newUpCmd(g)), g.withNATS(newUICmd(g)), newGenDocCmd())
	provider.AddCommand(g.withNATS(newProviderRunCmd(g)))
	device.AddCommand(newDeviceSimCmd())
}
