package oci

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/oci"
	"oras.land/oras-go/v2/errdef"

	"github.com/wisp-dev/wisp/internal/filelock"
)

type descriptor = ocispec.Descriptor

// Cache is a content-addressed store of pulled artifacts: an OCI image
// layout (index.json, oci-layout, blobs/sha256/…) in one folder, with each
// pulled reference as a tag in index.json. Blobs are written to a temporary
// file and renamed into place once their digest checks out, so an
// interrupted download leaves no entry behind. Several processes may share
// the folder: index updates take a file lock.
type Cache struct {
	dir string
}

// NewCache returns the cache in dir.
func NewCache(dir string) *Cache { return &Cache{dir: dir} }

// Dir is the cache's folder.
func (c *Cache) Dir() string { return c.dir }

// staleIngest is how old a leftover partial download must be before it is
// removed; younger ones may belong to a pull still running.
const staleIngest = time.Hour

// open opens the layout under the cache lock and calls fn with it.
func (c *Cache) open(ctx context.Context, fn func(*oci.Store) error) error {
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	unlock, err := filelock.Lock(filepath.Join(c.dir, "wisp.lock"))
	if err != nil {
		return fmt.Errorf("cache lock: %w", err)
	}
	defer unlock()
	store, err := oci.NewWithContext(ctx, c.dir)
	if err != nil {
		return fmt.Errorf("cache %s: %w", c.dir, err)
	}
	store.AutoGC = false // blobs of other tags stay; GC is an explicit step
	return fn(store)
}

// resolve returns the manifest descriptor cached under ref, if any.
func (c *Cache) resolve(ctx context.Context, ref string) (descriptor, bool, error) {
	var d descriptor
	err := c.open(ctx, func(s *oci.Store) error {
		var err error
		d, err = s.Resolve(ctx, ref)
		return err
	})
	switch {
	case errors.Is(err, errdef.ErrNotFound):
		return descriptor{}, false, nil
	case err != nil:
		return descriptor{}, false, err
	}
	return d, true, nil
}

// blobPath is where blob d lives in the layout.
func (c *Cache) blobPath(d descriptor) (string, error) {
	if err := d.Digest.Validate(); err != nil {
		return "", fmt.Errorf("%w: %v", ErrDigest, err)
	}
	return filepath.Join(c.dir, "blobs", d.Digest.Algorithm().String(), d.Digest.Encoded()), nil
}

// has reports whether blob d is in the cache.
func (c *Cache) has(_ context.Context, d descriptor) (bool, error) {
	p, err := c.blobPath(d)
	if err != nil {
		return false, err
	}
	_, err = os.Stat(p)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// put stores blob d read from r. The bytes go to a temporary file under
// ingest/ that becomes the blob only once its size and digest check out;
// on any failure the temporary file is removed.
func (c *Cache) put(_ context.Context, d descriptor, r io.Reader) (err error) {
	target, err := c.blobPath(d)
	if err != nil {
		return err
	}
	ingest := filepath.Join(c.dir, "ingest")
	for _, dir := range []string{ingest, filepath.Dir(target)} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("cache: %w", err)
		}
	}
	f, err := os.CreateTemp(ingest, d.Digest.Encoded()+"_*")
	if err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	vr := content.NewVerifyReader(r, d)
	if _, err := io.Copy(f, vr); err != nil {
		return classify(err)
	}
	if err := vr.Verify(); err != nil {
		return classify(err)
	}
	if err := f.Chmod(0o444); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	if err := os.Rename(f.Name(), target); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	return nil
}

// tag records manifest d under ref.
func (c *Cache) tag(ctx context.Context, d descriptor, ref string) error {
	return c.open(ctx, func(s *oci.Store) error { return s.Tag(ctx, d, ref) })
}

// read returns blob d, verified against its digest. A blob that fails the
// check is removed, so the next pull fetches it again.
func (c *Cache) read(_ context.Context, d descriptor) ([]byte, error) {
	p, err := c.blobPath(d)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: blob %s is not cached", ErrNotFound, d.Digest)
	}
	if err != nil {
		return nil, err
	}
	b, err := content.ReadAll(f, d)
	f.Close()
	if err != nil {
		err = classify(err)
		if errors.Is(err, ErrDigest) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, content.ErrInvalidDescriptorSize) {
			c.evict(d)
			return nil, fmt.Errorf("%w: cached blob %s is damaged and was removed", ErrDigest, d.Digest)
		}
		return nil, err
	}
	return b, nil
}

// evict removes blob d.
func (c *Cache) evict(d descriptor) {
	if p, err := c.blobPath(d); err == nil {
		os.Remove(p)
	}
}

