// Package oci pushes actor modules to OCI registries and pulls them back
// through a local, content-addressed cache.
//
// An actor artifact has the layout wasmCloud's tools write, so registries,
// `wash` and wisp interoperate:
//
//	manifest   application/vnd.oci.image.manifest.v1+json
//	config     application/vnd.wasmcloud.actor.archive.config  ({})
//	layer      application/vnd.module.wasm.content.layer.v1+wasm  (the module)
//
// Pulls also accept a plain OCI layer (application/vnd.oci.image.layer.v1.tar,
// with or without +gzip) holding either the module's bytes, as `oras push`
// writes them, or a tar archive with one .wasm file.
//
// Pulled artifacts land in an OCI image layout on disk (see Cache). A tag
// that is already cached is not resolved again unless the pull asks for a
// refresh, like Kubernetes' IfNotPresent pull policy; a reference pinned by
// digest never resolves a tag at all. Every read from the cache checks the
// digests again.
package oci

import (
	"errors"
)

// Media types of an actor artifact.
const (
	// MediaTypeWasmLayer is the layer holding an actor's module.
	MediaTypeWasmLayer = "application/vnd.module.wasm.content.layer.v1+wasm"
	// MediaTypeActorConfig is the config blob of an actor artifact.
	MediaTypeActorConfig = "application/vnd.wasmcloud.actor.archive.config"
	// MediaTypeTarLayer is a plain OCI layer, accepted on pull.
	MediaTypeTarLayer = "application/vnd.oci.image.layer.v1.tar"
	// MediaTypeTarGzipLayer is a gzipped plain OCI layer, accepted on pull.
	MediaTypeTarGzipLayer = "application/vnd.oci.image.layer.v1.tar+gzip"
	// mediaTypeDockerLayer is Docker's name for a gzipped tar layer.
	mediaTypeDockerLayer = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	// mediaTypeDockerManifest is Docker's v2 manifest, which some
	// registries convert OCI manifests to.
	mediaTypeDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
)

// Annotations wisp writes on an actor's manifest.
const (
	// AnnotationTitle carries the name from the module's claims.
	AnnotationTitle = "org.opencontainers.image.title"
	// AnnotationVersion carries the version from the module's claims.
	AnnotationVersion = "org.opencontainers.image.version"
)

// DefaultMaxLayerSize bounds the module layer a pull accepts unless
// WithMaxLayerSize says otherwise.
const DefaultMaxLayerSize = 64 << 20

// Errors a caller can test for with errors.Is.
var (
	// ErrNotFound means the registry has no such repository, tag or digest.
	ErrNotFound = errors.New("not found in registry")
	// ErrUnauthorized means the registry refused the credentials, or
	// wanted some and got none.
	ErrUnauthorized = errors.New("registry refused the credentials")
	// ErrUnreachable means no registry answered at the address.
	ErrUnreachable = errors.New("registry unreachable")
	// ErrInterrupted means a download was cut short.
	ErrInterrupted = errors.New("transfer interrupted")
	// ErrLatest means a reference used the moving tag latest (or no tag)
	// without permission.
	ErrLatest = errors.New("a moving tag is refused")
	// ErrInsecure means plain HTTP was needed for a registry that is not
	// allowed to use it.
	ErrInsecure = errors.New("registry is not allowed plain HTTP")
	// ErrNotActor means the artifact has no Wasm module layer.
	ErrNotActor = errors.New("not an actor artifact")
	// ErrTooLarge means a layer exceeds the size limit.
	ErrTooLarge = errors.New("layer too large")
	// ErrDigest means content did not match its digest.
	ErrDigest = errors.New("content does not match its digest")
)
