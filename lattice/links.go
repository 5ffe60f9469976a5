package lattice

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// DefaultLinkName is the link name of a link put without --link-name.
const DefaultLinkName = "default"

// Link connects an actor to the provider that serves one contract for it
// under a link name. A host call from the actor naming the link (binding)
// and the contract goes to ProviderSubject(lattice, contract, link name).
type Link struct {
	// ActorID is the actor's module key (M…), or its call alias when the
	// actor is unsigned.
	ActorID string `json:"actor_id"`
	// ActorName is the actor's call alias when the link was put.
	ActorName  string            `json:"actor_name,omitempty"`
	ProviderID string            `json:"provider_id"`
	ContractID string            `json:"contract_id"`
	LinkName   string            `json:"link_name"`
	Values     map[string]string `json:"values,omitempty"`
}

// Redacted is l with the values that may be secrets shown as "***": values
// whose key names a password, token, secret or key (PASSWORD, api_token,
// CLIENT_SECRET, KEY…), and the user information of URLs. Hosts answer
// `wisp link get` and publish link events with it, so secrets are never
// printed, logged or put into events in clear.
func (l Link) Redacted() Link {
	if len(l.Values) == 0 {
		return l
	}
	vals := make(map[string]string, len(l.Values))
	for k, v := range l.Values {
		vals[k] = RedactValue(k, v)
	}
	l.Values = vals
	return l
}

// Redacted stands for a secret value.
const Redacted = "***"

// RedactValue is v as it may be shown: Redacted when key names a secret,
// v with its user information replaced when it is a URL carrying some.
func RedactValue(key, v string) string {
	k := strings.ToUpper(key)
	for _, s := range []string{"PASSWORD", "PASSWD", "TOKEN", "SECRET", "KEY", "CREDENTIAL", "PRIVATE"} {
		if strings.Contains(k, s) {
			return Redacted
		}
	}
	if u, err := url.Parse(v); err == nil && u.User != nil && u.Host != "" {
		u.User = nil
		return strings.Replace(u.String(), "//", "//"+Redacted+"@", 1)
	}
	return v
}

// Key is the link's key in the lattice's link bucket: actor, contract and
// link name, the last two base64url-encoded (a contract id has ':').
func (l Link) Key() string { return LinkKey(l.ActorID, l.ContractID, l.LinkName) }

// LinkKey is the bucket key of the link of actorID for contract under
// linkName.
func LinkKey(actorID, contract, linkName string) string {
	enc := base64.RawURLEncoding
	return keyToken(actorID) + "." + enc.EncodeToString([]byte(contract)) + "." + enc.EncodeToString([]byte(linkName))
}

// keyToken is an actor id as one token of a bucket key: itself when it is
// made of the characters a key token may hold (module keys, most aliases,
// namespaced ones too), else "=" and its base64url.
func keyToken(id string) string {
	if strings.IndexFunc(id, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '/')
	}) < 0 {
		return id
	}
	return "=" + base64.RawURLEncoding.EncodeToString([]byte(id))
}

// Validate checks every field's syntax (not whether the actor exists).
func (l Link) Validate() error {
	if err := ValidateAlias("actor", l.ActorID); err != nil {
		return fmt.Errorf("link: %w", err)
	}
	if err := ValidateName("provider", l.ProviderID); err != nil {
		return fmt.Errorf("link: %w", err)
	}
	if err := ValidateContract(l.ContractID); err != nil {
		return fmt.Errorf("link: %w", err)
	}
	if err := ValidateName("link name", l.LinkName); err != nil {
		return fmt.Errorf("link: %w", err)
	}
	return nil
}

// ValidateContract checks that a contract id such as wasmcloud:keyvalue can
// be one token of a subject.
func ValidateContract(s string) error {
	if s == "" {
		return errors.New("contract id is empty")
	}
	if len(s) > 128 {
		return fmt.Errorf("contract id %.20q... is longer than 128 characters", s)
	}
	if i := strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_:/", r))
	}); i >= 0 {
		return fmt.Errorf("contract id %q: character %q is not allowed (use letters, digits, '-', '_', ':' and '/')", s, s[i])
	}
	return nil
}

// LinkBucketName is the JetStream key-value bucket holding a lattice's
// links.
func LinkBucketName(lattice string) string { return "WISP_LINKS_" + lattice }

// EnsureLinkBucket opens the lattice's link bucket, creating it (replicated
// on up to three servers of the NATS cluster) if it does not exist.
func EnsureLinkBucket(ctx context.Context, js jetstream.JetStream, lattice string) (jetstream.KeyValue, error) {
	return EnsureBucket(ctx, js, LinkBucketName(lattice), "wisp lattice "+lattice+" links")
}

