// Package prepared keeps on disk what the wazero engine makes of a module
// before it compiles it: the module with its loops instrumented (package
// interrupt) and readied for snapshots (package snapshot), and the
// snapshot plan. Rewriting a 2 MB Go guest takes 25–50 ms of a host's
// first start of it; reading the result back takes a few.
//
// Entries are keyed by the SHA-256 of the original module and a variant
// (with or without snapshots), in a folder named for a digest of the
// rewriters' own source code: a wisp build whose rewriters differ in any
// byte uses another folder, and removes the folders of other builds when it
// opens the cache. Each entry carries a CRC-32C of its content; one that
// does not match, or does not decode, is a miss.
//
// The folder is trusted as wazero's compilation cache next to it is (that
// one holds machine code): whoever can write there can change what a host
// runs.
package prepared

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/wisp-dev/wisp/host/engine/internal/cachetrim"
	"github.com/wisp-dev/wisp/host/engine/internal/interrupt"
	"github.com/wisp-dev/wisp/host/engine/internal/snapshot"
	"github.com/wisp-dev/wisp/host/engine/internal/wasmbin"
)

// magic starts every entry.
const magic = "wispprep"

// FolderPrefix starts the name of a cache folder; the rewriters' digest
// follows.
const FolderPrefix = "prepared-"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// Digest is a digest of the source of the packages whose output the cache
// keeps.
var Digest = sync.OnceValue(func() string {
	return digest(interrupt.Source, snapshot.Source, wasmbin.Source)
})

// digest hashes the names and contents of every file of srcs.
func digest(srcs ...fs.FS) string {
	h := sha256.New()
	for _, src := range srcs {
		err := fs.WalkDir(src, ".", func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := fs.ReadFile(src, path)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "%s %d\n", path, len(b))
			h.Write(b)
			return nil
		})
		if err != nil { // embedded files: cannot fail
			panic(err)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Module is a prepared module and its snapshot plan.
type Module struct {
	Wasm []byte
	Plan snapshot.Plan
}

// Cache is a folder of prepared modules.
type Cache struct {
	dir string
}

// Open opens the cache in a folder of dir named for this build's
// rewriters, creating it, and removes other builds' folders.
func Open(dir string) (*Cache, error) {
	own := FolderPrefix + Digest()
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("prepared modules: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), FolderPrefix) && e.Name() != own {
			os.RemoveAll(filepath.Join(dir, e.Name())) // best effort: a stale folder only takes room
		}
	}
	c := &Cache{dir: filepath.Join(dir, own)}
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return nil, fmt.Errorf("prepared modules: %w", err)
	}
	return c, nil
}

// Dir is the cache's folder.
func (c *Cache) Dir() string { return c.dir }

func (c *Cache) path(sum [32]byte, variant string) string {
	return filepath.Join(c.dir, hex.EncodeToString(sum[:])+"-"+variant)
}

// Get returns the module prepared from the module whose SHA-256 is sum in
// variant, or false.
func (c *Cache) Get(sum [32]byte, variant string) (Module, bool) {
	path := c.path(sum, variant)
	b, err := os.ReadFile(path)
	if err != nil {
		return Module{}, false
	}
	m, ok := decode(b)
	if ok {
		cachetrim.Touch(path, time.Now())
	}
	return m, ok
}

// Put stores m as the module prepared from sum in variant. The entry
// appears whole or not at all.
func (c *Cache) Put(sum [32]byte, variant string, m Module) error {
	b, err := encode(m)
	if err != nil {
		return fmt.Errorf("prepared module: %w", err)
	}
	var tag [8]byte
	rand.Read(tag[:])
	final := c.path(sum, variant)
	tmp := final + ".tmp-" + hex.EncodeToString(tag[:])
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("prepared module: %w", err)
	}
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("prepared module: %w", err)
	}
	return nil
}

// An entry is magic, a CRC-32C of the rest, then the module and its plan:
//
//	u32 len, module | u32 len, refused | u32 n, n × (u32 len, export, u8 type)
//	| u32 n, n × (u32 offset, u32 len, bytes)
//
// little-endian. A Go guest has tens of thousands of data segments: this
// reads them back as views of the entry, with no copy.
func encode(m Module) ([]byte, error) {
	n := len(magic) + 4 + 16 + len(m.Wasm) + len(m.Plan.Refused)
	for _, g := range m.Plan.Globals {
		n += 5 + len(g.Export)
	}
	for _, d := range m.Plan.Data {
		n += 8 + len(d.Bytes)
	}
	b := make([]byte, len(magic)+4, n)
	copy(b, magic)
	u32 := func(v int) { b = binary.LittleEndian.AppendUint32(b, uint32(v)) }
	u32(len(m.Wasm))
	b = append(b, m.Wasm...)
	u32(len(m.Plan.Refused))
	b = append(b, m.Plan.Refused...)
	u32(len(m.Plan.Globals))
	for _, g := range m.Plan.Globals {
		u32(len(g.Export))
		b = append(b, g.Export...)
		b = append(b, g.Type)
	}
	u32(len(m.Plan.Data))
	for _, d := range m.Plan.Data {
		u32(int(d.Offset))
		u32(len(d.Bytes))
		b = append(b, d.Bytes...)
	}
	binary.BigEndian.PutUint32(b[len(magic):], crc(b[len(magic)+4:]))
	return b, nil
}

// reader reads an entry; a read past its end sets bad.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) u32() int {
	if len(r.b) < 4 {
		r.bad = true
		return 0
	}
	v := binary.LittleEndian.Uint32(r.b)
	r.b = r.b[4:]
	return int(v)
}

func (r *reader) bytes(n int) []byte {
	if n > len(r.b) {
		r.bad = true
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func decode(b []byte) (Module, bool) {
	head := len(magic) + 4
	if len(b) < head || string(b[:len(magic)]) != magic ||
		binary.BigEndian.Uint32(b[len(magic):]) != crc(b[head:]) {
		return Module{}, false
	}
	r := &reader{b: b[head:]}
	var m Module
	m.Wasm = r.bytes(r.u32())
	m.Plan.Refused = string(r.bytes(r.u32()))
	// Counts are bounded by what is left: each entry takes bytes.
	if n := r.u32(); n <= len(r.b)/5 {
		if n > 0 {
			m.Plan.Globals = make([]snapshot.Global, 0, n)
		}
		for range n {
			export := string(r.bytes(r.u32()))
			t := r.bytes(1)
			if r.bad {
				return Module{}, false
			}
			m.Plan.Globals = append(m.Plan.Globals, snapshot.Global{Export: export, Type: t[0]})
		}
	} else {
		return Module{}, false
	}
	if n := r.u32(); n <= len(r.b)/8 {
		if n > 0 {
			m.Plan.Data = make([]snapshot.Segment, 0, n)
		}
		for range n {
			off := r.u32()
			m.Plan.Data = append(m.Plan.Data, snapshot.Segment{Offset: uint32(off), Bytes: r.bytes(r.u32())})
		}
	} else {
		return Module{}, false
	}
	if r.bad || len(r.b) != 0 || len(m.Wasm) == 0 {
		return Module{}, false
	}
	return m, true
}
