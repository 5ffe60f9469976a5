//go:build wasmtime

package engine

/*
#cgo noescape wisp_call
#include <stdlib.h>
#include "wasmtime_capi.h"
*/
import "C"

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/bytecodealliance/wasmtime-go/v39"

	"github.com/wisp-dev/wisp/host/engine/internal/cachetrim"
)

func init() { register("wasmtime", newWasmtime) }

// WasmtimeVersion is the Wasmtime release this binary links (through
// wasmtime-go v39.0.1). It names the compiled-code cache folder; Wasmtime
// also refuses to load code compiled by another version or configuration,
// and then wisp compiles again.
const WasmtimeVersion = "39.0.1"

// epochTick is how often the engine's ticker advances Wasmtime's epoch while
// calls run. A call's deadline is a number of ticks, so a looping guest is
// stopped between its timeout and its timeout plus two ticks.
const epochTick = 5 * time.Millisecond

// maxTableElements bounds a guest's tables (a Go actor's has a few thousand
// entries), so table.grow cannot exhaust the host's memory.
const maxTableElements = 1 << 20

// Trap codes of Wasmtime 39 (wasmtime/trap.h). wasmtime-go's TrapCode
// constants stop at an older list, so they are not used here.
const (
	trapStackOverflow      = 0
	trapMemoryOutOfBounds  = 1
	trapIndirectCallToNull = 4
	trapBadSignature       = 5
	trapIntegerDivByZero   = 7
	trapUnreachable        = 9
	trapInterrupt          = 10
	trapOutOfFuel          = 12
)

// wapcFuncs are the waPC host functions, their ids in the C bridge and their
// i32 signatures.
var wapcFuncs = []struct {
	name            string
	id              C.int
	params, results int
}{
	{"__guest_request", C.WISP_FN_GUEST_REQUEST, 2, 0},
	{"__guest_response", C.WISP_FN_GUEST_RESPONSE, 2, 0},
	{"__guest_error", C.WISP_FN_GUEST_ERROR, 2, 0},
	{"__host_call", C.WISP_FN_HOST_CALL, 8, 1},
	{"__host_response_len", C.WISP_FN_HOST_RESPONSE_LEN, 0, 1},
	{"__host_response", C.WISP_FN_HOST_RESPONSE, 1, 0},
	{"__host_error_len", C.WISP_FN_HOST_ERROR_LEN, 0, 1},
	{"__host_error", C.WISP_FN_HOST_ERROR, 1, 0},
	{"__console_log", C.WISP_FN_CONSOLE_LOG, 2, 0},
}

// Export names as C strings, made once.
var (
	cGuestCall  = C.CString(exportGuestCall)
	cStartFuncs = map[string]*C.char{
		exportInitialize: C.CString(exportInitialize),
		exportStart:      C.CString(exportStart),
		exportWaPCInit:   C.CString(exportWaPCInit),
	}
)

// wasmtimeEngine compiles modules with Wasmtime (Cranelift). One Wasmtime
// engine and one linker, holding WASI and the waPC functions under both
// module names, serve every module. Unlike wazero, a memory limit is a
// property of a store (one per instance), not of the compiled code, so a
// module compiled once serves every actor that uses it whatever its limits;
// it is kept, with its InstancePre (imports resolved once), while any
// Module uses it.
type wasmtimeEngine struct {
	eng      *wasmtime.Engine
	cEng     *C.wasm_engine_t
	linker   *C.wasmtime_linker_t
	cacheDir string
	fuel     uint64 // per call; 0: not metered
	ticker   *epochTicker

	mu      sync.Mutex
	closed  bool
	modules map[[sha256.Size]byte]*wasmtimeShared

	compiled atomic.Int64 // modules compiled rather than loaded from the cache
}

// wasmtimeShared is a compiled module and the number of Modules using it.
type wasmtimeShared struct {
	key    [sha256.Size]byte
	mod    *wasmtime.Module
	pre    *C.wasmtime_instance_pre_t
	pages  uint32   // memory the module asks for at start
	starts []string // start functions it exports, in the order they run
	refs   int
}

func newWasmtime(cfg Config) (Engine, error) {
	switch cfg.Mode {
	case "", "auto", "compiler":
	case "interpreter":
		return nil, errors.New(`engine wasmtime has no interpreter mode: use mode "auto" or "compiler", or the wazero engine, which has an interpreter`)
	default:
		return nil, fmt.Errorf("engine mode %q: want auto or compiler (wasmtime compiles with Cranelift)", cfg.Mode)
	}
	if err := checkWasmtimeLayout(); err != nil {
		return nil, err
	}
	e := &wasmtimeEngine{modules: map[[sha256.Size]byte]*wasmtimeShared{}, fuel: cfg.Fuel}
	if cfg.CacheDir != "" {
		// Code compiled with fuel metering is other code: its own folder.
		folder := wasmtimeFolderPrefix + WasmtimeVersion + "-" + runtime.GOARCH
		if e.fuel != 0 {
			folder += "-fuel"
		}
		e.cacheDir = filepath.Join(cfg.CacheDir, folder)
		if err := os.MkdirAll(e.cacheDir, 0o700); err != nil {
			return nil, fmt.Errorf("compilation cache %s: %w", cfg.CacheDir, err)
		}
	}
	wc := wasmtime.NewConfig()
	wc.SetEpochInterruption(true)
	wc.SetConsumeFuel(e.fuel != 0)
	// What wazero does not run either: one 32-bit memory per guest, which
	// the memory limit bounds.
	wc.SetWasmMultiMemory(false)
	wc.SetWasmMemory64(false)
	e.eng = wasmtime.NewEngineWithConfig(wc)
	e.cEng = (*C.wasm_engine_t)(cHandle(e.eng))
	if err := e.link(); err != nil {
		e.eng.Close()
		return nil, err
	}
	e.ticker = newEpochTicker(e.eng)
	return e, nil
}

