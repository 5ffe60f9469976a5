package oci

import (
	"fmt"
	"net"
	"strings"

	"oras.land/oras-go/v2/registry"
)

// Reference is a parsed artifact reference: registry/repository:tag or
// registry/repository@sha256:….
type Reference struct {
	// Registry is host[:port].
	Registry string
	// Repository is the path within the registry.
	Repository string
	// Tag is set for tag references.
	Tag string
	// Digest is set for references pinned by digest.
	Digest string
}

// ParseReference parses ref. A reference without a tag or digest, or with
// the tag latest, is refused with ErrLatest unless allowLatest is set (then
// a missing tag means latest): a moving tag defeats a signed, cached
// deployment.
func ParseReference(ref string, allowLatest bool) (Reference, error) {
	r, err := registry.ParseReference(ref)
	if err != nil {
		return Reference{}, fmt.Errorf("parse reference %q: %w (want registry/repository:tag or @sha256:digest)", ref, err)
	}
	out := Reference{Registry: r.Registry, Repository: r.Repository}
	if err := r.ValidateReferenceAsDigest(); err == nil {
		out.Digest = r.Reference
		return out, nil
	}
	out.Tag = r.Reference
	if out.Tag == "" || out.Tag == "latest" {
		if !allowLatest {
			what := "has no tag"
			if out.Tag == "latest" {
				what = "uses the tag latest"
			}
			return Reference{}, fmt.Errorf("%s %s: %w: name a version or a digest, or pass --allow-latest", ref, what, ErrLatest)
		}
		out.Tag = "latest"
	}
	return out, nil
}

// String returns the canonical form of the reference.
func (r Reference) String() string {
	if r.Digest != "" {
		return r.Registry + "/" + r.Repository + "@" + r.Digest
	}
	return r.Registry + "/" + r.Repository + ":" + r.Tag
}

// Name is registry/repository.
func (r Reference) Name() string { return r.Registry + "/" + r.Repository }

// reference is the tag or digest.
func (r Reference) reference() string {
	if r.Digest != "" {
		return r.Digest
	}
	return r.Tag
}

// IsLocalRegistry reports whether host[:port] is on this machine:
// localhost, or a loopback address. Docker lets such registries use plain
// HTTP without being listed as insecure; so does wisp.
func IsLocalRegistry(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// LooksLikeReference reports whether s reads as an OCI reference rather
// than a file path: its first path element names a registry (it has a dot
// or a port, or is localhost) and it is not a .wasm file name.
func LooksLikeReference(s string) bool {
	if strings.HasPrefix(s, "/") || strings.HasPrefix(s, ".") || strings.HasSuffix(s, ".wasm") || strings.HasPrefix(s, "file://") {
		return false
	}
	first, _, ok := strings.Cut(s, "/")
	if !ok {
		return false
	}
	return strings.ContainsAny(first, ".:") || first == "localhost"
}
