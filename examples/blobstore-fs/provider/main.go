// Command provider is a wasmcloud:blobstore capability provider on the
// local filesystem, written as a third party writes one for wisp: the
// provider interface (package provider), served on the lattice by package
// provider/runner, in a process of its own with credentials of the
// provider role. Each linked actor has a directory of its own under the
// link's ROOT (default --root); a container is a directory, an object a
// file.
//
//	wisp creds create blobfs --role provider --contract wasmcloud:blobstore -o blobfs.creds
//	go run ./examples/blobstore-fs/provider --nats-creds blobfs.creds --root /srv/blobs
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/provider"
	"github.com/wisp-dev/wisp/provider/runner"
)

func main() {
	url := flag.String("nats-url", "nats://127.0.0.1:4222", "NATS server of the lattice")
	creds := flag.String("nats-creds", "", ".creds file of a user with the provider role")
	tlsCA := flag.String("nats-tls-ca", "", "CA of the server's TLS certificate")
	lat := flag.String("lattice", lattice.DefaultLattice, "lattice id")
	linkName := flag.String("link-name", "default", "link name served")
	domain := flag.String("js-domain", "", "JetStream domain of the lattice's state")
	root := flag.String("root", "blobs", "directory of the objects when a link gives no ROOT")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, log, *url, lattice.Credentials{CredsFile: *creds, TLSCAFile: *tlsCA}, *lat, *linkName, *domain, *root); err != nil {
		fmt.Fprintln(os.Stderr, "blobstore-fs:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger, url string, creds lattice.Credentials, lat, linkName, domain, root string) error {
	opts, err := creds.NATSOptions()
	if err != nil {
		return err
	}
	nc, err := nats.Connect(url, append(opts, nats.Name("blobstore-fs"), nats.MaxReconnects(-1))...)
	if err != nil {
		return fmt.Errorf("connect %s: %w", url, lattice.AuthHint(err))
	}
	defer nc.Drain()
	r, err := runner.Start(ctx, &fsProvider{root: root}, runner.Config{Conn: nc, Lattice: lat, LinkName: linkName, Logger: log})
	if err != nil {
		return err
	}
	var js jetstream.JetStream
	if domain != "" {
		js, err = jetstream.NewWithDomain(nc, domain)
	} else {
		js, err = jetstream.New(nc)
	}
	if err != nil {
		return err
	}
	log.Info("serving wasmcloud:blobstore", "lattice", lat, "link_name", linkName, "root", root)
	for ctx.Err() == nil {
		if err := r.FollowLinks(ctx, js); err != nil {
			log.Warn("following links; retrying", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return r.Stop(sctx)
}

// fsProvider keeps each linked actor's containers under a directory.
type fsProvider struct {
	root string
	mu   sync.Mutex
	dirs map[string]string // actor → its directory
}

func (p *fsProvider) Contract() string { return "wasmcloud:blobstore" }

func (p *fsProvider) Start(context.Context, provider.Runtime) error {
	p.dirs = map[string]string{}
	return nil
}

func (p *fsProvider) PutLink(_ context.Context, l provider.Link) error {
	// The actor's id may hold characters a file name must not: a digest
	// names its directory.
	sum := sha256.Sum256([]byte(l.Actor))
	dir := filepath.Join(l.Value("ROOT", p.root), hex.EncodeToString(sum[:8]))
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("link %s: %w", l.Key(), err)
	}
	p.mu.Lock()
	p.dirs[l.Actor] = dir
	p.mu.Unlock()
	return nil
}

func (p *fsProvider) DelLink(_ context.Context, l provider.Link) error {
	p.mu.Lock()
	delete(p.dirs, l.Actor)
	p.mu.Unlock()
	return nil
}

func (p *fsProvider) Stop(context.Context) error { return nil }

// wasmCloud's blobstore shapes, as far as this provider uses them.
type (
	containerObject struct {
		ContainerID string `msgpack:"containerId"`
		ObjectID    string `msgpack:"objectId"`
	}
	chunk struct {
		ObjectID    string `msgpack:"objectId"`
		ContainerID string `msgpack:"containerId"`
		Bytes       []byte `msgpack:"bytes"`
		Offset      uint64 `msgpack:"offset"`
		IsLast      bool   `msgpack:"isLast"`
	}
	putObjectRequest struct {
		Chunk       chunk  `msgpack:"chunk"`
		ContentType string `msgpack:"contentType"`
	}
	getObjectResponse struct {
		Success       bool    `msgpack:"success"`
		Error         *string `msgpack:"error"`
		InitialChunk  *chunk  `msgpack:"initialChunk"`
		ContentLength uint64  `msgpack:"contentLength"`
	}
	removeObjectsRequest struct {
		ContainerID string   `msgpack:"containerId"`
		Objects     []string `msgpack:"objects"`
	}
	operationResult struct {
		Key     string  `msgpack:"key"`
		Error   *string `msgpack:"error"`
		Success bool    `msgpack:"success"`
	}
	objectMetadata struct {
		ContainerID   string `msgpack:"containerId"`
		ObjectID      string `msgpack:"objectId"`
		ContentLength uint64 `msgpack:"contentLength"`
	}
	listObjectsResponse struct {
		Objects []objectMetadata `msgpack:"objects"`
		IsLast  bool             `msgpack:"isLast"`
	}
)

func (p *fsProvider) Handle(_ context.Context, c provider.Call) ([]byte, error) {
	p.mu.Lock()
	dir, ok := p.dirs[c.Actor]
	p.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: %s", provider.ErrNotLinked, c.Actor)
	}
	decode := func(v any) error { return provider.DecodePayload(c.Payload, v) }
	var out any
	switch c.Operation {
	case "Blobstore.ContainerExists", "Blobstore.CreateContainer":
		var name string
		if err := decode(&name); err != nil {
			return nil, err
		}
		path, err := safeJoin(dir, name)
		if err != nil {
			return nil, err
		}
		if c.Operation == "Blobstore.CreateContainer" {
			return nil, os.MkdirAll(path, 0o750)
		}
		fi, err := os.Stat(path)
		out = err == nil && fi.IsDir()
	case "Blobstore.RemoveContainers":
		var names []string
		if err := decode(&names); err != nil {
			return nil, err
		}
		out = results(names, func(n string) error {
			path, err := safeJoin(dir, n)
			if err == nil {
				err = os.RemoveAll(path)
			}
			return err
		})
	case "Blobstore.ObjectExists":
		var o containerObject
		if err := decode(&o); err != nil {
			return nil, err
		}
		path, err := safeJoin(dir, o.ContainerID, o.ObjectID)
		if err != nil {
			return nil, err
		}
		fi, err := os.Stat(path)
		out = err == nil && fi.Mode().IsRegular()
	case "Blobstore.PutObject":
		var r putObjectRequest
		if err := decode(&r); err != nil {
			return nil, err
		}
		path, err := safeJoin(dir, r.Chunk.ContainerID, r.Chunk.ObjectID)
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, r.Chunk.Bytes, 0o640); err != nil {
			return nil, err
		}
		out = map[string]any{}
	case "Blobstore.GetObject":
		var o containerObject
		if err := decode(&o); err != nil {
			return nil, err
		}
		path, err := safeJoin(dir, o.ContainerID, o.ObjectID)
		if err != nil {
			return nil, err
		}
		b, err := os.ReadFile(path)
		switch {
		case errors.Is(err, os.ErrNotExist):
			out = getObjectResponse{}
		case err != nil:
			msg := err.Error()
			out = getObjectResponse{Error: &msg}
		default:
			out = getObjectResponse{Success: true, ContentLength: uint64(len(b)),
				InitialChunk: &chunk{ObjectID: o.ObjectID, ContainerID: o.ContainerID, Bytes: b, IsLast: true}}
		}
	case "Blobstore.RemoveObjects":
		var r removeObjectsRequest
		if err := decode(&r); err != nil {
			return nil, err
		}
		out = results(r.Objects, func(n string) error {
			path, err := safeJoin(dir, r.ContainerID, n)
			if err == nil {
				err = os.Remove(path)
			}
			return err
		})
	case "Blobstore.ListObjects":
		var o containerObject
		if err := decode(&o); err != nil {
			return nil, err
		}
		path, err := safeJoin(dir, o.ContainerID)
		if err != nil {
			return nil, err
		}
		ents, err := os.ReadDir(path)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		list := listObjectsResponse{Objects: []objectMetadata{}, IsLast: true}
		for _, e := range ents {
			if info, err := e.Info(); err == nil && info.Mode().IsRegular() {
				list.Objects = append(list.Objects, objectMetadata{ContainerID: o.ContainerID, ObjectID: e.Name(), ContentLength: uint64(info.Size())})
			}
		}
		sort.Slice(list.Objects, func(i, j int) bool { return list.Objects[i].ObjectID < list.Objects[j].ObjectID })
		out = list
	default:
		return nil, fmt.Errorf("%w %q", provider.ErrUnknownOperation, c.Operation)
	}
	return msgpack.Marshal(out)
}

// results runs fn on each name and reports each outcome, as wasmCloud's
// list of OperationResult.
func results(names []string, fn func(string) error) []operationResult {
	out := make([]operationResult, 0, len(names))
	for _, n := range names {
		r := operationResult{Key: n, Success: true}
		if err := fn(n); err != nil {
			msg := err.Error()
			r.Error, r.Success = &msg, false
		}
		out = append(out, r)
	}
	return out
}

// safeJoin joins names under dir, refusing names that would leave it.
func safeJoin(dir string, names ...string) (string, error) {
	for _, n := range names {
		if n == "" || n == "." || n == ".." || strings.ContainsAny(n, `/\`) || strings.ContainsRune(n, 0) {
			return "", fmt.Errorf("%w: name %q: want a plain file name", provider.ErrBadPayload, n)
		}
	}
	return filepath.Join(append([]string{dir}, names...)...), nil
}