// EnsureBucket opens the key-value bucket name, creating it with one
// value per key, on disk, replicated on up to three servers of the NATS
// cluster, if it does not exist. Either way the bucket allows
// bucketConsumers consumers.
func EnsureBucket(ctx context.Context, js jetstream.JetStream, name, description string) (jetstream.KeyValue, error) {
	err := allowConsumers(ctx, js, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		err = withReplicas(func(r int) error {
			_, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
				Bucket:      name,
				Description: description,
				History:     1,
				Storage:     jetstream.FileStorage,
				Replicas:    r,
			})
			if errors.Is(err, jetstream.ErrBucketExists) {
				err = nil
			}
			return err
		})
		if err == nil {
			err = allowConsumers(ctx, js, name)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", name, err)
	}
	kv, err := js.KeyValue(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", name, err)
	}
	return kv, nil
}

// bucketConsumers is how many consumers a lattice bucket allows. Every
// host watches the link bucket with one, and a NATS server (2.12 and
// later) allows 1,000 on a stream that sets no limit of its own
// (jetstream.limits.max_consumers), which would stop a lattice at about a
// thousand hosts: the thousand-and-first host, or the reconciler's next
// read of the links, would be refused "maximum consumers limit reached".
const bucketConsumers = 100_000

// allowConsumers raises the consumer limit of bucket name's stream to
// bucketConsumers, unless it allows as many already or the account's own
// JetStream limits allow fewer (the operator's choice, which stands).
func allowConsumers(ctx context.Context, js jetstream.JetStream, name string) error {
	s, err := js.Stream(ctx, "KV_"+name)
	if err != nil {
		return err
	}
	cfg := s.CachedInfo().Config
	if cfg.MaxConsumers >= bucketConsumers {
		return nil
	}
	cfg.MaxConsumers = bucketConsumers
	_, err = js.UpdateStream(ctx, cfg)
	var api *jetstream.APIError
	if errors.As(err, &api) && api.ErrorCode == jetstream.JSErrCodeMaximumConsumersLimit {
		return nil
	}
	if err != nil {
		return fmt.Errorf("allow %d consumers: %w", bucketConsumers, err)
	}
	return nil
}

// Link control verbs: the last token of LinkSubject. Any one host of the
// lattice answers each (a queue group).
const (
	VerbLinkPut = "put"
	VerbLinkDel = "del"
	VerbLinkGet = "get"
)

// LinkSubject is the control subject for link verb.
func LinkSubject(lattice, verb string) string {
	return "wisp.ctl." + lattice + ".link." + verb
}

// ProviderSubject is where host calls over a link go: the provider serving
// contract under linkName answers.
func ProviderSubject(lattice, contract, linkName string) string {
	return "wisp.prov." + lattice + "." + contract + "." + linkName
}

// ActorSubject is where hosts running an actor (by call alias or module
// key) answer with its ActorIdentity, so any host can validate a link. One
// host of those running it answers (a queue group named as the subject).
func ActorSubject(lattice, actor string) string {
	return "wisp.ctl." + lattice + ".actor." + ActorToken(actor)
}

// ActorIdentity is who an actor is, as the hosts running it answer on
// ActorSubject.
type ActorIdentity struct {
	Name string `json:"name"`
	// Key is the module key; empty when the actor is unsigned.
	Key string `json:"key,omitempty"`
	// Caps are the contracts its claims grant; unsigned actors
	// (development hosts) may use every contract.
	Caps     []string `json:"caps,omitempty"`
	Unsigned bool     `json:"unsigned,omitempty"`
}

// DeleteLinkRequest names the link to delete. Actor may be the module key
// or the call alias.
type DeleteLinkRequest struct {
	Actor      string `json:"actor"`
	ContractID string `json:"contract_id"`
	LinkName   string `json:"link_name"`
}

// LinkReply answers link.put and link.del with the link concerned.
type LinkReply struct {
	Ack
	Link *Link `json:"link,omitempty"`
}

// LinksReply answers link.get.
type LinksReply struct {
	Ack
	Links []Link `json:"links"`
}

// lattice-wide control command answered by any one host.
func (c *Client) latticeRequest(ctx context.Context, subject string, in any, out interface{ ack() Ack }) error {
	return c.requestSubject(ctx, subject, "any host", in, out, ErrNoHosts)
}

// PutLink stores a link after a host checked it: the actor must run
// somewhere on the lattice and, when signed, claim the contract. It returns
// the link as stored (ActorID resolved to the module key).
func (c *Client) PutLink(ctx context.Context, l Link) (*Link, error) {
	if l.LinkName == "" {
		l.LinkName = DefaultLinkName
	}
	var r LinkReply
	if err := c.latticeRequest(ctx, LinkSubject(c.lattice, VerbLinkPut), l, &r); err != nil {
		return nil, wrapLocal(err, "put link")
	}
	return r.Link, nil
}