// cHandle returns the C object behind a wasmtime-go handle (*Engine,
// *Module): its unexported first field, whose layout checkWasmtimeLayout
// verified. wasmtime-go has no accessor for it, and the bridge needs it to
// define host functions that do not go through wasmtime-go's wrappers.
func cHandle[T any](h *T) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(h)) }

// checkWasmtimeLayout verifies what the bridge assumes of wasmtime-go and of
// Wasmtime's C types, so that a different wasmtime-go version fails here with
// a clear error instead of crashing later.
func checkWasmtimeLayout() error {
	for _, t := range []reflect.Type{reflect.TypeFor[wasmtime.Engine](), reflect.TypeFor[wasmtime.Module]()} {
		if t.NumField() != 1 || t.Field(0).Name != "_ptr" || t.Field(0).Offset != 0 || t.Field(0).Type.Kind() != reflect.Pointer {
			return fmt.Errorf("engine wasmtime: wasmtime-go's %s is not the handle this wisp expects (built for wasmtime-go v39)", t)
		}
	}
	for _, c := range []struct {
		t    reflect.Type
		size C.size_t
	}{
		{reflect.TypeFor[wasmtime.Func](), C.wisp_sizeof_func},
		{reflect.TypeFor[wasmtime.Memory](), C.wisp_sizeof_memory},
		{reflect.TypeFor[wasmtime.Instance](), C.wisp_sizeof_instance},
	} {
		if c.t.NumField() == 0 || c.t.Field(0).Name != "val" || c.t.Field(0).Type.Size() != uintptr(c.size) {
			return fmt.Errorf("engine wasmtime: Wasmtime's %s is not %d bytes as wisp declares it (built for wasmtime-go v39)", c.t, c.size)
		}
	}
	if C.wisp_sizeof_val_raw != 16 {
		return errors.New("engine wasmtime: wasmtime_val_raw_t is not 16 bytes")
	}
	return nil
}

// link builds the linker: WASI preview 1 (with wisp's poll_oneoff, so a
// sleeping guest wakes at its deadline) and the waPC functions under both
// module names.
func (e *wasmtimeEngine) link() error {
	e.linker = C.wasmtime_linker_new(e.cEng)
	if err := C.wasmtime_linker_define_wasi(e.linker); err != nil {
		return fmt.Errorf("engine wasmtime: define WASI: %s", takeCString(C.wisp_error(err)))
	}
	C.wasmtime_linker_allow_shadowing(e.linker, true)
	define := func(module, name string, id C.int, params, results int) error {
		cm, cn := C.CString(module), C.CString(name)
		defer C.free(unsafe.Pointer(cm))
		defer C.free(unsafe.Pointer(cn))
		if err := C.wisp_define_func(e.linker, cm, cn, id, C.int(params), C.int(results)); err != nil {
			return fmt.Errorf("engine wasmtime: define %s.%s: %s", module, name, takeCString(C.wisp_error(err)))
		}
		return nil
	}
	if err := define(moduleWASI, "poll_oneoff", C.WISP_FN_POLL_ONEOFF, 4, 1); err != nil {
		return err
	}
	for _, mod := range []string{ModuleWaPC, ModuleWasmbus} {
		for _, f := range wapcFuncs {
			if err := define(mod, f.name, f.id, f.params, f.results); err != nil {
				return err
			}
		}
	}
	return nil
}

// takeCString returns s as a Go string and frees it.
func takeCString(s *C.char) string {
	if s == nil {
		return ""
	}
	defer C.free(unsafe.Pointer(s))
	return C.GoString(s)
}

func (e *wasmtimeEngine) Name() string { return "wasmtime/compiler" }

func (e *wasmtimeEngine) Close(context.Context) error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	for key, sm := range e.modules {
		sm.free()
		delete(e.modules, key)
	}
	e.mu.Unlock()
	e.ticker.close()
	C.wasmtime_linker_delete(e.linker)
	// Modules and stores still open hold their own references to the
	// Wasmtime engine.
	e.eng.Close()
	return nil
}

// epochTicker advances the engine's epoch every epochTick while any call
// runs, and sleeps while none does. Its goroutine belongs to the engine,
// which stops it in Close.
type epochTicker struct {
	eng    *wasmtime.Engine
	active atomic.Int64
	wakeup chan struct{} // a call started while the ticker slept
	stop   chan struct{}
	done   chan struct{}
}

