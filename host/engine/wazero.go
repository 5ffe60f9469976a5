package engine

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"
	"golang.org/x/sys/cpu"

	"github.com/tetratelabs/wazero/experimental"

	"github.com/wisp-dev/wisp/host/engine/internal/interrupt"
	"github.com/wisp-dev/wisp/host/engine/internal/prepared"
	"github.com/wisp-dev/wisp/host/engine/internal/snapshot"
)

func init() { register("wazero", newWazero) }

// wazeroEngine compiles modules with wazero. Memory limits are a property
// of a wazero.Runtime, so there is one runtime per limit in use; a module
// compiled for a limit is kept while any actor uses it, so starting the
// same module again (a restart, a second actor, scaling from zero) only
// instantiates. Compiled code also goes to the compilation cache, on disk
// when configured, for the next process.
type wazeroEngine struct {
	compiler   bool
	noSnapshot bool
	cache      wazero.CompilationCache
	prep       *prepared.Cache // nil without a cache folder

	watchdog *watchdog

	mu       sync.Mutex
	runtimes map[uint32]wazero.Runtime // by memory limit, in pages
	modules  map[moduleKey]*sharedModule
}

// moduleKey identifies a compiled module: the module's bytes and the
// memory limit of the runtime it was compiled in.
type moduleKey struct {
	sum   [sha256.Size]byte
	pages uint32
}

// sharedModule is a compiled module and the number of Modules using it.
type sharedModule struct {
	cm    wazero.CompiledModule
	r     wazero.Runtime
	pages uint32 // memory the module asks for at start
	refs  int
	plan  snapshot.Plan

	mu    sync.Mutex
	snaps map[string]*snap // by instance name; nil entries: not snapshotted
}

// snap is the state of one instance after its initialisation, from which
// further instances with the same name start (see snapshotFrom).
type snap struct {
	img     *image
	pages   uint32
	globals []uint64
}

// closeSnaps releases the module's snapshots. Instances started from them
// keep their own mappings.
func (sm *sharedModule) closeSnaps() error {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	var errs []error
	for name, s := range sm.snaps {
		if s != nil {
			errs = append(errs, s.img.close())
		}
		delete(sm.snaps, name)
	}
	return errors.Join(errs...)
}

// CompilerSupported reports whether wazero's compiler runs on this platform;
// where it does not, the "auto" mode uses the interpreter. It mirrors wazero's
// own check (OS and arch, SSE4.1 on amd64).
func CompilerSupported() bool {
	switch runtime.GOOS {
	case "linux", "darwin", "freebsd", "netbsd", "windows":
		if runtime.GOARCH == "arm64" {
			return true
		}
		return runtime.GOARCH == "amd64" && cpu.X86.HasSSE41
	case "dragonfly", "solaris", "illumos":
		return runtime.GOARCH == "amd64" && cpu.X86.HasSSE41
	}
	return false
}

func newWazero(cfg Config) (Engine, error) {
	if cfg.Fuel != 0 {
		return nil, errors.New("engine wazero does not meter fuel: use the wasmtime engine, or leave fuel at 0 (the call timeout stops runaway guests)")
	}
	e := &wazeroEngine{runtimes: map[uint32]wazero.Runtime{}, modules: map[moduleKey]*sharedModule{}, noSnapshot: cfg.NoSnapshot}
	switch cfg.Mode {
	case "", "auto":
		e.compiler = CompilerSupported()
	case "compiler":
		if !CompilerSupported() {
			return nil, fmt.Errorf("wazero compiler is not supported on %s/%s: use mode interpreter or auto", runtime.GOOS, runtime.GOARCH)
		}
		e.compiler = true
	case "interpreter":
	default:
		return nil, fmt.Errorf("engine mode %q: want auto, compiler or interpreter", cfg.Mode)
	}
	if cfg.CacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("compilation cache %s: %w", cfg.CacheDir, err)
		}
		e.cache = c
		if e.prep, err = prepared.Open(cfg.CacheDir); err != nil {
			return nil, err
		}
	} else {
		e.cache = wazero.NewCompilationCache()
	}
	e.watchdog = newWatchdog()
	return e, nil
}

