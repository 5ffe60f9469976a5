package oci

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/registry/remote"
)

// PullPolicy says when a pull asks the registry.
type PullPolicy int

const (
	// IfNotPresent serves a cached tag without asking the registry. A
	// digest reference is always served from the cache when present.
	IfNotPresent PullPolicy = iota
	// Always resolves tags at the registry again (wisp pull --refresh).
	// Blobs already cached are not downloaded again.
	Always
)

// maxManifest bounds a manifest or config blob.
const maxManifest = 4 << 20

// Pull returns the actor artifact at ref, from the cache when the policy
// allows, else from the registry into the cache. Every byte returned was
// checked against its digest.
func (c *Client) Pull(ctx context.Context, ref string, policy PullPolicy) (*Artifact, error) {
	r, err := ParseReference(ref, c.allowLatest)
	if err != nil {
		return nil, err
	}
	a, err := c.pull(ctx, r, policy)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", r, err)
	}
	a.Reference = r.String()
	return a, nil
}

func (c *Client) pull(ctx context.Context, r Reference, policy PullPolicy) (*Artifact, error) {
	if c.cacheErr != nil {
		return nil, c.cacheErr
	}
	c.cache.cleanIngest()
	if policy == IfNotPresent || r.Digest != "" {
		key := r.String()
		if r.Digest != "" {
			key = r.Digest
		}
		d, ok, err := c.cache.resolve(ctx, key)
		if err != nil {
			return nil, err
		}
		if ok {
			a, err := c.cache.load(ctx, d, c.maxLayer)
			if err == nil {
				a.Cached = true
				return a, nil
			}
			if !errors.Is(err, ErrDigest) && !errors.Is(err, ErrNotFound) {
				return nil, fmt.Errorf("cache: %w", err)
			}
			// Damaged or incomplete: fetch it again below.
		}
	}
	repo, err := c.repository(ctx, r)
	if err != nil {
		return nil, err
	}
	md, mb, err := oras.FetchBytes(ctx, repo, r.reference(), oras.FetchBytesOptions{MaxBytes: maxManifest})
	if err != nil {
		return nil, classify(err)
	}
	if r.Digest != "" && md.Digest.String() != r.Digest {
		return nil, fmt.Errorf("%w: registry answered %s for %s", ErrDigest, md.Digest, r.Digest)
	}
	m, layer, err := parseManifest(md, mb, c.maxLayer)
	if err != nil {
		return nil, err
	}
	if m.Config.Size > maxManifest {
		return nil, fmt.Errorf("%w: config blob is %d bytes", ErrTooLarge, m.Config.Size)
	}
	if m.Config.Size > 0 {
		if err := c.fetchBlob(ctx, repo, m.Config); err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
	}
	if err := c.fetchBlob(ctx, repo, layer); err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	if err := c.cache.put(ctx, md, bytes.NewReader(mb)); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	// Tag only what loads: a layer that holds no module is not an entry.
	a, err := c.cache.load(ctx, md, c.maxLayer)
	if err != nil {
		c.cache.evict(layer)
		c.cache.evict(md)
		return nil, err
	}
	if err := c.cache.tag(ctx, md, r.String()); err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	return a, nil
}

// fetchBlob downloads blob d into the cache unless it is there. A transfer
// cut short is started again (up to the client's attempts); the partial
// file never becomes a cache entry.
func (c *Client) fetchBlob(ctx context.Context, repo *remote.Repository, d ocispec.Descriptor) error {
	if ok, err := c.cache.has(ctx, d); err != nil {
		return err
	} else if ok {
		return nil
	}
	wait := c.backoff
	var err error
	for attempt := 1; ; attempt++ {
		err = c.fetchOnce(ctx, repo, d)
		if err == nil || attempt >= c.attempts || !(errors.Is(err, ErrUnreachable) || errors.Is(err, ErrInterrupted)) {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait *= 2
	}
}

func (c *Client) fetchOnce(ctx context.Context, repo *remote.Repository, d ocispec.Descriptor) error {
	rc, err := repo.Fetch(ctx, d)
	if err != nil {
		return classify(err)
	}
	defer rc.Close()
	return classify(c.cache.put(ctx, d, c.track(rc, "pull", d)))
}
