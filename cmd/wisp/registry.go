package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/wisp-dev/wisp/host/claims"
	"github.com/wisp-dev/wisp/oci"
)

// registryLong explains how wisp talks to registries; push, pull and
// inspect show it.
const registryLong = `
REF names an artifact in an OCI registry: registry/repository:tag, or
registry/repository@sha256:... to pin one exact artifact. The tag latest (and a
reference without a tag) is refused unless --allow-latest: a moving tag
defeats a signed, cached deployment.

Credentials come from --user/--password (env WISP_REGISTRY_USER and
WISP_REGISTRY_PASSWORD), else from Docker's config (~/.docker/config.json or
$DOCKER_CONFIG, credential helpers included: 'docker login' works). Registries
on this machine (localhost, 127.0.0.0/8, ::1) may use plain HTTP, as Docker
allows; others must speak HTTPS with a valid certificate unless --insecure.

Pulled artifacts are kept in an OCI image layout under the user cache dir
(--cache-dir, env WISP_OCI_CACHE); every read checks the digests again.`

// registryFlags are the flags of the verbs that talk to registries.
type registryFlags struct {
	user, password string
	insecure       bool
	allowLatest    bool
	cacheDir       string
	maxLayer       int64
}

func (f *registryFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&f.user, "user", os.Getenv("WISP_REGISTRY_USER"), "registry user name (env WISP_REGISTRY_USER)")
	// No env default here: help would print the password.
	fl.StringVar(&f.password, "password", "", "registry password (env WISP_REGISTRY_PASSWORD)")
	fl.BoolVar(&f.insecure, "insecure", false, "allow plain HTTP or an unverified certificate for any registry (localhost always may)")
	fl.BoolVar(&f.allowLatest, "allow-latest", false, "allow the tag latest and references without a tag")
	fl.StringVar(&f.cacheDir, "cache-dir", os.Getenv("WISP_OCI_CACHE"), "artifact cache (env WISP_OCI_CACHE; default: wisp/oci under the user cache dir)")
	fl.Int64Var(&f.maxLayer, "max-layer-size", oci.DefaultMaxLayerSize, "largest module layer to download, in bytes")
}

// client returns a registry client that reports progress on stderr.
func (f *registryFlags) client(stderr io.Writer) (*oci.Client, error) {
	opts := []oci.Option{
		oci.WithInsecure(f.insecure),
		oci.WithAllowLatest(f.allowLatest),
		oci.WithMaxLayerSize(f.maxLayer),
		oci.WithProgress(progressPrinter(stderr)),
	}
	if f.cacheDir != "" {
		opts = append(opts, oci.WithCacheDir(f.cacheDir))
	}
	password := f.password
	if password == "" {
		password = os.Getenv("WISP_REGISTRY_PASSWORD")
	}
	if f.user != "" || password != "" {
		opts = append(opts, oci.WithBasicAuth(f.user, password))
	}
	return oci.New(opts...)
}

// progressPrinter shows blob transfers: one updating line per blob on a
// terminal, one line per finished blob otherwise.
func progressPrinter(w io.Writer) func(oci.Progress) {
	tty := false
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil {
			tty = st.Mode()&os.ModeCharDevice != 0
		}
	}
	var started time.Time
	return func(p oci.Progress) {
		if p.Total < 1024 {
			return // the config blob and other small change
		}
		short := strings.TrimPrefix(p.Digest, "sha256:")
		if len(short) > 12 {
			short = short[:12]
		}
		if p.Skipped {
			fmt.Fprintf(w, "%s %s %s: already there\n", p.Op, short, bytesize(p.Total))
			return
		}
		if p.Done == 0 {
			started = time.Now()
		}
		line := fmt.Sprintf("%s %s %s / %s", p.Op, short, bytesize(p.Done), bytesize(p.Total))
		switch {
		case tty && p.Done < p.Total:
			fmt.Fprintf(w, "\r%s", line)
		case p.Done == p.Total:
			prefix := ""
			if tty {
				prefix = "\r"
			}
			fmt.Fprintf(w, "%s%s done in %s\n", prefix, line, time.Since(started).Round(time.Millisecond))
		}
	}
}