func (e *wazeroEngine) Name() string {
	if e.compiler {
		return "wazero/compiler"
	}
	return "wazero/interpreter"
}

func (e *wazeroEngine) Close(ctx context.Context) error {
	e.watchdog.close()
	e.mu.Lock()
	defer e.mu.Unlock()
	var errs []error
	for pages, r := range e.runtimes {
		errs = append(errs, r.Close(ctx))
		delete(e.runtimes, pages)
	}
	for _, sm := range e.modules {
		errs = append(errs, sm.closeSnaps())
	}
	clear(e.modules)
	errs = append(errs, e.cache.Close(ctx))
	return errors.Join(errs...)
}

func (e *wazeroEngine) Compile(ctx context.Context, wasm []byte, limits Limits) (Module, error) {
	if err := checkWasm(wasm); err != nil {
		return nil, err
	}
	limits = limits.WithDefaults()
	key := moduleKey{sum: sha256.Sum256(wasm), pages: limits.MaxMemoryPages}
	if sm := e.acquire(key); sm != nil {
		return &wazeroModule{e: e, key: key, sm: sm, limits: limits}, nil
	}
	prep, err := e.prepare(wasm, key.sum)
	if err != nil {
		return nil, fmt.Errorf("compile: %w", err)
	}
	wasm, plan := prep.Wasm, prep.Plan
	r, err := e.runtime(ctx, limits.MaxMemoryPages)
	if err != nil {
		return nil, err
	}
	cm, err := r.CompileModule(ctx, wasm)
	if err != nil {
		// Decoding, validation, and a start memory above the limit.
		return nil, fmt.Errorf("compile: %w", err)
	}
	if err := checkWaPC(cm); err != nil {
		cm.Close(ctx)
		return nil, err
	}
	sm := &sharedModule{cm: cm, r: r, refs: 1, plan: plan, snaps: map[string]*snap{}}
	if mem, ok := cm.ExportedMemories()[exportMemory]; ok {
		sm.pages = mem.Min()
	}
	e.mu.Lock()
	if other, ok := e.modules[key]; ok { // compiled concurrently: keep one
		other.refs++
		e.mu.Unlock()
		cm.Close(ctx)
		return &wazeroModule{e: e, key: key, sm: other, limits: limits}, nil
	}
	e.modules[key] = sm
	e.mu.Unlock()
	return &wazeroModule{e: e, key: key, sm: sm, limits: limits}, nil
}

// prepare rewrites wasm, whose SHA-256 is sum, for this engine: loops are
// stopped by counted checks (see package interrupt), not by wazero's
// WithCloseOnContextDone, which calls out of the guest at every loop
// iteration; and the module is readied for snapshots unless they are off.
// What an earlier start made of the same module comes from the cache of
// prepared modules, when there is one.
func (e *wazeroEngine) prepare(wasm []byte, sum [32]byte) (prepared.Module, error) {
	variant := "snapshot"
	if e.noSnapshot {
		variant = "plain"
	}
	if e.prep != nil {
		if m, ok := e.prep.Get(sum, variant); ok {
			return m, nil
		}
	}
	w, err := interrupt.Instrument(wasm)
	if err != nil {
		return prepared.Module{}, err
	}
	plan := snapshot.Plan{Refused: "snapshots are off (engine.Config.NoSnapshot)"}
	if !e.noSnapshot {
		if w, plan, err = prepareSnapshot(w); err != nil {
			return prepared.Module{}, err
		}
	}
	m := prepared.Module{Wasm: w, Plan: plan}
	if e.prep != nil {
		// A module not stored is prepared again next time: nothing
		// else depends on the cache.
		_ = e.prep.Put(sum, variant, m)
	}
	return m, nil
}

// acquire returns the module compiled for key, counting one more user, or
// nil.
func (e *wazeroEngine) acquire(key moduleKey) *sharedModule {
	e.mu.Lock()
	defer e.mu.Unlock()
	sm, ok := e.modules[key]
	if !ok {
		return nil
	}
	sm.refs++
	return sm
}

