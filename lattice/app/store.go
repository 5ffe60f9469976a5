// Package app stores a lattice's declared applications: every version of
// each manifest, which version is deployed, and the status the reconciler
// reports. It all lives in one JetStream key-value bucket,
// WISP_APPS_<lattice>, so it outlives every host:
//
//	app.<name>      the Record: versions (oldest first) and the deployed one
//	status.<name>   the Status the reconciler last wrote
//	lease           which host's reconciler is active (see package reconciler)
//
// Writers update a record with compare-and-set on its revision, so two
// deploys of the same application that race both land, one after the other,
// or the loser gets a clear error.
package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/manifest"
)

// Sentinel errors, to be tested with errors.Is.
var (
	// ErrNotFound reports an application or version that is not stored.
	ErrNotFound = errors.New("not found")
	// ErrVersionExists reports a version stored with different content.
	ErrVersionExists = errors.New("version exists")
	// ErrDeployed reports the deletion of the deployed version.
	ErrDeployed = errors.New("version is deployed")
)

// BucketName is the key-value bucket of a lattice's applications.
func BucketName(lattice string) string { return "WISP_APPS_" + lattice }

// Bucket keys.
const (
	keyApp    = "app."
	keyStatus = "status."
	// KeyLease is the key of the reconciler's lease.
	KeyLease = "lease"
)

// Record is an application as stored: its versions and which one is
// deployed.
type Record struct {
	Name     string    `json:"name"`
	Versions []Version `json:"versions"`
	// Deployed is the deployed version, "" when the application is not
	// deployed.
	Deployed   string    `json:"deployed,omitempty"`
	DeployedAt time.Time `json:"deployed_at,omitzero"`
	// Previous is the version deployed before Deployed: a rollout that
	// fails, or an undo, returns to it.
	Previous string `json:"previous,omitempty"`
	// RolledBack says why Deployed was returned to from a newer version;
	// a deploy clears it.
	RolledBack string `json:"rolled_back,omitempty"`
	// Paused holds a rollout of Deployed where it is: no host takes the
	// new version, no canary step advances (wisp app rollout pause).
	Paused bool `json:"paused,omitempty"`
}

// Version is one stored version of a manifest.
type Version struct {
	Version     string    `json:"version"`
	Description string    `json:"description,omitempty"`
	StoredAt    time.Time `json:"stored_at"`
	// Manifest is the manifest's text as it was deployed.
	Manifest string `json:"manifest"`
}

// Latest is the newest stored version.
func (r *Record) Latest() *Version {
	if len(r.Versions) == 0 {
		return nil
	}
	return &r.Versions[len(r.Versions)-1]
}

// Find returns the stored version v.
func (r *Record) Find(v string) (*Version, bool) {
	for i := range r.Versions {
		if r.Versions[i].Version == v {
			return &r.Versions[i], true
		}
	}
	return nil, false
}

// Manifest parses the stored version v ("" for the deployed one).
func (r *Record) Manifest(v string) (*manifest.Application, error) {
	if v == "" {
		v = r.Deployed
	}
	ver, ok := r.Find(v)
	if !ok {
		return nil, fmt.Errorf("app %s version %q: %w", r.Name, v, ErrNotFound)
	}
	return manifest.Parse(r.Name+"@"+v, []byte(ver.Manifest))
}

// Store reads and writes one lattice's applications.
type Store struct {
	kv      jetstream.KeyValue
	lattice string
}

// Open opens the lattice's application bucket, creating it if needed.
func Open(ctx context.Context, js jetstream.JetStream, latticeID string) (*Store, error) {
	kv, err := lattice.EnsureBucket(ctx, js, BucketName(latticeID), "wisp lattice "+latticeID+" applications")
	if err != nil {
		return nil, fmt.Errorf("application store: %w", err)
	}
	return &Store{kv: kv, lattice: latticeID}, nil
}

// OpenExisting opens the lattice's application bucket if it exists; when
// no application was ever stored it fails with an error wrapping
// jetstream.ErrBucketNotFound. Reconcilers wait on it rather than create
// the bucket, so a lattice without applications carries no bucket.
func OpenExisting(ctx context.Context, js jetstream.JetStream, latticeID string) (*Store, error) {
	kv, err := js.KeyValue(ctx, BucketName(latticeID))
	if err != nil {
		return nil, fmt.Errorf("application store: %w", err)
	}
	return &Store{kv: kv, lattice: latticeID}, nil
}

