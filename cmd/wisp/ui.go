//go:build !wispcli

package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"

	"github.com/wisp-dev/wisp/internal/logging"
	"github.com/wisp-dev/wisp/internal/ui"
	"github.com/wisp-dev/wisp/lattice"
)

func newUICmd(g *globals) *cobra.Command {
	var listen string
	var remote bool
	var refresh time.Duration
	var logFormat string
	cmd := &cobra.Command{
		Use:   "ui",
		Short: "Serve a live web dashboard of the lattice",
		Long: `Serve a web dashboard of the lattice until interrupted: hosts (grouped by a
label you pick), actors per host and across the lattice, providers and
links with their health, devices behind gateways, applications with their
status, placement and history, the live event stream and a topology
picture. It updates itself as the lattice changes (server-sent events).

This process holds the NATS connection, with the context or credentials
the NATS flags give; the browser never sees them. Scaling or stopping an
actor and undeploying an application from the page need a role that may
do it (admin); NATS's refusal is shown on the page otherwise. Each action
asks for confirmation and carries a per-process token, so other sites
cannot drive it.

It listens on loopback only, unless --allow-remote: the dashboard has no
login of its own, and whoever reaches it acts with your credentials.

  wisp ui                                  # http://127.0.0.1:3030/
  wisp ui --listen 127.0.0.1:8080 --context prod`,
		Args: args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkUIListen("--listen", listen, remote, "--allow-remote"); err != nil {
				return err
			}
			log, err := logging.New(cmd.ErrOrStderr(), logging.Config{Format: logFormat})
			if err != nil {
				return usageError{err}
			}
			c, err := g.connect()
			if err != nil {
				return err
			}
			defer c.Close()
			srv, err := ui.New(ui.Config{Client: c, Refresh: refresh, Log: log})
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("ui: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wisp ui: http://%s/ (lattice %s via %s; Ctrl-C stops)\n", ln.Addr(), c.Lattice(), c.Conn().ConnectedUrlRedacted())
			return srv.Serve(cmd.Context(), ln)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:3030", "host:port the dashboard listens on")
	cmd.Flags().BoolVar(&remote, "allow-remote", false, "allow a --listen address that is not loopback (the dashboard has no login)")
	cmd.Flags().StringVar(&logFormat, "log-format", "text", "log format: text or json")
	cmd.Flags().DurationVar(&refresh, "refresh", 3*time.Second, "how often the whole lattice is read again between events")
	return cmd
}

// checkUIListen refuses a dashboard address that is not host:port, or
// not loopback unless remote: the dashboard has no login of its own.
func checkUIListen(flag, addr string, remote bool, remoteFlag string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return usageError{fmt.Errorf("%s %q: want host:port: %w", flag, addr, err)}
	}
	if ip := net.ParseIP(host); !remote && host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return usageError{fmt.Errorf("%s %s is not a loopback address: the dashboard has no login and acts with the process's NATS credentials; give %s to serve it there anyway (behind a proxy that authenticates)", flag, addr, remoteFlag)}
	}
	return nil
}

// serveUI serves the dashboard on addr with the connection nc, as `wisp
// up --ui` does, until the returned stop is called.
func serveUI(nc *nats.Conn, g *globals, addr string, log *slog.Logger) (stop func(), err error) {
	c, err := lattice.NewClient(nc, lattice.WithLattice(g.lattice), lattice.WithJetStreamDomain(g.jsDomain))
	if err != nil {
		return nil, err
	}
	srv, err := ui.New(ui.Config{Client: c, Log: log})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--ui: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ctx, ln); err != nil {
			log.Error("dashboard stopped", "err", err)
		}
	}()
	log.Info("dashboard served", "url", "http://"+ln.Addr().String()+"/")
	return func() { cancel(); <-done }, nil
}