// release drops one user of the module at key and closes it after the last.
func (e *wazeroEngine) release(ctx context.Context, key moduleKey) error {
	e.mu.Lock()
	sm, ok := e.modules[key]
	if !ok {
		e.mu.Unlock()
		return nil
	}
	sm.refs--
	if sm.refs > 0 {
		e.mu.Unlock()
		return nil
	}
	delete(e.modules, key)
	e.mu.Unlock()
	return errors.Join(sm.closeSnaps(), sm.cm.Close(ctx))
}

// runtime returns the runtime for a memory limit, with the WASI and waPC
// host modules, creating it on first use.
func (e *wazeroEngine) runtime(ctx context.Context, pages uint32) (wazero.Runtime, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if r, ok := e.runtimes[pages]; ok {
		return r, nil
	}
	// The interpreter reads globals as plain Go memory, so the watchdog
	// cannot set the interrupt global under a running interpreted call
	// without a data race: there it cancels the instance's context, which
	// the interpreter checks at each branch when closing on context done.
	rc := wazero.NewRuntimeConfigInterpreter().WithCloseOnContextDone(true)
	if e.compiler {
		rc = wazero.NewRuntimeConfigCompiler()
	}
	rc = rc.WithCompilationCache(e.cache).WithMemoryLimitPages(pages)
	r := wazero.NewRuntimeWithConfig(ctx, rc)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, r); err != nil {
		r.Close(ctx)
		return nil, fmt.Errorf("instantiate WASI: %w", err)
	}
	for _, name := range []string{ModuleWaPC, ModuleWasmbus} {
		if err := instantiateWaPC(ctx, r, name); err != nil {
			r.Close(ctx)
			return nil, fmt.Errorf("instantiate %s host module: %w", name, err)
		}
	}
	e.runtimes[pages] = r
	return r, nil
}

// checkWaPC refuses modules that cannot be waPC guests, with an error that
// names what is missing, instead of failing later at the first call.
func checkWaPC(cm wazero.CompiledModule) error {
	gc, ok := cm.ExportedFunctions()[exportGuestCall]
	if !ok {
		return fmt.Errorf("%w: no %s export", ErrNotWaPC, exportGuestCall)
	}
	p, res := gc.ParamTypes(), gc.ResultTypes()
	if len(p) != 2 || p[0] != api.ValueTypeI32 || p[1] != api.ValueTypeI32 || len(res) != 1 || res[0] != api.ValueTypeI32 {
		return fmt.Errorf("%w: %s must be (i32, i32) -> i32", ErrNotWaPC, exportGuestCall)
	}
	if _, ok := cm.ExportedMemories()[exportMemory]; !ok {
		return fmt.Errorf("%w: no %q export", ErrNotWaPC, exportMemory)
	}
	for _, f := range cm.ImportedFunctions() {
		mod, name, _ := f.Import()
		switch mod {
		case ModuleWaPC, ModuleWasmbus, moduleWASI:
		default:
			return fmt.Errorf("%w: imports %s.%s, which no wisp host provides", ErrNotWaPC, mod, name)
		}
	}
	return nil
}

// wazeroModule is one user's handle on a shared compiled module, with its
// own limits.
type wazeroModule struct {
	e         *wazeroEngine
	key       moduleKey
	sm        *sharedModule
	limits    Limits
	closeOnce sync.Once
}

func (m *wazeroModule) MemoryPages() uint32 { return m.sm.pages }

func (m *wazeroModule) Close(ctx context.Context) error {
	var err error
	m.closeOnce.Do(func() { err = m.e.release(ctx, m.key) })
	return err
}

// stateKey finds an instance's callState in the context wazero hands to host
// functions. Each instance has one context for its whole life, so an
// invocation allocates nothing to pass its state.
type stateKey struct{}