func bytesize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func newPushCmd() *cobra.Command {
	f := &registryFlags{}
	var output string
	cmd := &cobra.Command{
		Use:   "push REF FILE",
		Short: "Push a signed actor module to an OCI registry",
		Long: `Push the signed actor module FILE to the registry as REF and print the
manifest digest. The artifact has wasmCloud's layout (one layer
application/vnd.module.wasm.content.layer.v1+wasm, config
application/vnd.wasmcloud.actor.archive.config), so wash and wasmCloud hosts
read it too; the manifest is annotated with the name and version from the
module's claims. Unsigned modules, and modules whose claims do not verify,
are refused (exit 7): sign with 'wisp claims sign' or build with 'wisp build'.
` + registryLong + `

  wisp push localhost:5000/demo/echo:0.1.0 ./actors/echo/build/echo_s.wasm
  wisp push ghcr.io/me/echo:0.1.0 echo_s.wasm --user me --password "$TOKEN" -o json`,
		Args: args(2, 2),
		RunE: func(cmd *cobra.Command, a []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			ref, path := a[0], a[1]
			if _, err := oci.ParseReference(ref, f.allowLatest); err != nil {
				return usageError{err}
			}
			module, err := readModule(path)
			if err != nil {
				return err
			}
			r, err := claims.Inspect(module, claims.VerifyOptions{})
			switch {
			case errors.Is(err, claims.ErrNoClaims):
				return invalidError{fmt.Errorf("%s is not signed; hosts refuse unsigned actors: sign it with 'wisp claims sign %s' first", path, path)}
			case err != nil:
				return invalidError{fmt.Errorf("%s: %w", path, err)}
			case !r.Valid:
				return invalidError{fmt.Errorf("%s: claims are INVALID: %s", path, shortReason(r))}
			}
			ann := map[string]string{oci.AnnotationTitle: r.Name}
			if r.Ver != "" {
				ann[oci.AnnotationVersion] = r.Ver
			}
			c, err := f.client(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			p, err := c.Push(cmd.Context(), ref, module, ann)
			if err != nil {
				return err
			}
			if output != outTable {
				return printStructured(cmd.OutOrStdout(), output, map[string]any{"reference": p.Reference, "digest": p.Digest, "size": len(module), "module": r.Module, "name": r.Name})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Pushed %s\nDigest: %s\n", p.Reference, p.Digest)
			return nil
		},
	}
	f.register(cmd.Flags())
	cmd.Flags().StringVarP(&output, "output", "o", outTable, "output format: table, json or yaml")
	return cmd
}

func newPullCmd() *cobra.Command {
	f := &registryFlags{}
	var out string
	var refresh bool
	cmd := &cobra.Command{
		Use:   "pull REF",
		Short: "Pull an actor module from an OCI registry",
		Long: `Pull the actor module REF into the local cache and write it to -o (default:
the repository's last name with .wasm, in the current folder). A tag already
in the cache is not asked for again unless --refresh; a digest reference
never resolves a tag. The module's claims are shown but not enforced here:
hosts enforce their own policy when they start it.
` + registryLong + `

  wisp pull localhost:5000/demo/echo:0.1.0 -o echo.wasm
  wisp pull localhost:5000/demo/echo@sha256:4f1c... -o echo.wasm
  wisp pull localhost:5000/demo/echo:0.1.0 --refresh`,
		Args: args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) error {
			r, err := oci.ParseReference(a[0], f.allowLatest)
			if err != nil {
				return usageError{err}
			}
			if out == "" {
				out = r.Repository[strings.LastIndex(r.Repository, "/")+1:] + ".wasm"
			}
			c, err := f.client(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			policy := oci.IfNotPresent
			if refresh {
				policy = oci.Always
			}
			art, err := c.Pull(cmd.Context(), a[0], policy)
			if err != nil {
				return err
			}
			if err := writeModule(out, art.Module, ""); err != nil {
				return err
			}
			from := "registry"
			if art.Cached {
				from = "cache"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Pulled %s (from %s)\nDigest: %s\nWrote %s (%s)\n", art.Reference, from, art.Digest, out, bytesize(int64(len(art.Module))))
			if rep, err := claims.Inspect(art.Module, claims.VerifyOptions{}); err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s has no readable claims (%v): hosts refuse it unless --allow-unsigned\n", out, err)
			} else if !rep.Valid {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s: claims are INVALID: %s\n", out, shortReason(rep))
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "Claims: %s (%s), issuer %s\n", rep.Name, rep.Module, rep.Issuer)
			}
			return nil
		},
	}
	f.register(cmd.Flags())
	fl := cmd.Flags()
	fl.StringVarP(&out, "output", "o", "", "file to write the module to")
	fl.BoolVar(&refresh, "refresh", false, "ask the registry for the tag again even if it is cached")
	return cmd
}

// inspection is what `wisp inspect -o json` prints.
type inspection struct {
	Reference   string            `json:"reference,omitempty"`
	File        string            `json:"file,omitempty"`
	Digest      string            `json:"digest,omitempty"`
	MediaType   string            `json:"media_type,omitempty"`
	Config      string            `json:"config_media_type,omitempty"`
	Layer       string            `json:"layer_media_type,omitempty"`
	LayerDigest string            `json:"layer_digest,omitempty"`
	Size        int64             `json:"size"`
	SHA256      string            `json:"sha256"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Cached      bool              `json:"cached"`
	Claims      *claims.Report    `json:"claims"`
}

func newInspectCmd() *cobra.Command {
	f := &registryFlags{}
	var output string
	cmd := &cobra.Command{
		Use:   "inspect REF|FILE",
		Short: "Show an actor artifact: manifest, digest, size and claims",
		Long: `Show what REF holds: the manifest digest and media types, the module's size
and SHA-256, the manifest's annotations, and the module's claims with their
verdict. REF is resolved at the registry (the cache still saves downloading
blobs it has); a digest reference is served from the cache when present.
A FILE shows the same for a local module.

Exit code 7 when the module is not signed or its claims are invalid, as
'wisp claims inspect' does.
` + registryLong + `

  wisp inspect localhost:5000/demo/echo:0.1.0
  wisp inspect localhost:5000/demo/echo:0.1.0 -o json | jq -r .digest`,
		Args: args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			var in inspection
			var module []byte
			if _, err := os.Stat(a[0]); err == nil || !oci.LooksLikeReference(a[0]) {
				m, err := readModule(a[0])
				if err != nil {
					return err
				}
				module, in.File = m, a[0]
			} else {
				if _, err := oci.ParseReference(a[0], f.allowLatest); err != nil {
					return usageError{err}
				}
				c, err := f.client(cmd.ErrOrStderr())
				if err != nil {
					return err
				}
				art, err := c.Pull(cmd.Context(), a[0], oci.Always)
				if err != nil {
					return err
				}
				module = art.Module
				in.Reference, in.Digest, in.Cached = art.Reference, art.Digest, art.Cached
				in.MediaType, in.Config = art.Manifest.MediaType, art.Manifest.Config.MediaType
				in.Layer, in.LayerDigest = art.Layer.MediaType, art.Layer.Digest.String()
				in.Annotations = art.Manifest.Annotations
			}
			sum := sha256.Sum256(module)
			in.Size, in.SHA256 = int64(len(module)), hex.EncodeToString(sum[:])
			rep, cerr := claims.Inspect(module, claims.VerifyOptions{})
			if cerr == nil {
				in.Claims = rep
			}
			if output != outTable {
				if err := printStructured(cmd.OutOrStdout(), output, in); err != nil {
					return err
				}
			} else {
				if err := printInspection(cmd.OutOrStdout(), &in); err != nil {
					return err
				}
				if rep != nil {
					fmt.Fprintln(cmd.OutOrStdout())
					if err := printReport(cmd.OutOrStdout(), a[0], rep, time.Now()); err != nil {
						return err
					}
				}
			}
			switch {
			case cerr != nil:
				return invalidError{fmt.Errorf("%s: no readable claims: %w", a[0], cerr)}
			case !rep.Valid:
				return invalidError{fmt.Errorf("%s: claims are INVALID: %s", a[0], shortReason(rep))}
			}
			return nil
		},
	}
	f.register(cmd.Flags())
	cmd.Flags().StringVarP(&output, "output", "o", outTable, "output format: table, json or yaml")
	return cmd
}

// printInspection writes what `wisp inspect` found as labelled lines.
func printInspection(w io.Writer, in *inspection) error {
	t := table(w)
	row := func(label, v string) {
		if v != "" {
			fmt.Fprintf(t, "%s:\t%s\n", label, v)
		}
	}
	row("Reference", in.Reference)
	row("File", in.File)
	row("Digest", in.Digest)
	row("Manifest", in.MediaType)
	row("Config", in.Config)
	if in.Layer != "" {
		row("Layer", in.Layer+" "+in.LayerDigest)
	}
	row("Size", bytesize(in.Size))
	row("SHA-256", in.SHA256)
	for _, k := range slices.Sorted(maps.Keys(in.Annotations)) {
		row("Annotation", k+"="+in.Annotations[k])
	}
	return t.Flush()
}