func newEpochTicker(eng *wasmtime.Engine) *epochTicker {
	t := &epochTicker{eng: eng, wakeup: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go t.run()
	return t
}

func (t *epochTicker) run() {
	defer close(t.done)
	tick := time.NewTicker(epochTick)
	defer tick.Stop()
	for {
		if t.active.Load() == 0 {
			tick.Stop()
			select {
			case <-t.stop:
				return
			case <-t.wakeup:
			}
			tick.Reset(epochTick)
		}
		select {
		case <-t.stop:
			return
		case <-tick.C:
			t.eng.IncrementEpoch()
		}
	}
}

// begin and end bracket every entry into guest code.
func (t *epochTicker) begin() {
	if t.active.Add(1) == 1 {
		select {
		case t.wakeup <- struct{}{}:
		default:
		}
	}
}

func (t *epochTicker) end() { t.active.Add(-1) }

// close stops the ticker's goroutine and waits for it.
func (t *epochTicker) close() {
	close(t.stop)
	<-t.done
}

// epochTicks is the epoch deadline of a call of at most d: never before d,
// since the next tick may come at once.
func epochTicks(d time.Duration) C.uint64_t {
	return C.uint64_t((d+epochTick-1)/epochTick) + 1
}

func (e *wasmtimeEngine) Compile(_ context.Context, wasm []byte, limits Limits) (Module, error) {
	if err := checkWasm(wasm); err != nil {
		return nil, err
	}
	limits = limits.WithDefaults()
	key := sha256.Sum256(wasm)
	sm, err := e.acquire(key)
	if err != nil {
		return nil, err
	}
	if sm == nil {
		if sm, err = e.compile(key, wasm); err != nil {
			return nil, err
		}
	}
	if sm.pages > limits.MaxMemoryPages {
		e.release(key)
		return nil, fmt.Errorf("compile: memory min %d pages (%d KiB) over limit of %d pages (%d KiB)",
			sm.pages, sm.pages*64, limits.MaxMemoryPages, limits.MaxMemoryPages*64)
	}
	return &wasmtimeModule{e: e, sm: sm, limits: limits}, nil
}

// acquire returns the module compiled for key, counting one more user, or
// nil.
func (e *wasmtimeEngine) acquire(key [sha256.Size]byte) (*wasmtimeShared, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, errors.New("compile: engine wasmtime is closed")
	}
	sm, ok := e.modules[key]
	if !ok {
		return nil, nil
	}
	sm.refs++
	return sm, nil
}

// release drops one user of the module at key and frees it after the last.
func (e *wasmtimeEngine) release(key [sha256.Size]byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	sm, ok := e.modules[key]
	if !ok {
		return // freed by Close
	}
	if sm.refs--; sm.refs == 0 {
		delete(e.modules, key)
		sm.free()
	}
}

// compile compiles wasm (or loads it from the cache), checks it is a waPC
// guest and registers it under key with one user.
func (e *wasmtimeEngine) compile(key [sha256.Size]byte, wasm []byte) (*wasmtimeShared, error) {
	mod, err := e.load(key, wasm)
	if err != nil {
		return nil, fmt.Errorf("compile: %s", cause(err.Error()))
	}
	sm := &wasmtimeShared{key: key, mod: mod, refs: 1}
	if err := sm.check(); err != nil {
		mod.Close()
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		mod.Close()
		return nil, errors.New("compile: engine wasmtime is closed")
	}
	if other, ok := e.modules[key]; ok { // compiled concurrently: keep one
		mod.Close()
		other.refs++
		return other, nil
	}
	if err := C.wasmtime_linker_instantiate_pre(e.linker, (*C.wasmtime_module_t)(cHandle(mod)), &sm.pre); err != nil {
		mod.Close()
		return nil, fmt.Errorf("%w: %s", ErrNotWaPC, takeCString(C.wisp_error(err)))
	}
	runtime.KeepAlive(mod)
	e.modules[key] = sm
	return sm, nil
}

// free releases the compiled code. Instances still open keep their own
// reference to it.
func (sm *wasmtimeShared) free() {
	C.wasmtime_instance_pre_delete(sm.pre)
	sm.pre = nil
	sm.mod.Close()
}

// load compiles wasm, or loads its compiled code from the cache directory,
// where it is keyed by the module's SHA-256 under a folder named for the
// Wasmtime version.
func (e *wasmtimeEngine) load(key [sha256.Size]byte, wasm []byte) (*wasmtime.Module, error) {
	var path string
	if e.cacheDir != "" {
		path = filepath.Join(e.cacheDir, hex.EncodeToString(key[:])+".cwasm")
		// Wasmtime checks the version and settings the code was compiled
		// with; code that does not fit, or does not match its sum, is
		// compiled again and replaced.
		if sum, ok := readSum(path); ok {
			if m, err := deserializeCached(e.eng, path, sum); err == nil {
				now := time.Now()
				cachetrim.Touch(path, now)
				cachetrim.Touch(sumPath(path), now)
				return m, nil
			}
		}
	}
	e.compiled.Add(1)
	m, err := wasmtime.NewModule(e.eng, wasm)
	if err != nil {
		return nil, err
	}
	if path != "" {
		// The cache only saves time: a module that cannot be stored still runs.
		if b, err := m.Serialize(); err == nil {
			_ = writeCached(path, b)
		}
	}
	return m, nil
}

