package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"

	"github.com/wisp-dev/wisp/lattice"
)

func newSpyCmd(g *globals) *cobra.Command {
	var output string
	var payload bool
	var count int
	cmd := &cobra.Command{
		Use:   "spy ACTOR",
		Short: "Watch an actor's calls live: invocations in, host calls out",
		Long: `Print each call the actor (its call alias) serves and each host call it makes,
on every host that runs it, as they happen: time, host, direction (in: an
invocation; out: a host call), operation, caller or target, sizes, duration
and outcome. --payload adds the calls' bodies. -o json prints the records.

Hosts publish records only while a spy watches (it renews its interest every
2s), so a lattice nobody spies on pays nothing. Spying needs the admin role
or the observer role ('wisp creds create NAME --role observer').

  wisp spy kvcounter
  wisp spy echo --payload -o json --count 10`,
		Args: args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) (err error) {
			if err := checkOutput(output); err != nil {
				return err
			}
			actor := a[0]
			if err := lattice.ValidateName("actor", actor); err != nil {
				return usageError{err}
			}
			c, err := g.connect()
			if err != nil {
				return err
			}
			defer c.Close()
			ctx, cancel := context.WithCancel(cmd.Context())
			if cmd.Flags().Changed("timeout") {
				ctx, cancel = context.WithTimeout(cmd.Context(), g.timeout)
			}
			defer cancel()
			seen := 0
			err = watchActor(ctx, c.Conn(), g.lattice, actor, payload, func(rec lattice.SpyRecord) bool {
				printSpyRecord(cmd.OutOrStdout(), output, rec)
				seen++
				return count <= 0 || seen < count
			})
			if count > 0 && seen < count && errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("%d of %d calls within %s: %w", seen, count, g.timeout, context.DeadlineExceeded)
			}
			return err
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	cmd.Flags().BoolVar(&payload, "payload", false, "show the calls' bodies")
	cmd.Flags().IntVar(&count, "count", 0, "exit after this many calls (0: run until interrupted)")
	return cmd
}

// watchActor subscribes to actor's records, keeps the hosts' interest alive and
// hands each record to fn until fn returns false or ctx ends.
func watchActor(ctx context.Context, nc *nats.Conn, latticeID, actor string, payload bool, fn func(lattice.SpyRecord) bool) error {
	recs := make(chan *nats.Msg, 1024)
	sub, err := nc.ChanSubscribe(lattice.SpySubject(latticeID, actor), recs)
	if err != nil {
		return fmt.Errorf("spy on %s: %w", actor, err)
	}
	defer sub.Unsubscribe()
	interest, _ := json.Marshal(lattice.SpyInterest{Payload: payload})
	renew := func() error {
		if err := nc.Publish(lattice.SpyInterestSubject(latticeID, actor), interest); err != nil {
			return fmt.Errorf("spy on %s: %w", actor, err)
		}
		return nc.Flush()
	}
	if err := renew(); err != nil {
		return err
	}
	tick := time.NewTicker(lattice.SpyInterestEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if err := renew(); err != nil {
				return err
			}
		case m := <-recs:
			var rec lattice.SpyRecord
			if err := json.Unmarshal(m.Data, &rec); err != nil {
				continue
			}
			if !fn(rec) {
				return nil
			}
		}
	}
}

func printSpyRecord(w io.Writer, output string, rec lattice.SpyRecord) {
	if output == "json" {
		json.NewEncoder(w).Encode(rec)
		return
	}
	peer := rec.Caller
	arrow := "<-"
	if rec.Direction == "out" {
		peer, arrow = rec.Target, "->"
	}
	if peer == "" {
		peer = "-"
	}
	line := fmt.Sprintf("%s  %-16s %s %-28s %-30s %6dB %6dB %8.3fms  %s", rec.Time.Local().Format("15:04:05.000"), rec.Host,
		arrow, rec.Operation, peer, rec.Size, rec.AnswerSize, rec.DurationMS, rec.Outcome)
	if rec.Error != "" {
		line += ": " + rec.Error
	}
	if rec.Payload != nil {
		line += "  " + strconv.Quote(string(rec.Payload))
	}
	fmt.Fprintln(w, line)
}