// DeleteLink deletes the link of actor for contract under linkName.
func (c *Client) DeleteLink(ctx context.Context, actor, contract, linkName string) (*Link, error) {
	if linkName == "" {
		linkName = DefaultLinkName
	}
	var r LinkReply
	req := DeleteLinkRequest{Actor: actor, ContractID: contract, LinkName: linkName}
	if err := c.latticeRequest(ctx, LinkSubject(c.lattice, VerbLinkDel), req, &r); err != nil {
		return nil, wrapLocal(err, "delete link")
	}
	return r.Link, nil
}

// Links lists the lattice's links, sorted by actor, contract and name.
func (c *Client) Links(ctx context.Context) ([]Link, error) {
	var r LinksReply
	if err := c.latticeRequest(ctx, LinkSubject(c.lattice, VerbLinkGet), nil, &r); err != nil {
		return nil, wrapLocal(err, "get links")
	}
	SortLinks(r.Links)
	return r.Links, nil
}

// SortLinks sorts links by actor, contract and link name.
func SortLinks(ls []Link) {
	sort.Slice(ls, func(i, j int) bool {
		a, b := ls[i], ls[j]
		if a.ActorID != b.ActorID {
			return a.ActorID < b.ActorID
		}
		if a.ContractID != b.ContractID {
			return a.ContractID < b.ContractID
		}
		return a.LinkName < b.LinkName
	})
}

// ProvidersOf lists, by host id, the providers running on the lattice for
// contract under linkName, with what each made of its links.
func (c *Client) ProvidersOf(ctx context.Context, contract, linkName string) (map[string]ProviderDescription, error) {
	if linkName == "" {
		linkName = DefaultLinkName
	}
	invs, err := c.Inventories(ctx)
	if err != nil && !errors.Is(err, ErrNoHosts) {
		return nil, err
	}
	out := map[string]ProviderDescription{}
	for _, inv := range invs {
		for _, p := range inv.Providers {
			if p.Contract == contract && p.LinkName == linkName {
				out[inv.Host.ID] = p
			}
		}
	}
	return out, nil
}

// PutLinkAndWait puts l as PutLink does, then waits, at most within, for
// the verdict of every provider running for its contract and link name
// (link_applied or link_failed events). It returns the stored link, the
// verdicts that arrived and how many providers were expected to give one;
// a verdict with an Error is a provider that refused the link (a port in
// use, a server it cannot reach). No provider running is no verdict: the
// link reaches a provider when one starts.
func (c *Client) PutLinkAndWait(ctx context.Context, l Link, within time.Duration) (*Link, []LinkStateData, int, error) {
	if l.LinkName == "" {
		l.LinkName = DefaultLinkName
	}
	provs, err := c.ProvidersOf(ctx, l.ContractID, l.LinkName)
	if err != nil {
		return nil, nil, 0, err
	}
	ch := make(chan *nats.Msg, 64)
	sub, err := c.nc.ChanSubscribe(EventSubject(c.lattice, "*"), ch)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("put link: %w", AuthHint(err))
	}
	defer sub.Unsubscribe()
	if err := c.nc.Flush(); err != nil {
		return nil, nil, 0, fmt.Errorf("put link: %w", err)
	}
	stored, err := c.PutLink(ctx, l)
	if err != nil || len(provs) == 0 {
		return stored, nil, len(provs), err
	}
	key := stored.Key()
	got := map[string]LinkStateData{} // host id → its provider's verdict
	timer := time.NewTimer(within)
	defer timer.Stop()
	for len(got) < len(provs) {
		select {
		case <-ctx.Done():
			return stored, values(got), len(provs), ctx.Err()
		case <-timer.C:
			return stored, values(got), len(provs), nil
		case m := <-ch:
			var e Event
			if json.Unmarshal(m.Data, &e) != nil {
				continue
			}
			t := strings.TrimPrefix(e.Type, EventTypePrefix)
			if t != EventLinkApplied && t != EventLinkFailed {
				continue
			}
			var d LinkStateData
			if json.Unmarshal(e.Data, &d) == nil && d.Link.Key() == key {
				if _, ok := provs[d.HostID]; ok {
					got[d.HostID] = d
				}
			}
		}
	}
	return stored, values(got), len(provs), nil
}

func values(m map[string]LinkStateData) []LinkStateData {
	out := make([]LinkStateData, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].HostID < out[j].HostID })
	return out
}
