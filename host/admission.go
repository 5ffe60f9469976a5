package host

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"

	"github.com/wisp-dev/wisp/host/internal/offheap"
	"github.com/wisp-dev/wisp/lattice"
)

// Admission: what one request may ask of a host. Every start, scale and
// module load is checked against the host's ceilings before it costs
// anything, and a refusal names the ceiling and the `wisp up` flag that
// raises it.

// DefaultMaxModuleSize is the largest module file a host reads by default.
const DefaultMaxModuleSize = 64 << 20 // 64 MiB

// ErrAdmission reports a request above one of the host's ceilings.
var ErrAdmission = errors.New("above this host's ceiling")

// Ceilings bound what requests may ask of a host. Zero fields take the
// defaults of DefaultCeilings.
type Ceilings struct {
	// Instances is the most instances one start or scale may ask for.
	Instances int
	// HostInstances is the most instances of all actors the host runs.
	HostInstances int
	// ModuleSize is the largest module file the host reads, in bytes.
	ModuleSize int64
}

// DefaultCeilings sizes the instance ceilings to the host's memory: one
// instance per 32 MiB for a start or scale, one per 8 MiB in all (a Go
// actor instance takes about 4 MB; a hand-written one far less), at least
// 8 and 32. A 1 GiB Raspberry Pi gets 32 and 128, an 8 GiB server 256 and
// 1024.
func DefaultCeilings() Ceilings {
	mem := memoryBytes()
	return Ceilings{
		Instances:     max(8, int(mem/(32<<20))),
		HostInstances: max(32, int(mem/(8<<20))),
		ModuleSize:    DefaultMaxModuleSize,
	}
}

// memoryBytes is the machine's memory, from /proc/meminfo; 1 GiB where it
// cannot be read.
func memoryBytes() uint64 {
	const fallback = 1 << 30
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return fallback
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			if kb, err := strconv.ParseUint(fields[1], 10, 64); err == nil && kb > 0 {
				return kb << 10
			}
		}
	}
	return fallback
}

// WithCeilings sets the host's ceilings; zero fields keep the defaults.
func WithCeilings(c Ceilings) Option { return func(o *options) { o.ceilings = c } }

// WithFileDirs lets the host start actors from module files under dirs
// (and their subdirectories). Without it the host starts actors only from
// OCI references.
func WithFileDirs(dirs ...string) Option {
	return func(o *options) { o.fileDirs = append(o.fileDirs, dirs...) }
}

// Ceilings reports the host's ceilings.
func (h *Host) Ceilings() Ceilings { return h.opts.ceilings }

// withDefaults fills the zero fields of c.
func (c Ceilings) withDefaults() Ceilings {
	d := DefaultCeilings()
	if c.Instances <= 0 {
		c.Instances = d.Instances
	}
	if c.HostInstances <= 0 {
		c.HostInstances = d.HostInstances
	}
	if c.ModuleSize <= 0 {
		c.ModuleSize = d.ModuleSize
	}
	return c
}

// resolveDirs makes the allowed directories absolute and resolves their
// symbolic links, so that a module's resolved path can be compared with
// them.
func resolveDirs(dirs []string) ([]string, error) {
	out := make([]string, 0, len(dirs))
	for _, d := range dirs {
		abs, err := filepath.Abs(d)
		if err != nil {
			return nil, fmt.Errorf("allowed file dir %s: %w", d, err)
		}
		if r, err := filepath.EvalSymlinks(abs); err == nil {
			abs = r
		}
		out = append(out, abs)
	}
	return out, nil
}

// checkLimits refuses per-actor limits above the host's: its default limits
// are its ceilings too.
func (h *Host) checkLimits(l lattice.ActorLimits) error {
	c := h.opts.limits
	switch {
	case l.MaxMemoryPages > c.MaxMemoryPages:
		return fmt.Errorf("limits: max_memory_pages %d is %w of %d pages (wisp up --max-memory-pages)", l.MaxMemoryPages, ErrAdmission, c.MaxMemoryPages)
	case l.MaxPayload > c.MaxPayload:
		return fmt.Errorf("limits: max_payload %d bytes is %w of %d (wisp up --max-payload)", l.MaxPayload, ErrAdmission, c.MaxPayload)
	case l.CallTimeoutMS > c.CallTimeoutMS:
		return fmt.Errorf("limits: call_timeout_ms %d is %w of %d ms (wisp up --call-timeout)", l.CallTimeoutMS, ErrAdmission, c.CallTimeoutMS)
	case l.MaxPayload < 0 || l.CallTimeoutMS < 0 || l.IdleTimeoutMS < 0:
		return errors.New("limits: a limit cannot be negative")
	}
	return nil
}