// cleanIngest removes partial downloads left by processes that died.
func (c *Cache) cleanIngest() {
	dir := filepath.Join(c.dir, "ingest")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > staleIngest {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// load reads the artifact whose manifest is d from the cache, checking
// every digest on the way.
func (c *Cache) load(ctx context.Context, d descriptor, maxLayer int64) (*Artifact, error) {
	mb, err := c.read(ctx, d)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	m, layer, err := parseManifest(d, mb, maxLayer)
	if err != nil {
		return nil, err
	}
	lb, err := c.read(ctx, layer)
	if err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	mod, err := moduleFromLayer(layer, lb, maxLayer)
	if err != nil {
		return nil, err
	}
	return &Artifact{Digest: d.Digest.String(), Manifest: m, Layer: layer, Module: mod}, nil
}

// Artifact is a pulled actor: its manifest and module.
type Artifact struct {
	// Reference is the canonical reference it was pulled by.
	Reference string
	// Digest is the manifest's digest: pull by Reference's name and this
	// digest to get exactly this artifact again.
	Digest string
	// Manifest is the OCI manifest.
	Manifest ocispec.Manifest
	// Layer is the descriptor of the layer holding the module.
	Layer ocispec.Descriptor
	// Module is the Wasm module.
	Module []byte
	// Cached is true when the pull was served from the cache without
	// asking the registry.
	Cached bool
}

// parseManifest decodes an actor manifest and picks its module layer.
func parseManifest(d descriptor, b []byte, maxLayer int64) (ocispec.Manifest, descriptor, error) {
	var m ocispec.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return m, descriptor{}, fmt.Errorf("%w: manifest %s: %v", ErrNotActor, d.Digest, err)
	}
	mt := m.MediaType
	if mt == "" {
		mt = d.MediaType
	}
	if mt != ocispec.MediaTypeImageManifest && mt != mediaTypeDockerManifest {
		return m, descriptor{}, fmt.Errorf("%w: manifest media type %q, want %s", ErrNotActor, mt, ocispec.MediaTypeImageManifest)
	}
	var layer *descriptor
	var types []string
	for i, l := range m.Layers {
		types = append(types, l.MediaType)
		switch l.MediaType {
		case MediaTypeWasmLayer:
			if layer == nil || layer.MediaType != MediaTypeWasmLayer {
				layer = &m.Layers[i]
			}
		case MediaTypeTarLayer, MediaTypeTarGzipLayer, mediaTypeDockerLayer:
			if layer == nil && len(m.Layers) == 1 {
				layer = &m.Layers[i]
			}
		}
	}
	if layer == nil {
		return m, descriptor{}, fmt.Errorf("%w: no Wasm module layer (layers: %s; want one %s)", ErrNotActor, strings.Join(types, ", "), MediaTypeWasmLayer)
	}
	if layer.Size > maxLayer {
		return m, descriptor{}, fmt.Errorf("%w: layer %s is %d bytes, the limit is %d", ErrTooLarge, layer.Digest, layer.Size, maxLayer)
	}
	return m, *layer, nil
}

var wasmMagic = []byte{0, 'a', 's', 'm'}

// moduleFromLayer returns the module in a layer: the layer itself, or the
// one .wasm file in a (gzipped) tar layer. Decompression is bounded by
// maxLayer bytes of expanded archive, headers included, and stops at the
// first entry that is not a regular .wasm file or that is over the limit:
// a few megabytes of gzip that expand to gigabytes cost no more than
// maxLayer bytes of inflating.
func moduleFromLayer(d descriptor, b []byte, maxLayer int64) ([]byte, error) {
	if bytes.HasPrefix(b, wasmMagic) {
		return b, nil
	}
	if d.MediaType == MediaTypeWasmLayer {
		return nil, fmt.Errorf("%w: layer %s is not a Wasm module", ErrNotActor, d.Digest)
	}
	tooLarge := func(what string) error {
		return fmt.Errorf("%w: %s in layer %s expands past %d bytes, the limit (--max-layer-size)", ErrTooLarge, what, d.Digest, maxLayer)
	}
	var r io.Reader = bytes.NewReader(b)
	var expanded *limitedReader
	if bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("%w: layer %s: %v", ErrNotActor, d.Digest, err)
		}
		zr.Multistream(false)
		expanded = &limitedReader{r: zr, left: maxLayer}
		r = expanded
	}
	tr := tar.NewReader(r)
	var mod []byte
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if expanded != nil && expanded.over {
				return nil, tooLarge("the archive")
			}
			return nil, fmt.Errorf("%w: layer %s is neither a Wasm module nor a tar archive: %v", ErrNotActor, d.Digest, err)
		}
		if h.Typeflag == tar.TypeDir && h.Size == 0 {
			continue
		}
		if h.Typeflag != tar.TypeReg || !strings.HasSuffix(h.Name, ".wasm") {
			return nil, fmt.Errorf("%w: layer %s holds %q, which is not a .wasm file: an actor layer holds one module", ErrNotActor, d.Digest, h.Name)
		}
		if mod != nil {
			return nil, fmt.Errorf("%w: layer %s holds more than one .wasm file", ErrNotActor, d.Digest)
		}
		if h.Size > maxLayer {
			return nil, fmt.Errorf("%w: %s in layer %s is %d bytes, the limit is %d (--max-layer-size)", ErrTooLarge, h.Name, d.Digest, h.Size, maxLayer)
		}
		mod, err = io.ReadAll(io.LimitReader(tr, maxLayer+1))
		if expanded != nil && expanded.over {
			return nil, tooLarge(h.Name)
		}
		if err != nil {
			return nil, fmt.Errorf("layer %s: %s: %w", d.Digest, h.Name, err)
		}
		if !bytes.HasPrefix(mod, wasmMagic) {
			return nil, fmt.Errorf("%w: %s in layer %s is not a Wasm module", ErrNotActor, h.Name, d.Digest)
		}
	}
	if mod == nil {
		return nil, fmt.Errorf("%w: layer %s has no Wasm module", ErrNotActor, d.Digest)
	}
	return mod, nil
}

// limitedReader reads at most left bytes from r, then fails and records
// that it was asked for more.
type limitedReader struct {
	r    io.Reader
	left int64
	over bool
}

var errExpandedTooLarge = errors.New("expanded layer over the size limit")

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		l.over = true
		return 0, errExpandedTooLarge
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}