// A cache entry is two files: Wasmtime's serialized code as it wrote it
// (NAME.cwasm) and NAME.sum, which holds sumMagic, the length and the
// CRC-32C of the code. Wasmtime trusts the code it deserializes (it is
// machine code) and only checks its header: a truncated or damaged file
// crashed the host (SIGBUS from the mapped file, in
// TestWasmtimeCacheSkipsCompilation), so wisp checks every byte against the
// sum before Wasmtime sees it (deserializeCached). CRC-32C runs at several
// GB/s; the cache directory is the host's own, and its files are replaced by
// rename, never written in place, so this guards against accidents (a full
// disk, a crash, a stray edit), not against someone who may write there.
const sumMagic = "wispcw02"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// cacheSum is what a sum file records of the code beside it.
type cacheSum struct {
	n   int64
	crc uint32
}

// sumPath is where the sum of the code at path is kept.
func sumPath(path string) string { return strings.TrimSuffix(path, ".cwasm") + ".sum" }

// readSum reads the sum of the code at path.
func readSum(path string) (cacheSum, bool) {
	b, err := os.ReadFile(sumPath(path))
	if err != nil || len(b) != len(sumMagic)+12 || string(b[:len(sumMagic)]) != sumMagic {
		return cacheSum{}, false
	}
	n := binary.LittleEndian.Uint64(b[len(sumMagic):])
	if n > math.MaxInt64 {
		return cacheSum{}, false
	}
	return cacheSum{n: int64(n), crc: binary.LittleEndian.Uint32(b[len(sumMagic)+8:])}, true
}

// copyChecked copies the code at path to w and reports whether it is the
// code sum describes.
func copyChecked(w io.Writer, path string, sum cacheSum) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := crc32.New(castagnoli)
	n, err := io.CopyBuffer(io.MultiWriter(w, h), io.LimitReader(f, sum.n+1), make([]byte, 256<<10))
	if err != nil {
		return err
	}
	if n != sum.n || h.Sum32() != sum.crc {
		return fmt.Errorf("cached code %s: %d bytes with CRC-32C %08x, its sum says %d bytes with %08x", path, n, h.Sum32(), sum.n, sum.crc)
	}
	return nil
}

// writeCached stores code at path and its sum beside it, each through a
// temporary file and a rename; the sum goes last, so a crash between the
// two leaves code without a sum, which reads as a miss.
func writeCached(path string, code []byte) error {
	sum := make([]byte, len(sumMagic)+12)
	copy(sum, sumMagic)
	binary.LittleEndian.PutUint64(sum[len(sumMagic):], uint64(len(code)))
	binary.LittleEndian.PutUint32(sum[len(sumMagic)+8:], crc32.Checksum(code, castagnoli))
	if err := writeFileAtomic(path, code); err != nil {
		return err
	}
	return writeFileAtomic(sumPath(path), sum)
}

// writeFileAtomic writes b to a temporary file beside path and renames it
// to path.
func writeFileAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// check refuses modules that cannot be waPC guests, like checkWaPC for
// wazero, and records the memory size and the start functions.
func (sm *wasmtimeShared) check() error {
	var guestCall, memory bool
	var starts = map[string]bool{}
	for _, ex := range sm.mod.Exports() {
		ty := ex.Type()
		switch name := ex.Name(); name {
		case exportGuestCall:
			ft := ty.FuncType()
			if ft == nil || !allI32(ft.Params(), 2) || !allI32(ft.Results(), 1) {
				return fmt.Errorf("%w: %s must be (i32, i32) -> i32", ErrNotWaPC, exportGuestCall)
			}
			guestCall = true
		case exportMemory:
			if mt := ty.MemoryType(); mt != nil {
				memory = true
				sm.pages = uint32(mt.Minimum())
			}
		case exportInitialize, exportStart, exportWaPCInit:
			if ft := ty.FuncType(); ft != nil {
				if len(ft.Params()) != 0 || len(ft.Results()) != 0 {
					return fmt.Errorf("%w: %s must be () -> ()", ErrNotWaPC, name)
				}
				starts[name] = true
			}
		}
	}
	if !guestCall {
		return fmt.Errorf("%w: no %s export", ErrNotWaPC, exportGuestCall)
	}
	if !memory {
		return fmt.Errorf("%w: no %q export", ErrNotWaPC, exportMemory)
	}
	for _, im := range sm.mod.Imports() {
		mod, name := im.Module(), ""
		if n := im.Name(); n != nil {
			name = *n
		}
		switch mod {
		case ModuleWaPC, ModuleWasmbus:
			if !isWaPCFunc(name) {
				return fmt.Errorf("%w: imports %s.%s, which is not a waPC host function", ErrNotWaPC, mod, name)
			}
		case moduleWASI:
		default:
			return fmt.Errorf("%w: imports %s.%s, which no wisp host provides", ErrNotWaPC, mod, name)
		}
		if im.Type().FuncType() == nil {
			return fmt.Errorf("%w: imports %s.%s, which is not a function", ErrNotWaPC, mod, name)
		}
	}
	// _start only when there is no _initialize, then wapc_init.
	if starts[exportInitialize] {
		sm.starts = append(sm.starts, exportInitialize)
	} else if starts[exportStart] {
		sm.starts = append(sm.starts, exportStart)
	}
	if starts[exportWaPCInit] {
		sm.starts = append(sm.starts, exportWaPCInit)
	}
	return nil
}