func (m *wazeroModule) Instantiate(ctx context.Context, cfg InstanceConfig) (Instance, error) {
	m.sm.mu.Lock()
	sn, tried := m.sm.snaps[cfg.Name]
	m.sm.mu.Unlock()
	if sn != nil {
		// From a snapshot: no start function, `_initialize` or
		// `wapc_init` runs, as they ran in the instance it was taken from.
		return m.instantiate(cfg, sn, false)
	}
	recording := m.sm.plan.Refused == "" && !tried
	i, err := m.instantiate(cfg, nil, recording)
	if err != nil {
		return nil, err
	}
	st := i.st
	st.recordEffects = recording
	if err := i.start(); err != nil {
		_ = i.Close(ctx)
		return nil, fmt.Errorf("start %s: %w", cfg.Name, err)
	}
	if st.recordEffects {
		st.recordEffects = false
		m.snapshotFrom(cfg.Name, i, st.effect)
	}
	return i, nil
}

// instantiate creates an instance of the module. With sn nil it gets the
// module's data segments and is ready for its start functions (source: a
// snapshot will be taken of it, and its memory comes from
// sourceAllocator); with sn it starts in the state sn captured and must
// not run them.
func (m *wazeroModule) instantiate(cfg InstanceConfig, sn *snap, source bool) (*wazeroInstance, error) {
	st := &callState{cfg: &cfg}
	i := &wazeroInstance{
		st:       st,
		timeout:  m.limits.CallTimeout,
		watchdog: m.e.watchdog,
		wake:     make(chan struct{}),
		interp:   !m.e.compiler,
	}
	i.newContext()

	mc := wazero.NewModuleConfig().
		WithName(""). // anonymous: many instances of one module per runtime
		WithStartFunctions().
		WithArgs(cfg.Name).
		WithSysWalltime().WithSysNanotime().
		WithNanosleep(i.sleep).
		WithRandSource(rand.Reader).
		WithStdout(effectWriter{writerOrDiscard(cfg.Stdout), st}).
		WithStderr(effectWriter{writerOrDiscard(cfg.Stderr), st})
	ictx := i.ctx
	if sn != nil {
		ictx = experimental.WithMemoryAllocator(ictx, sn.img)
	} else if a := sourceAllocator(); source && a != nil {
		ictx = experimental.WithMemoryAllocator(ictx, a)
	}
	mod, err := m.sm.r.InstantiateModule(ictx, m.sm.cm, mc)
	if err != nil {
		return nil, fmt.Errorf("instantiate %s: %w", cfg.Name, err)
	}
	i.mod = mod
	i.guestCall = mod.ExportedFunction(exportGuestCall)
	i.interrupt = mod.ExportedGlobal(interrupt.Export).(api.MutableGlobal)
	if err := m.initState(mod, sn); err != nil {
		_ = mod.Close(context.Background())
		return nil, fmt.Errorf("instantiate %s: %w", cfg.Name, err)
	}
	i.watchdog.add(i)
	return i, nil
}

// initState gives a new instance its memory and globals: the module's data
// segments (taken out of the module by snapshot.Prepare), or the state a
// snapshot captured, whose memory the allocator already mapped in.
func (m *wazeroModule) initState(mod api.Module, sn *snap) error {
	mem := mod.Memory()
	if sn == nil {
		for k, d := range m.sm.plan.Data {
			if !mem.Write(d.Offset, d.Bytes) {
				return fmt.Errorf("data segment %d: out of bounds memory access", k)
			}
		}
		return nil
	}
	if have := mem.Size() / snapshot.PageSize; sn.pages > have {
		if _, ok := mem.Grow(sn.pages - have); !ok {
			return fmt.Errorf("snapshot memory of %d pages does not fit", sn.pages)
		}
	}
	for k, g := range m.sm.plan.Globals {
		mod.ExportedGlobal(g.Export).(api.MutableGlobal).Set(sn.globals[k])
	}
	return nil
}