// checkInstances refuses a start or scale of actor name to count instances
// when it asks for more than one request may, or would take the host past
// its total.
func (h *Host) checkInstances(name string, count int) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.checkInstancesLocked(name, count)
}

// checkInstancesLocked is checkInstances with h.mu held. Instances of
// actors still starting count too, so that concurrent starts cannot
// together pass the host's total.
func (h *Host) checkInstancesLocked(name string, count int) error {
	c := h.opts.ceilings
	if count > c.Instances {
		return fmt.Errorf("%d instances: %w of %d per start or scale (wisp up --max-instances)", count, ErrAdmission, c.Instances)
	}
	total, mine := h.pending, 0
	if alias, ok := h.keys[name]; ok {
		name = alias
	}
	for n, a := range h.actors {
		if a == nil {
			continue
		}
		live := a.pool.Stats().Size
		total += live
		if n == name {
			mine = live
		}
	}
	if after := total - mine + count; after > c.HostInstances {
		return fmt.Errorf("%d instances: the host would run %d, %w of %d instances in all (wisp up --max-host-instances)", count, after, ErrAdmission, c.HostInstances)
	}
	return nil
}

// readModuleFile reads the module file at path, which must be a regular
// file under one of the host's allowed directories and no larger than its
// ceiling. A path outside them is refused with the same message whether
// it exists or not, so the control interface cannot probe the host's
// files. The module is read into memory outside Go's heap where it can be
// (package offheap); release frees it, and nothing may keep the bytes
// after that.
func (h *Host) readModuleFile(path string) (wasm []byte, release func(), err error) {
	const hint = "(wisp up --allow-file-dir DIR allows one; or push the module to a registry and start it by reference)"
	if len(h.opts.fileDirs) == 0 {
		return nil, nil, fmt.Errorf("module file %s: this host starts actors from no files %s", path, hint)
	}
	refuse := fmt.Errorf("module file %s: not under a directory this host allows modules from %s", path, hint)
	clean := filepath.Clean(path)
	if !filepath.IsAbs(clean) || !h.underFileDirs(clean) {
		return nil, nil, refuse
	}
	// A symbolic link under an allowed directory may point out of it.
	real, err := filepath.EvalSymlinks(clean)
	if err != nil {
		if _, lerr := os.Lstat(clean); errors.Is(lerr, os.ErrNotExist) {
			return nil, nil, fmt.Errorf("module file %s: no such file (%w)", path, os.ErrNotExist)
		}
		return nil, nil, refuse
	}
	if !h.underFileDirs(real) {
		return nil, nil, refuse
	}
	// O_NONBLOCK: opening a FIFO must not wait for a writer.
	f, err := os.OpenFile(real, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("module file %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("module file %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("module file %s: not a regular file (%s)", path, fileKind(st.Mode()))
	}
	limit := h.opts.ceilings.ModuleSize
	if st.Size() > limit {
		return nil, nil, fmt.Errorf("module file %s: %d bytes, %w of %d bytes per module (wisp up --max-module-size)", path, st.Size(), ErrAdmission, limit)
	}
	if b, err := offheap.Read(f, st.Size()); err == nil {
		return b.Bytes(), b.Close, nil
	}
	// Not here, or the file changed since its stat: read it into the heap,
	// from the start.
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, nil, fmt.Errorf("module file %s: %w", path, err)
	}
	// The file may grow between the stat and the read: read one byte past
	// the ceiling at most.
	var buf bytes.Buffer
	buf.Grow(int(st.Size()) + bytes.MinRead)
	if _, err := buf.ReadFrom(io.LimitReader(f, limit+1)); err != nil {
		return nil, nil, fmt.Errorf("module file %s: %w", path, err)
	}
	if int64(buf.Len()) > limit {
		return nil, nil, fmt.Errorf("module file %s: more than %d bytes, %w per module (wisp up --max-module-size)", path, limit, ErrAdmission)
	}
	return buf.Bytes(), func() {}, nil
}

// underFileDirs reports whether the absolute, clean path p is in one of the
// allowed directories or below it.
func (h *Host) underFileDirs(p string) bool {
	for _, d := range h.opts.fileDirs {
		if rel, err := filepath.Rel(d, p); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && rel != "." {
			return true
		}
	}
	return false
}

// freeMemory returns the heap the host no longer uses to the system: after
// a scale-down or a stop, the closed instances' linear memories (Go slices
// under wazero) are garbage, and the runtime would otherwise keep them for
// a while. It costs a full collection, so it runs only after such events.
func freeMemory() { debug.FreeOSMemory() }

// fileKind names what a file that is not a regular file is.
func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a block device"
	case m&os.ModeSocket != 0:
		return "a socket"
	}
	return "mode " + m.Type().String()
}