func allI32(ts []*wasmtime.ValType, n int) bool {
	if len(ts) != n {
		return false
	}
	for _, t := range ts {
		if t.Kind() != wasmtime.KindI32 {
			return false
		}
	}
	return true
}

func isWaPCFunc(name string) bool {
	for _, f := range wapcFuncs {
		if f.name == name {
			return true
		}
	}
	return false
}

// wasmtimeModule is one user's handle on a shared compiled module, with its
// own limits.
type wasmtimeModule struct {
	e         *wasmtimeEngine
	sm        *wasmtimeShared
	limits    Limits
	closeOnce sync.Once
}

func (m *wasmtimeModule) MemoryPages() uint32 { return m.sm.pages }

func (m *wasmtimeModule) Close(context.Context) error {
	m.closeOnce.Do(func() { m.e.release(m.sm.key) })
	return nil
}

// wasmtimeInstances finds an instance from the id its store carries, for the
// host functions and the WASI output callbacks that enter Go.
var (
	wasmtimeInstances sync.Map // uintptr -> *wasmtimeInstance
	wasmtimeNextID    atomic.Uintptr
)

type wasmtimeInstance struct {
	e         *wasmtimeEngine
	id        uintptr
	store     *C.wasmtime_store_t
	cx        *C.wasmtime_context_t
	data      *C.wisp_store // the store's data, C memory
	inst      C.wasmtime_instance_t
	guestCall C.wasmtime_func_t
	st        callState
	timeout   time.Duration

	// The running call: its deadline (a sleeping guest wakes at it), whether
	// a sleep reached it, why a host function trapped the guest, and the
	// outcome C reports.
	deadline time.Time
	timedOut bool
	hostTrap error
	out      C.wisp_outcome

	closeOnce sync.Once
}

func (m *wasmtimeModule) Instantiate(_ context.Context, cfg InstanceConfig) (Instance, error) {
	e := m.e
	i := &wasmtimeInstance{e: e, id: wasmtimeNextID.Add(1), timeout: m.limits.CallTimeout}
	i.st.cfg = &cfg
	e.mu.Lock()
	pre := m.sm.pre
	if e.closed || pre == nil {
		e.mu.Unlock()
		return nil, fmt.Errorf("instantiate %s: engine wasmtime is closed", cfg.Name)
	}
	// The store holds its own reference to the engine and, once
	// instantiated, to the module, so neither closing may free them under it.
	i.store = C.wisp_store_new(e.cEng, C.uintptr_t(i.id), C.int64_t(m.limits.MaxMemoryPages)*65536, maxTableElements, &i.data)
	e.mu.Unlock()
	if i.store == nil {
		return nil, fmt.Errorf("instantiate %s: out of memory", cfg.Name)
	}
	i.cx = C.wasmtime_store_context(i.store)
	wasmtimeInstances.Store(i.id, i)

	var stdout, stderr C.uintptr_t // 0 discards
	if cfg.Stdout != nil {
		stdout = C.uintptr_t(i.id)
	}
	if cfg.Stderr != nil {
		stderr = C.uintptr_t(i.id)
	}
	name := cfg.Name
	if err := C.wisp_set_wasi(i.cx, (*C.char)(unsafe.Pointer(unsafe.StringData(name))), C.size_t(len(name)), stdout, stderr); err != nil {
		i.Close(context.Background())
		return nil, fmt.Errorf("instantiate %s: WASI: %s", cfg.Name, takeCString(C.wisp_error(err)))
	}
	if err := i.instantiate(pre); err != nil {
		i.Close(context.Background())
		return nil, fmt.Errorf("instantiate %s: %w", cfg.Name, err)
	}
	if err := i.start(m.sm.starts); err != nil {
		i.Close(context.Background())
		return nil, fmt.Errorf("start %s: %w", cfg.Name, err)
	}
	return i, nil
}

// instantiate creates the instance (running the module's start section, if
// any, under the call timeout) and finds __guest_call.
func (i *wasmtimeInstance) instantiate(pre *C.wasmtime_instance_pre_t) error {
	// pre stays valid while m is open, and Instantiate on a closed Module
	// or engine is the caller's bug.
	i.begin(i.timeout)
	C.wisp_instantiate(pre, i.cx, i.data, epochTicks(i.timeout), C.uint64_t(i.e.fuel), &i.inst, &i.out)
	i.e.ticker.end()
	if i.out.kind != C.WISP_OK {
		return i.startError("start section", i.timeout)
	}
	if !C.wisp_export_func(i.cx, &i.inst, cGuestCall, &i.guestCall) {
		return fmt.Errorf("%w: no %s export", ErrNotWaPC, exportGuestCall)
	}
	return nil
}

