package oci

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"
)

// Pushed describes an artifact a push wrote.
type Pushed struct {
	// Reference is the canonical reference pushed to.
	Reference string
	// Digest is the manifest's digest.
	Digest string
	// Manifest is the manifest written.
	Manifest ocispec.Manifest
}

// Push uploads module to ref (which must name a tag) as an actor artifact
// with the given manifest annotations, and returns what it wrote. Blobs the
// registry already has are not uploaded again.
func (c *Client) Push(ctx context.Context, ref string, module []byte, annotations map[string]string) (*Pushed, error) {
	r, err := ParseReference(ref, c.allowLatest)
	if err != nil {
		return nil, err
	}
	if r.Digest != "" {
		return nil, fmt.Errorf("push %s: name a tag to push to, not a digest", ref)
	}
	if !bytes.HasPrefix(module, wasmMagic) {
		return nil, fmt.Errorf("push %s: %w: the file is not a Wasm module", r, ErrNotActor)
	}
	p, err := c.push(ctx, r, module, annotations)
	if err != nil {
		return nil, fmt.Errorf("push %s: %w", r, err)
	}
	return p, nil
}

func (c *Client) push(ctx context.Context, r Reference, module []byte, annotations map[string]string) (*Pushed, error) {
	repo, err := c.repository(ctx, r)
	if err != nil {
		return nil, err
	}
	config := []byte("{}")
	m := ocispec.Manifest{
		Versioned:   specs.Versioned{SchemaVersion: 2},
		MediaType:   ocispec.MediaTypeImageManifest,
		Config:      content.NewDescriptorFromBytes(MediaTypeActorConfig, config),
		Layers:      []ocispec.Descriptor{content.NewDescriptorFromBytes(MediaTypeWasmLayer, module)},
		Annotations: annotations,
	}
	if err := c.pushBlob(ctx, repo, m.Config, config); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := c.pushBlob(ctx, repo, m.Layers[0], module); err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	mb, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	md := content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, mb)
	if err := repo.PushReference(ctx, md, bytes.NewReader(mb), r.Tag); err != nil {
		return nil, fmt.Errorf("manifest: %w", classify(err))
	}
	return &Pushed{Reference: r.String(), Digest: md.Digest.String(), Manifest: m}, nil
}

func (c *Client) pushBlob(ctx context.Context, repo *remote.Repository, d ocispec.Descriptor, b []byte) error {
	ok, err := repo.Exists(ctx, d)
	if err != nil {
		return classify(err)
	}
	if ok {
		if c.progress != nil {
			c.progress(Progress{Op: "push", Digest: d.Digest.String(), MediaType: d.MediaType, Done: d.Size, Total: d.Size, Skipped: true})
		}
		return nil
	}
	return classify(repo.Push(ctx, d, c.track(bytes.NewReader(b), "push", d)))
}