// snapshotFrom captures i, just initialised, as the snapshot for further
// instances named name, unless its initialisation had effects outside
// its own memory (effect: it wrote output, called the host or logged),
// which a copy would not repeat: then instances of that name always
// initialise. The decision is taken once per name.
func (m *wazeroModule) snapshotFrom(name string, i *wazeroInstance, effect bool) {
	sm := m.sm
	sm.mu.Lock()
	defer sm.mu.Unlock()
	if _, done := sm.snaps[name]; done {
		return
	}
	sm.snaps[name] = nil
	if effect {
		return
	}
	mem := i.mod.Memory()
	b, ok := mem.Read(0, mem.Size())
	if !ok {
		return
	}
	img, err := newImage(b)
	if err != nil {
		return
	}
	globals := make([]uint64, len(sm.plan.Globals))
	for k, g := range sm.plan.Globals {
		globals[k] = i.mod.ExportedGlobal(g.Export).Get()
	}
	sm.snaps[name] = &snap{img: img, pages: mem.Size() / snapshot.PageSize, globals: globals}
}

// prepareSnapshot readies an instrumented module for snapshots, or says in
// the plan why it cannot be snapshotted.
func prepareSnapshot(wasm []byte) ([]byte, snapshot.Plan, error) {
	uses, err := interrupt.Scan(wasm)
	if err != nil {
		return nil, snapshot.Plan{}, err
	}
	if uses.TableWrites {
		return wasm, snapshot.Plan{Refused: "its code writes tables"}, nil
	}
	if uses.Segments {
		return wasm, snapshot.Plan{Refused: "its code uses memory.init or data.drop"}, nil
	}
	return snapshot.Prepare(wasm)
}

// effectWriter is a guest's stdout or stderr; it notes that the guest
// wrote while its initialisation is watched for effects.
type effectWriter struct {
	w  io.Writer
	st *callState
}

func (w effectWriter) Write(p []byte) (int, error) {
	if w.st.recordEffects {
		w.st.effect = true
	}
	return w.w.Write(p)
}

func writerOrDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

type wazeroInstance struct {
	mod       api.Module
	guestCall api.Function
	interrupt api.MutableGlobal // set to 1: the guest traps at its next loop
	st        *callState
	stack     [2]uint64
	ctx       context.Context // carries st to the host functions
	// interp: the interpreter runs this instance; the watchdog stops a
	// call by cancel, the cancel of ctx, instead of the interrupt global.
	interp bool
	cancel context.CancelFunc

	// The call timeout, enforced by the engine's watchdog. state is the
	// deadline of the call in flight on the watchdog's clock, 0 when idle,
	// -1 once the watchdog interrupted it. mu orders an interrupt against
	// the end of the call, on the slow path only, so an interrupt never leaks
	// into the next call.
	watchdog *watchdog
	timeout  time.Duration
	limit    time.Duration // the timeout of the running call
	armed    int64         // the deadline stored by arm
	state    atomic.Int64
	mu       sync.Mutex
	wake     chan struct{} // closed by expire: wakes a sleeping guest

	closeOnce sync.Once
}