// start runs the module's start function and wapc_init, under the call
// timeout like any invocation.
func (i *wasmtimeInstance) start(starts []string) error {
	i.st.begin(context.Background(), "", nil)
	defer i.st.end()
	for _, name := range starts {
		var fn C.wasmtime_func_t
		if !C.wisp_export_func(i.cx, &i.inst, cStartFuncs[name], &fn) {
			continue
		}
		if i.call(fn, i.timeout, "", nil, 0) {
			continue
		}
		if name == exportStart && i.out.kind == C.WISP_EXIT && i.out.status == 0 {
			continue // a command that exits 0 from _start has started
		}
		return i.startError(name, i.timeout)
	}
	return nil
}

// begin arms the deadline of a call of at most d.
func (i *wasmtimeInstance) begin(d time.Duration) {
	i.deadline = time.Now().Add(d)
	i.timedOut = false
	i.hostTrap = nil
	i.e.ticker.begin()
}

// call runs fn within d, with (len(op), len(payload)) as arguments when
// nargs is 2, and reports whether it returned; i.out holds the outcome.
// This is the one crossing from Go to C of an invocation.
func (i *wasmtimeInstance) call(fn C.wasmtime_func_t, d time.Duration, op string, payload []byte, nargs int) bool {
	i.begin(d)
	C.wisp_call(i.cx, i.data, fn, epochTicks(d), C.uint64_t(i.e.fuel),
		(*C.uint8_t)(unsafe.Pointer(unsafe.StringData(op))), C.size_t(len(op)),
		(*C.uint8_t)(unsafe.Pointer(unsafe.SliceData(payload))), C.size_t(len(payload)),
		C.size_t(nargs), &i.out)
	i.e.ticker.end()
	return i.out.kind == C.WISP_OK
}

func (i *wasmtimeInstance) Invoke(ctx context.Context, op string, payload []byte) ([]byte, error) {
	return i.InvokeAppend(ctx, op, payload, nil)
}

func (i *wasmtimeInstance) InvokeAppend(ctx context.Context, op string, payload, dst []byte) ([]byte, error) {
	d := i.timeout
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl); left < d {
			d = left
		}
	}
	if d <= 0 {
		return nil, timeoutError(op, 0)
	}
	st := &i.st
	st.begin(ctx, op, payload)
	defer st.end()
	if !i.call(i.guestCall, d, op, payload, 2) {
		return nil, i.callError(op, d)
	}
	// __guest_response and __guest_error recorded where the guest's answer
	// is; the C side checked the ranges, and memory only grows.
	mem := unsafe.Slice((*byte)(unsafe.Pointer(i.out.mem)), int(i.out.mem_len))
	s := i.data
	if s.has_err != 0 {
		st.guestErr = string(mem[s.err_ptr : s.err_ptr+s.err_len])
		st.hasGuestErr = true
	}
	if s.has_resp != 0 {
		st.response = mem[s.resp_ptr : s.resp_ptr+s.resp_len]
	}
	out, err := st.result(i.out.result == 1)
	if err != nil {
		return nil, err
	}
	// st.response is a view of guest memory: the next call may overwrite it.
	return append(dst, out...), nil
}

// interrupted reports whether the failed outcome in i.out is the call's
// deadline.
func (i *wasmtimeInstance) interrupted() bool {
	o := &i.out
	return i.timedOut || (o.kind == C.WISP_TRAP && o.has_code != 0 && o.code == trapInterrupt)
}

// startError classifies the failed outcome in i.out of start function fn.
func (i *wasmtimeInstance) startError(fn string, d time.Duration) error {
	if i.interrupted() {
		i.callError(fn, d) // frees the outcome's message
		return startTimeoutError(fn, d)
	}
	return i.callError(fn, d)
}

// callError classifies the failed outcome in i.out.
func (i *wasmtimeInstance) callError(op string, d time.Duration) error {
	o := &i.out
	msg := takeCString(o.msg)
	o.msg = nil
	if i.interrupted() {
		return timeoutError(op, d)
	}
	switch o.kind {
	case C.WISP_EXIT:
		return fmt.Errorf("%s: %w: guest exited with code %d", op, ErrTrap, int(o.status))
	case C.WISP_TRAP:
		if o.has_code != 0 && o.code == trapOutOfFuel {
			return fmt.Errorf("%s: %w: out of fuel (%d units per call)", op, ErrTrap, i.e.fuel)
		}
		if o.has_code == 0 && i.hostTrap != nil {
			return fmt.Errorf("%s: %w: %v", op, ErrTrap, i.hostTrap)
		}
		return fmt.Errorf("%s: %w: %s", op, ErrTrap, trapMessage(o.has_code != 0, int(o.code), msg))
	}
	return fmt.Errorf("%s: %w: %s", op, ErrTrap, cause(msg))
}