// KV is the bucket, for watching it and for the reconciler's lease.
func (s *Store) KV() jetstream.KeyValue { return s.kv }

// Get returns the stored application name.
func (s *Store) Get(ctx context.Context, name string) (*Record, error) {
	r, _, err := s.get(ctx, name)
	return r, err
}

func (s *Store) get(ctx context.Context, name string) (*Record, uint64, error) {
	if err := lattice.ValidateName("app name", name); err != nil {
		return nil, 0, err
	}
	e, err := s.kv.Get(ctx, keyApp+name)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, fmt.Errorf("app %s: %w on lattice %q", name, ErrNotFound, s.lattice)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("app %s: %w", name, err)
	}
	var r Record
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		return nil, 0, fmt.Errorf("app %s: stored record: %w", name, err)
	}
	return &r, e.Revision(), nil
}

// List returns every stored application, sorted by name.
func (s *Store) List(ctx context.Context) ([]Record, error) {
	lister, err := s.kv.ListKeysFiltered(ctx, keyApp+"*")
	if err != nil {
		return nil, fmt.Errorf("list apps: %w", err)
	}
	var out []Record
	for k := range lister.Keys() {
		r, err := s.Get(ctx, strings.TrimPrefix(k, keyApp))
		if errors.Is(err, ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// update applies change to the record of name (nil when there is none)
// and stores the result with compare-and-set, trying again when another
// writer got there first. change returning a nil record deletes it.
func (s *Store) update(ctx context.Context, name string, change func(*Record) (*Record, error)) (*Record, error) {
	for try := 0; ; try++ {
		r, rev, err := s.get(ctx, name)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		next, err := change(r)
		if err != nil {
			return nil, err
		}
		switch {
		case next == nil && r == nil:
			return nil, nil
		case next == nil:
			err = s.kv.Delete(ctx, keyApp+name, jetstream.LastRevision(rev))
		default:
			var b []byte
			if b, err = json.Marshal(next); err != nil {
				return nil, err
			}
			if r == nil {
				_, err = s.kv.Create(ctx, keyApp+name, b)
			} else {
				_, err = s.kv.Update(ctx, keyApp+name, b, rev)
			}
		}
		if err == nil {
			return next, nil
		}
		if !isConflict(err) || try == 20 || ctx.Err() != nil {
			return nil, fmt.Errorf("store app %s: %w", name, err)
		}
		// Writers that lost together wait apart before they try again.
		select {
		case <-ctx.Done():
		case <-time.After(rand.N(time.Millisecond << min(try, 6))):
		}
	}
}

// isConflict reports a compare-and-set that lost to another writer.
func isConflict(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, jetstream.ErrKeyExists) ||
		errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}

// Put stores a validated manifest as a new version of its application and
// returns the version. A manifest without a version annotation gets the
// next free "rN". Putting a version again with the same text does nothing;
// with a different text it is an error wrapping ErrVersionExists.
func (s *Store) Put(ctx context.Context, a *manifest.Application) (string, error) {
	name := a.Metadata.Name
	var version string
	_, err := s.update(ctx, name, func(r *Record) (*Record, error) {
		if r == nil {
			r = &Record{Name: name}
		}
		version = a.Version()
		if version == "" {
			version = nextVersion(r)
		}
		if old, ok := r.Find(version); ok {
			if old.Manifest == string(a.Raw) {
				return r, nil
			}
			return nil, fmt.Errorf("app %s version %s: %w with different content: change metadata.annotations.version", name, version, ErrVersionExists)
		}
		r.Versions = append(r.Versions, Version{
			Version:     version,
			Description: a.Metadata.Annotations[manifest.AnnotationDescription],
			StoredAt:    time.Now().UTC(),
			Manifest:    string(a.Raw),
		})
		return r, nil
	})
	if err != nil {
		return "", err
	}
	return version, nil
}

func nextVersion(r *Record) string {
	for n := len(r.Versions) + 1; ; n++ {
		v := fmt.Sprintf("r%d", n)
		if _, taken := r.Find(v); !taken {
			return v
		}
	}
}

// Deploy marks version ("" for the newest) of application name as the one
// the reconciler makes true.
func (s *Store) Deploy(ctx context.Context, name, version string) (*Record, error) {
	return s.update(ctx, name, func(r *Record) (*Record, error) {
		if r == nil {
			return nil, fmt.Errorf("deploy %s: %w on lattice %q", name, ErrNotFound, s.lattice)
		}
		v := version
		if v == "" {
			v = r.Latest().Version
		}
		if _, ok := r.Find(v); !ok {
			return nil, fmt.Errorf("deploy %s: version %q: %w (stored: %s)", name, v, ErrNotFound, versionList(r))
		}
		if r.Deployed != "" && r.Deployed != v {
			r.Previous = r.Deployed
		}
		r.Deployed, r.DeployedAt, r.RolledBack, r.Paused = v, time.Now().UTC(), "", false
		return r, nil
	})
}

// ErrNoPrevious reports a rollback of an application with no version to
// return to.
var ErrNoPrevious = errors.New("no previous version to return to")

// RollBack returns application name from version from (the deployed one)
// to the version deployed before it, and records why. It fails with
// ErrNoPrevious when there is none, and changes nothing when from is no
// longer the deployed version (another deploy came first).
func (s *Store) RollBack(ctx context.Context, name, from, why string) (*Record, error) {
	return s.update(ctx, name, func(r *Record) (*Record, error) {
		if r == nil {
			return nil, fmt.Errorf("roll back %s: %w on lattice %q", name, ErrNotFound, s.lattice)
		}
		if r.Deployed != from || from == "" {
			return nil, fmt.Errorf("roll back %s from %s: %s is deployed now", name, from, orNone(r.Deployed))
		}
		if _, ok := r.Find(r.Previous); !ok || r.Previous == "" {
			return nil, fmt.Errorf("roll back %s from %s: %w", name, from, ErrNoPrevious)
		}
		r.Deployed, r.Previous, r.DeployedAt = r.Previous, "", time.Now().UTC()
		r.RolledBack, r.Paused = why, false
		return r, nil
	})
}

// SetPaused pauses (or resumes) the rollout of application name.
func (s *Store) SetPaused(ctx context.Context, name string, paused bool) (*Record, error) {
	return s.update(ctx, name, func(r *Record) (*Record, error) {
		if r == nil {
			return nil, fmt.Errorf("pause %s: %w on lattice %q", name, ErrNotFound, s.lattice)
		}
		if r.Deployed == "" {
			return nil, fmt.Errorf("pause %s: not deployed", name)
		}
		r.Paused = paused
		return r, nil
	})
}

func orNone(v string) string {
	if v == "" {
		return "no version"
	}
	return "version " + v
}

// Undeploy marks application name as not deployed: the reconciler stops
// what it started for it. Its versions stay stored.
func (s *Store) Undeploy(ctx context.Context, name string) (*Record, error) {
	return s.update(ctx, name, func(r *Record) (*Record, error) {
		if r == nil {
			return nil, fmt.Errorf("undeploy %s: %w on lattice %q", name, ErrNotFound, s.lattice)
		}
		r.Deployed, r.DeployedAt = "", time.Time{}
		return r, nil
	})
}

// Delete removes one version of application name, or with version "" the
// whole application (which undeploys it). The deployed version cannot be
// deleted alone: undeploy, or deploy another, first.
func (s *Store) Delete(ctx context.Context, name, version string) error {
	_, err := s.update(ctx, name, func(r *Record) (*Record, error) {
		if r == nil {
			return nil, fmt.Errorf("delete %s: %w on lattice %q", name, ErrNotFound, s.lattice)
		}
		if version == "" {
			return nil, nil
		}
		if version == r.Deployed {
			return nil, fmt.Errorf("delete %s version %s: %w: undeploy it or deploy another version first", name, version, ErrDeployed)
		}
		for i, v := range r.Versions {
			if v.Version == version {
				r.Versions = append(r.Versions[:i], r.Versions[i+1:]...)
				if len(r.Versions) == 0 {
					return nil, nil
				}
				return r, nil
			}
		}
		return nil, fmt.Errorf("delete %s: version %q: %w (stored: %s)", name, version, ErrNotFound, versionList(r))
	})
	return err
}

func versionList(r *Record) string {
	var out []string
	for _, v := range r.Versions {
		out = append(out, v.Version)
	}
	return strings.Join(out, ", ")
}