// expire interrupts the call in flight if it is past its deadline. It runs
// on the watchdog's goroutine.
func (i *wazeroInstance) expire(now int64) {
	d := i.state.Load()
	if d <= 0 || now < d {
		return
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.state.CompareAndSwap(d, -1) {
		if i.interp {
			i.cancel()
		} else {
			i.interrupt.Set(1)
		}
		close(i.wake)
	}
}

// newContext makes the context of the instance's calls: it carries the
// call state to the host functions and, interpreted, is what the watchdog
// cancels.
func (i *wazeroInstance) newContext() {
	i.ctx = context.WithValue(context.Background(), stateKey{}, i.st)
	if i.interp {
		i.ctx, i.cancel = context.WithCancel(i.ctx)
	}
}

// arm starts the clock for a call of at most d.
func (i *wazeroInstance) arm(d time.Duration) {
	i.limit = d
	i.armed = max(i.watchdog.now()+int64(d), 1)
	i.state.Store(i.armed)
	i.watchdog.begin()
}

// disarm stops the clock and reports whether the call was interrupted. If
// the interrupt came too late to stop the guest, it is undone so the
// instance stays usable.
func (i *wazeroInstance) disarm(failed bool) (timedOut bool) {
	i.watchdog.end()
	if i.state.CompareAndSwap(i.armed, 0) {
		return false
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	i.state.Store(0)
	if !failed {
		if i.interp {
			i.newContext() // the cancelled one would stop the next call
		} else {
			i.interrupt.Set(0)
		}
		i.wake = make(chan struct{})
		return false
	}
	return true
}

// sleep is the guest's WASI clock sleep; an interrupt cuts it short.
func (i *wazeroInstance) sleep(ns int64) {
	i.mu.Lock()
	wake := i.wake
	i.mu.Unlock()
	t := time.NewTimer(time.Duration(ns))
	defer t.Stop()
	select {
	case <-t.C:
	case <-wake:
	}
}

// start runs the module's start function and wapc_init, under the call
// timeout like any invocation.
func (i *wazeroInstance) start() error {
	i.st.begin(context.Background(), "", nil)
	defer i.st.end()
	// The start section's function, which the rewrite turned into an
	// export so that it runs here, interruptible, rather than inside
	// InstantiateModule.
	if fn := i.mod.ExportedFunction(interrupt.StartExport); fn != nil {
		if err := i.callStart(interrupt.StartExport, fn); err != nil {
			return err
		}
	}
	for _, name := range []string{exportInitialize, exportStart} {
		fn := i.mod.ExportedFunction(name)
		if fn == nil {
			continue
		}
		if err := i.callStart(name, fn); err != nil {
			return err
		}
		break // _start only when there is no _initialize
	}
	if fn := i.mod.ExportedFunction(exportWaPCInit); fn != nil {
		return i.callStart(exportWaPCInit, fn)
	}
	return nil
}

func (i *wazeroInstance) callStart(name string, fn api.Function) error {
	i.arm(i.timeout)
	_, err := fn.Call(i.ctx)
	timedOut := i.disarm(err != nil)
	if err == nil {
		return nil
	}
	var exit *sys.ExitError
	if name == exportStart && errors.As(err, &exit) && exit.ExitCode() == 0 && !i.mod.IsClosed() {
		return nil
	}
	if timedOut {
		return startTimeoutError(name, i.limit)
	}
	return i.callError(name, err, false)
}

func (i *wazeroInstance) Invoke(ctx context.Context, op string, payload []byte) ([]byte, error) {
	return i.InvokeAppend(ctx, op, payload, nil)
}

func (i *wazeroInstance) InvokeAppend(ctx context.Context, op string, payload, dst []byte) ([]byte, error) {
	d := i.timeout
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl); left < d {
			d = left
		}
	}
	if d <= 0 {
		return nil, timeoutError(op, 0)
	}
	if i.mod.IsClosed() {
		// Interpreted, an interrupt that raced the end of the previous
		// call may have closed the module after it returned.
		return nil, fmt.Errorf("%s: %w: instance closed by a late interrupt", op, ErrTrap)
	}
	st := i.st
	st.begin(ctx, op, payload)
	defer st.end()
	i.stack[0] = uint64(len(op))
	i.stack[1] = uint64(len(payload))
	i.arm(d)
	err := i.guestCall.CallWithStack(i.ctx, i.stack[:])
	if timedOut := i.disarm(err != nil); err != nil {
		return nil, i.callError(op, err, timedOut)
	}
	out, err := st.result(uint32(i.stack[0]) == 1)
	if err != nil {
		return nil, err
	}
	// st.response is a view of guest memory: the next call may overwrite it.
	return append(dst, out...), nil
}

// callError classifies an error from a guest function.
func (i *wazeroInstance) callError(op string, err error, timedOut bool) error {
	if timedOut {
		return timeoutError(op, i.limit)
	}
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		return fmt.Errorf("%s: %w: guest exited with code %d", op, ErrTrap, exit.ExitCode())
	}
	return fmt.Errorf("%s: %w: %v", op, ErrTrap, err)
}

func (i *wazeroInstance) Close(ctx context.Context) error {
	var err error
	i.closeOnce.Do(func() {
		i.watchdog.remove(i)
		err = i.mod.Close(ctx)
		if i.cancel != nil {
			i.cancel()
		}
	})
	return err
}