// trapMessage names a trap the way wazero does ("unreachable", "out of
// bounds memory access"); traps without a code carry the host function's
// message.
func trapMessage(hasCode bool, code int, msg string) string {
	if hasCode {
		switch code {
		case trapUnreachable:
			return "wasm error: unreachable"
		case trapMemoryOutOfBounds:
			return "wasm error: out of bounds memory access"
		case trapStackOverflow:
			return "wasm error: stack overflow"
		case trapIntegerDivByZero:
			return "wasm error: integer divide by zero"
		case trapIndirectCallToNull:
			return "wasm error: indirect call to a null table entry"
		case trapBadSignature:
			return "wasm error: indirect call type mismatch"
		}
	}
	return cause(msg)
}

// cause picks the reason out of a Wasmtime error message, which may start
// with a backtrace and end with a "Caused by:" section.
func cause(msg string) string {
	if _, after, ok := strings.Cut(msg, "Caused by:"); ok {
		msg = after
	}
	msg = strings.TrimSpace(msg)
	line, _, _ := strings.Cut(msg, "\n")
	return strings.TrimSpace(line)
}

func (i *wasmtimeInstance) Close(context.Context) error {
	i.closeOnce.Do(func() {
		wasmtimeInstances.Delete(i.id)
		C.wasmtime_store_delete(i.store) // frees i.data too
		i.data = nil
	})
	return nil
}

// rawVal is a wasmtime_val_raw_t: an i32 is the low half of the first word.
type rawVal [2]uint64

func (v *rawVal) i32() uint32     { return uint32(v[0]) }
func (v *rawVal) setI32(x uint32) { v[0] = uint64(x) }

// wispHostCall runs the host functions that need Go: __host_call,
// __console_log and poll_oneoff. It is the one crossing from C to Go of such
// a call. mem is the guest's memory.
//
//export wispHostCall
func wispHostCall(s *C.wisp_store, fn C.int, args *C.wasmtime_val_raw_t, nargs C.size_t, mem *C.uint8_t, memLen C.size_t) (trap *C.wasm_trap_t) {
	v, ok := wasmtimeInstances.Load(uintptr(s.id))
	if !ok {
		return newTrap("wisp: host function called from a closed instance")
	}
	i := v.(*wasmtimeInstance)
	defer func() {
		// A panic must not unwind through Wasmtime's frames: trap instead.
		if r := recover(); r != nil {
			i.hostTrap = fmt.Errorf("host function panicked: %v", r)
			trap = newTrap(i.hostTrap.Error())
		}
	}()
	a := unsafe.Slice((*rawVal)(unsafe.Pointer(args)), int(nargs))
	m := unsafe.Slice((*byte)(unsafe.Pointer(mem)), int(memLen))
	if err := i.hostFunc(fn, a, m); err != nil {
		i.hostTrap = err
		return newTrap(err.Error())
	}
	return nil
}

func newTrap(msg string) *C.wasm_trap_t {
	return C.wisp_trap((*C.char)(unsafe.Pointer(unsafe.StringData(msg))), C.size_t(len(msg)))
}

// hostFunc runs host function fn with its arguments a (results go to a[0])
// on the guest's memory m. An error traps the guest.
func (i *wasmtimeInstance) hostFunc(fn C.int, a []rawVal, m []byte) error {
	st := &i.st
	switch fn {
	case C.WISP_FN_HOST_CALL:
		var parts [4][]byte
		for k := range parts {
			b, err := view(m, a[2*k].i32(), a[2*k+1].i32())
			if err != nil {
				return err
			}
			parts[k] = b
		}
		ok := st.hostCall(HostCall{
			Binding:   string(parts[0]),
			Namespace: string(parts[1]),
			Operation: string(parts[2]),
			Payload:   parts[3],
		})
		// The answer goes to C memory, where __host_response_len,
		// __host_response and their error twins read it without Go.
		answer := st.hostResp
		if !ok {
			answer = []byte(st.hostErr)
		}
		s := i.data
		if !C.wisp_host_reserve(s, C.size_t(len(answer))) {
			return fmt.Errorf("host call answer of %d bytes: out of memory", len(answer))
		}
		if len(answer) > 0 {
			copy(unsafe.Slice((*byte)(unsafe.Pointer(s.host_buf)), len(answer)), answer)
		}
		s.host_len = C.size_t(len(answer))
		s.host_ok = 0
		a[0].setI32(0)
		if ok {
			s.host_ok = 1
			a[0].setI32(1)
		}
		st.hostResp, st.hostErr = nil, ""
	case C.WISP_FN_CONSOLE_LOG:
		b, err := view(m, a[0].i32(), a[1].i32())
		if err != nil {
			return err
		}
		st.consoleLog(b)
	case C.WISP_FN_POLL_ONEOFF:
		return i.pollOneoff(a, m)
	default:
		return fmt.Errorf("wisp: unknown host function %d", fn)
	}
	return nil
}

