package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/oci"
)

type actorFlags struct {
	host        string
	name        string
	count       int
	maxPages    uint32
	maxPayload  int
	callTimeout time.Duration
	idle        time.Duration
	output      string
	constraints []string
}

// actorRef turns REF into what a host loads: an OCI reference as given, or
// a file path made absolute.
func actorRef(ref string) (string, error) {
	if _, err := os.Stat(ref); err != nil && oci.LooksLikeReference(ref) {
		// The host applies its own --allow-latest.
		if _, err := oci.ParseReference(ref, true); err != nil {
			return "", usageError{err}
		}
		return ref, nil
	}
	return filepath.Abs(ref)
}

func newStartActorCmd(g *globals) *cobra.Command {
	f := &actorFlags{}
	cmd := &cobra.Command{
		Use:   "actor REF",
		Short: "Start an actor from a module file or an OCI reference",
		Long: `Start an actor on a host and wait until it serves calls.

REF is an OCI reference (registry/repository:tag or @sha256:...) that the host
pulls, verifies and caches (see 'wisp push --help'), or a path to a .wasm
module readable by the host. A signed actor answers to its call alias and its
module key; an unsigned one (hosts with --allow-unsigned) to --name, by
default the file or repository name.

Without --host, an auction picks the host: every host whose labels include
all the --constraint pairs bids, and the CLI takes the host running the
fewest instances of this actor, then the least loaded one (fewest instances
of all actors), then the smallest host id. No bid is an error naming the
constraints (exit code 3).

The host acknowledges at once and reports the outcome as an actor_started
or actor_failed event, which the CLI waits for (--timeout, default 2m: a
first compile takes a while).

  wisp start actor localhost:5000/demo/echo:0.1.0 --count 2
  wisp start actor ./actors/echo/build/echo_s.wasm --count 4
  wisp start actor ./echo.wasm --constraint tier=pi --constraint zone=eu
  wisp start actor ./app.wasm --name api --call-timeout 2s --host NAB...`,
		Args: args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) error {
			ref, err := actorRef(a[0])
			if err != nil {
				return err
			}
			constraints, err := lattice.ParseConstraints(f.constraints)
			if err != nil {
				return usageError{err}
			}
			if f.host != "" && len(constraints) > 0 {
				return usageError{errors.New("give --host or --constraint, not both")}
			}
			c, err := g.connect()
			if err != nil {
				return err
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), g.timeout)
			defer cancel()
			hostID, how, err := pickHost(ctx, c, f.host, lattice.AuctionActorRequest{Ref: ref, Name: f.name, Constraints: constraints})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "starting %s on host %s (%s); waiting up to %s for it to serve...\n", filepath.Base(ref), hostID, how, g.timeout)
			d, err := c.StartActor(ctx, hostID, lattice.StartActorRequest{
				Ref:   ref,
				Name:  f.name,
				Count: f.count,
				Limits: lattice.ActorLimits{
					MaxMemoryPages: f.maxPages,
					MaxPayload:     f.maxPayload,
					CallTimeoutMS:  f.callTimeout.Milliseconds(),
					IdleTimeoutMS:  f.idle.Milliseconds(),
				},
			})
			if err != nil {
				return err
			}
			return printActor(cmd, f.output, hostID, d)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.host, "host", "", "host id to start on (default: chosen by an auction)")
	fl.StringArrayVar(&f.constraints, "constraint", nil, "label key=value a host must carry to bid (repeatable)")
	fl.StringVar(&f.name, "name", "", "call alias of the actor (default: the file name)")
	fl.IntVar(&f.count, "count", 1, "number of instances")
	fl.Uint32Var(&f.maxPages, "max-memory-pages", 0, "linear memory limit in 64 KiB pages (default: the host's)")
	fl.IntVar(&f.maxPayload, "max-payload", 0, "payload limit in bytes (default: the host's)")
	fl.DurationVar(&f.callTimeout, "call-timeout", 0, "call timeout (default: the host's)")
	fl.DurationVar(&f.idle, "scale-to-zero", 0, "drop to zero instances after this long without a call; the next call starts them again (0: never)")
	fl.StringVarP(&f.output, "output", "o", outTable, "output format: table, json or yaml")
	// Compiling a large module takes a while: wait longer than other
	// verbs. The local flag shadows the lattice verbs' --timeout, so
	// --help shows this default.
	var startTimeout time.Duration
	cmd.Flags().DurationVar(&startTimeout, "timeout", 2*time.Minute, "how long to wait for the actor to start (a pull and a compile take a while)")
	cmd.PreRun = func(cmd *cobra.Command, _ []string) { g.timeout = startTimeout }
	return cmd
}