// instantiateWaPC registers the waPC host functions under module name.
func instantiateWaPC(ctx context.Context, r wazero.Runtime, name string) error {
	i32 := api.ValueTypeI32
	b := r.NewHostModuleBuilder(name)
	fn := func(export string, f api.GoModuleFunc, params, results []api.ValueType) {
		b.NewFunctionBuilder().WithGoModuleFunction(f, params, results).Export(export)
	}
	fn("__guest_request", guestRequest, []api.ValueType{i32, i32}, nil)
	fn("__guest_response", guestResponse, []api.ValueType{i32, i32}, nil)
	fn("__guest_error", guestError, []api.ValueType{i32, i32}, nil)
	fn("__host_call", hostCall, []api.ValueType{i32, i32, i32, i32, i32, i32, i32, i32}, []api.ValueType{i32})
	fn("__host_response_len", hostResponseLen, nil, []api.ValueType{i32})
	fn("__host_response", hostResponse, []api.ValueType{i32}, nil)
	fn("__host_error_len", hostErrorLen, nil, []api.ValueType{i32})
	fn("__host_error", hostError, []api.ValueType{i32}, nil)
	fn("__console_log", consoleLog, []api.ValueType{i32, i32}, nil)
	_, err := b.Instantiate(ctx)
	return err
}

func state(ctx context.Context) *callState { return ctx.Value(stateKey{}).(*callState) }

// read returns a view of guest memory; out of range is a guest bug, and
// panicking here traps the guest.
func read(mod api.Module, ptr, n uint64) []byte {
	b, ok := mod.Memory().Read(uint32(ptr), uint32(n))
	if !ok {
		panic(fmt.Errorf("guest memory read out of range: %d bytes at %d", uint32(n), uint32(ptr)))
	}
	return b
}

func write(mod api.Module, ptr uint64, b []byte) {
	if !mod.Memory().Write(uint32(ptr), b) {
		panic(fmt.Errorf("guest memory write out of range: %d bytes at %d", len(b), uint32(ptr)))
	}
}

func guestRequest(ctx context.Context, mod api.Module, stack []uint64) {
	st := state(ctx)
	if !mod.Memory().WriteString(uint32(stack[0]), st.operation) {
		panic(fmt.Errorf("guest memory write out of range: operation at %d", uint32(stack[0])))
	}
	write(mod, stack[1], st.payload)
}

func guestResponse(ctx context.Context, mod api.Module, stack []uint64) {
	state(ctx).response = read(mod, stack[0], stack[1])
}

func guestError(ctx context.Context, mod api.Module, stack []uint64) {
	st := state(ctx)
	st.guestErr = string(read(mod, stack[0], stack[1]))
	st.hasGuestErr = true
}

func hostCall(ctx context.Context, mod api.Module, stack []uint64) {
	call := HostCall{
		Binding:   string(read(mod, stack[0], stack[1])),
		Namespace: string(read(mod, stack[2], stack[3])),
		Operation: string(read(mod, stack[4], stack[5])),
		Payload:   read(mod, stack[6], stack[7]),
	}
	if state(ctx).hostCall(call) {
		stack[0] = 1
	} else {
		stack[0] = 0
	}
}

func hostResponseLen(ctx context.Context, _ api.Module, stack []uint64) {
	stack[0] = uint64(len(state(ctx).hostResp))
}

func hostResponse(ctx context.Context, mod api.Module, stack []uint64) {
	write(mod, stack[0], state(ctx).hostResp)
}

func hostErrorLen(ctx context.Context, _ api.Module, stack []uint64) {
	stack[0] = uint64(len(state(ctx).hostErr))
}

func hostError(ctx context.Context, mod api.Module, stack []uint64) {
	if !mod.Memory().WriteString(uint32(stack[0]), state(ctx).hostErr) {
		panic(fmt.Errorf("guest memory write out of range: host error at %d", uint32(stack[0])))
	}
}

func consoleLog(ctx context.Context, mod api.Module, stack []uint64) {
	state(ctx).consoleLog(read(mod, stack[0], stack[1]))
}