// view returns n bytes of guest memory at p; out of range is a guest bug
// that traps it.
func view(m []byte, p, n uint32) ([]byte, error) {
	if uint64(p)+uint64(n) > uint64(len(m)) {
		return nil, fmt.Errorf("guest memory read out of range: %d bytes at %d", n, p)
	}
	return m[p : p+n], nil
}

//export wispWrite
func wispWrite(id C.uintptr_t, stream C.int, buf *C.uchar, n C.size_t) C.ptrdiff_t {
	v, ok := wasmtimeInstances.Load(uintptr(id))
	if !ok {
		return C.ptrdiff_t(n)
	}
	defer func() { _ = recover() }() // a broken writer must not crash the guest
	cfg := v.(*wasmtimeInstance).st.cfg
	w := cfg.Stdout
	if stream == 2 {
		w = cfg.Stderr
	}
	if w != nil {
		// Output is best effort, as a log: a failing writer does not fail
		// the guest's write.
		_, _ = w.Write(unsafe.Slice((*byte)(unsafe.Pointer(buf)), int(n)))
	}
	return C.ptrdiff_t(n)
}

// WASI preview 1 values poll_oneoff uses.
const (
	wasiErrnoBadf     = 8
	wasiErrnoInval    = 28
	wasiEventClock    = 0
	wasiEventFdRead   = 1
	wasiEventFdWrite  = 2
	wasiClockRealtime = 0
	wasiAbstime       = 1
	wasiSubSize       = 48
	wasiEventSize     = 32
)

// errSleptPastDeadline traps a guest whose sleep reached its call deadline.
var errSleptPastDeadline = errors.New("call deadline reached while the guest slept")

// pollOneoff replaces Wasmtime's WASI poll_oneoff, which blocks the thread
// where no epoch can stop it: Go and TinyGo guests sleep through it. A wisp
// guest has only stdin (empty), stdout and stderr, so file descriptor
// subscriptions are ready at once; clock subscriptions sleep, but never past
// the call's deadline.
func (i *wasmtimeInstance) pollOneoff(a []rawVal, m []byte) error {
	in, out, nsubs, nevents := a[0].i32(), a[1].i32(), a[2].i32(), a[3].i32()
	if nsubs == 0 {
		a[0].setI32(wasiErrnoInval)
		return nil
	}
	if uint64(nsubs)*wasiSubSize > uint64(len(m)) {
		return fmt.Errorf("poll_oneoff: %d subscriptions do not fit in memory", nsubs)
	}
	subs, err := view(m, in, nsubs*wasiSubSize)
	if err != nil {
		return err
	}
	evs, err := view(m, out, nsubs*wasiEventSize)
	if err != nil {
		return err
	}
	if _, err := view(m, nevents, 4); err != nil {
		return err
	}
	le := binary.LittleEndian
	n := uint32(0)
	event := func(userdata uint64, errno uint16, typ byte) {
		e := evs[n*wasiEventSize : (n+1)*wasiEventSize]
		clear(e)
		le.PutUint64(e[0:], userdata)
		le.PutUint16(e[8:], errno)
		e[10] = typ
		n++
	}
	type clock struct {
		userdata uint64
		at       time.Time
	}
	var clocks []clock
	var earliest time.Time
	now := time.Now()
	for k := uint32(0); k < nsubs; k++ {
		s := subs[k*wasiSubSize:]
		userdata, tag := le.Uint64(s[0:]), s[8]
		switch tag {
		case wasiEventClock:
			at := clockTime(now, le.Uint32(s[16:]), le.Uint64(s[24:]), le.Uint16(s[40:]))
			if len(clocks) == 0 || at.Before(earliest) {
				earliest = at
			}
			clocks = append(clocks, clock{userdata, at})
		case wasiEventFdRead, wasiEventFdWrite:
			var errno uint16
			if le.Uint32(s[16:]) > 2 {
				errno = wasiErrnoBadf
			}
			event(userdata, errno, tag)
		default:
			event(userdata, wasiErrnoInval, tag)
		}
	}
	if n == 0 {
		// Only clocks: sleep until the earliest, or the call's deadline.
		if i.deadline.Before(earliest) {
			time.Sleep(time.Until(i.deadline))
			i.timedOut = true
			return errSleptPastDeadline
		}
		time.Sleep(time.Until(earliest))
		now = time.Now()
		for _, c := range clocks {
			if !c.at.After(now) {
				event(c.userdata, 0, wasiEventClock)
			}
		}
	}
	le.PutUint32(m[nevents:], n)
	a[0].setI32(0)
	return nil
}

// clockTime is when a clock subscription fires. Relative timeouts are what
// Go and TinyGo use; an absolute realtime one is a wall-clock time; an
// absolute time on another clock has no meaning outside Wasmtime's own
// clocks and fires at once.
func clockTime(now time.Time, clock uint32, timeout uint64, flags uint16) time.Time {
	if flags&wasiAbstime == 0 {
		if timeout > uint64(1<<62) {
			timeout = 1 << 62
		}
		return now.Add(time.Duration(timeout))
	}
	if clock == wasiClockRealtime && timeout < 1<<63 {
		return time.Unix(0, int64(timeout))
	}
	return now
}
