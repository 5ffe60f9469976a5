package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/provider"
)

// FollowLinks hands the provider every link of the lattice for its
// contract and link name, the stored ones first and then each put or
// delete, until ctx ends. A host does this for the providers it runs; a
// provider in a process of its own (a third party's, see
// examples/blobstore-fs) calls it after Start. js reaches the lattice's
// state (jetstream.New, or jetstream.NewWithDomain behind a leaf node); a
// user with the provider role may read the link bucket.
//
// It returns when ctx ends (nil) or the watch fails (the error): call it
// again to follow anew; links already handed are handed again, which a
// provider takes as an update.
func (r *Runner) FollowLinks(ctx context.Context, js jetstream.JetStream) error {
	kv, err := js.KeyValue(ctx, lattice.LinkBucketName(r.cfg.Lattice))
	if err != nil {
		return fmt.Errorf("link bucket of lattice %s: %w", r.cfg.Lattice, err)
	}
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("watch links: %w", err)
	}
	defer w.Stop()
	contract := r.Provider().Contract()
	held := map[string]provider.Link{} // bucket key → link handed to the provider
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				return errors.New("link watch ended")
			}
			if e == nil {
				continue // the stored links are all delivered
			}
			if e.Operation() != jetstream.KeyValuePut {
				if old, ok := held[e.Key()]; ok {
					delete(held, e.Key())
					if err := r.DelLink(ctx, old); err != nil {
						r.log.Warn("provider refused a link removal", "actor", old.Actor, "err", err)
					}
				}
				continue
			}
			var l lattice.Link
			if json.Unmarshal(e.Value(), &l) != nil || l.ContractID != contract || l.LinkName != r.cfg.LinkName {
				continue
			}
			pl := provider.Link{Actor: l.ActorID, Contract: l.ContractID, Name: l.LinkName, Values: l.Values}
			held[e.Key()] = pl
			if err := r.PutLink(ctx, pl); err != nil {
				r.log.Warn("provider refused a link", "actor", l.ActorID, "err", err)
			}
		}
	}
}