func newScaleActorCmd(g *globals) *cobra.Command {
	f := &actorFlags{}
	cmd := &cobra.Command{
		Use:   "actor NAME COUNT",
		Short: "Set the number of instances of a running actor",
		Args:  args(2, 2),
		RunE: func(cmd *cobra.Command, a []string) error {
			var n int
			if _, err := fmt.Sscan(a[1], &n); err != nil || n < 1 {
				return usageError{fmt.Errorf("COUNT %q: want a number of instances, at least 1", a[1])}
			}
			c, err := g.connect()
			if err != nil {
				return err
			}
			defer c.Close()
			hosts, err := hostsRunning(cmd.Context(), c, a[0], f.host)
			if err != nil {
				return err
			}
			for _, h := range hosts {
				d, err := c.ScaleActor(cmd.Context(), h, a[0], n)
				if err != nil {
					return err
				}
				if err := printActor(cmd, f.output, h, d); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&f.host, "host", "", "host id (default: every host running the actor)")
	cmd.Flags().StringVarP(&f.output, "output", "o", outTable, "output format: table, json or yaml")
	return cmd
}

func newStopActorCmd(g *globals) *cobra.Command {
	var hostFlag string
	cmd := &cobra.Command{
		Use:   "actor NAME",
		Short: "Stop an actor; calls in flight finish first",
		Long: `Stop an actor on every host that runs it (or only on --host). The actor
leaves its queue group at once, calls already received finish, then its
instances close.`,
		Args: args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) error {
			c, err := g.connect()
			if err != nil {
				return err
			}
			defer c.Close()
			hosts, err := hostsRunning(cmd.Context(), c, a[0], hostFlag)
			if err != nil {
				return err
			}
			for _, h := range hosts {
				if err := c.StopActor(cmd.Context(), h, a[0]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "stopped %s on host %s\n", a[0], h)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&hostFlag, "host", "", "host id (default: every host running the actor)")
	return cmd
}

func newStopHostCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "host HOST",
		Short: "Drain a host and make it exit",
		Args:  args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) error {
			c, err := g.connect()
			if err != nil {
				return err
			}
			defer c.Close()
			if err := c.StopHost(cmd.Context(), a[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "host %s is draining\n", a[0])
			return nil
		},
	}
}

// pickHost returns want, or the winner of an auction (lattice.SortBids),
// and says how it was chosen.
func pickHost(ctx context.Context, c *lattice.Client, want string, req lattice.AuctionActorRequest) (string, string, error) {
	if want != "" {
		return want, "--host", nil
	}
	bids, err := c.AuctionActor(ctx, req)
	if err != nil {
		return "", "", err
	}
	b := bids[0]
	return b.HostID, fmt.Sprintf("%s won the auction among %d bids", b.HostName, len(bids)), nil
}

// hostsRunning returns want, or every host whose inventory holds actor.
func hostsRunning(ctx context.Context, c *lattice.Client, actor, want string) ([]string, error) {
	if want != "" {
		return []string{want}, nil
	}
	hosts, err := c.Hosts(ctx)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, h := range hosts {
		inv, err := c.Inventory(ctx, h.ID)
		if err != nil {
			continue // a host that left since the ping
		}
		for _, a := range inv.Actors {
			if a.Name == actor {
				ids = append(ids, h.ID)
			}
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%s: %w on any host of lattice %q", actor, lattice.ErrActorNotRunning, c.Lattice())
	}
	return ids, nil
}

var errBadOutput = errors.New("--output: want table, json or yaml")

func newUpdateActorCmd(g *globals) *cobra.Command {
	f := &actorFlags{}
	cmd := &cobra.Command{
		Use:   "actor NAME REF",
		Short: "Swap a running actor's module for another version without losing a call",
		Long: `Swap the module of a running actor for REF (a file or an OCI reference, as
for 'wisp start actor') on every host that runs it, or only on --host, one
host after another.

On each host the new version is loaded, compiled and instantiated, and joins
the actor's queue group beside the old one; then the old version leaves the
group, finishes the calls it received, and closes. No call fails: while both
serve, a caller gets an answer from one or the other. The new module must
answer to the same call alias (a signed module's claims fix it). The
instance count stays unless --count is given. An actor an application runs
is refused: deploy a new version of its manifest ('wisp app deploy').

  wisp update actor echo localhost:5000/demo/echo:0.2.0
  wisp update actor api ./build/api_s.wasm --count 4 --host NAB...`,
		Args: args(2, 2),
		RunE: func(cmd *cobra.Command, a []string) error {
			ref, err := actorRef(a[1])
			if err != nil {
				return err
			}
			c, err := g.connect()
			if err != nil {
				return err
			}
			defer c.Close()
			hosts, err := hostsRunning(cmd.Context(), c, a[0], f.host)
			if err != nil {
				return err
			}
			for _, h := range hosts {
				ctx, cancel := context.WithTimeout(cmd.Context(), g.timeout)
				d, err := c.UpdateActor(ctx, h, lattice.UpdateActorRequest{Actor: a[0], Ref: ref, Count: f.count})
				cancel()
				if err != nil {
					return err
				}
				if err := printActor(cmd, f.output, h, d); err != nil {
					return err
				}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.host, "host", "", "host id (default: every host running the actor, one after another)")
	fl.IntVar(&f.count, "count", 0, "instances of the new version (default: as many as the old one runs)")
	fl.StringVarP(&f.output, "output", "o", outTable, "output format: table, json or yaml")
	var updateTimeout time.Duration
	fl.DurationVar(&updateTimeout, "timeout", 2*time.Minute, "how long to wait on each host for the new version to serve (a pull and a compile take a while)")
	cmd.PreRun = func(cmd *cobra.Command, _ []string) { g.timeout = updateTimeout }
	return cmd
}
