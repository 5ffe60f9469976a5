// Package engine runs waPC guests: it compiles Wasm modules, instantiates them
// with the waPC host ABI and WASI preview 1, and invokes their operations.
//
// An Engine is the only part of wisp that knows which Wasm runtime is in use.
// wazero is the default and is always compiled in; other engines register
// themselves behind build tags. Everything above this package (pools, the
// host, the lattice) sees only Engine, Module and Instance.
//
//	eng, _ := engine.New(engine.Config{})
//	mod, _ := eng.Compile(ctx, wasm, engine.Limits{})
//	inst, _ := mod.Instantiate(ctx, engine.InstanceConfig{Name: "echo"})
//	out, _ := inst.Invoke(ctx, "Echo.Reply", []byte("hi"))
//
// # Notes
//
//   - An Instance is not safe for concurrent use: one invocation at a time.
//     Pools (package pool) give parallelism by holding several instances.
//   - A failed invocation that is not a *GuestError leaves the instance
//     unusable (a trap, a timeout, memory exhaustion): discard it.
package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	"github.com/wisp-dev/wisp/host/engine/internal/cachetrim"
	"github.com/wisp-dev/wisp/host/engine/internal/prepared"
)

// Default limits applied when a Limits field is zero.
const (
	DefaultMaxMemoryPages = 1024 // 64 MiB of linear memory
	DefaultCallTimeout    = 10 * time.Second
)

// Config selects and configures an engine. The zero value is the default
// engine (wazero, compiler where supported) without a compilation cache.
type Config struct {
	// Name picks the engine: "wazero" (the default when empty) or any engine
	// compiled in behind a build tag, such as "wasmtime".
	Name string
	// Mode picks how the engine runs code: "auto" (default), "compiler" or
	// "interpreter". Engines without an interpreter refuse "interpreter".
	Mode string
	// CacheDir, when set, keeps compiled code on disk so a second start of the
	// same module in any process does not compile it again. Entries unused
	// for five days are removed, looked for at most once a day when an
	// engine is created on the folder (package cachetrim).
	CacheDir string
	// Fuel, when non-zero, meters guest code: every call (and every start
	// function) gets this many units, about one per Wasm instruction, and
	// traps with ErrTrap when they run out. Only wasmtime meters fuel, at a
	// cost to all guest code; wazero refuses a non-zero Fuel. The call
	// timeout stops runaway guests on every engine without it.
	Fuel uint64
	// NoSnapshot turns snapshots off: every instance runs the guest's
	// initialisation. By default (wazero) the first instance of a module
	// under a name is snapshotted after its initialisation and further
	// instances start from that snapshot, sharing its unchanged pages (see
	// docs/DESIGN.md, "Snapshots"). wasmtime ignores it.
	NoSnapshot bool
}

// Limits bound what one actor may use. Zero fields take the defaults above.
type Limits struct {
	// MaxMemoryPages caps the guest's linear memory, in 64 KiB pages.
	MaxMemoryPages uint32
	// CallTimeout stops an invocation that runs longer, including a guest in
	// an infinite loop. The instance is closed and must be replaced.
	CallTimeout time.Duration
}

// WithDefaults returns l with zero fields set to the package defaults.
func (l Limits) WithDefaults() Limits {
	if l.MaxMemoryPages == 0 {
		l.MaxMemoryPages = DefaultMaxMemoryPages
	}
	if l.CallTimeout <= 0 {
		l.CallTimeout = DefaultCallTimeout
	}
	return l
}

// Engine compiles Wasm modules. It is safe for concurrent use.
type Engine interface {
	// Name reports the engine and its mode, for example "wazero/compiler".
	Name() string
	// Compile validates and compiles a waPC module. It fails with ErrNotWasm
	// for bytes that are not Wasm and ErrNotWaPC when exports are missing.
	// It keeps nothing of wasm: the caller may free or reuse the bytes once
	// it returns (a host unmaps a module it read from a file).
	Compile(ctx context.Context, wasm []byte, limits Limits) (Module, error)
	// Close releases the engine and every module compiled by it.
	Close(ctx context.Context) error
}

// Module is a compiled module, ready to be instantiated many times.
// It is safe for concurrent use.
type Module interface {
	// Instantiate creates an instance and runs its start function
	// (`_initialize`, else `_start`) and then `wapc_init` when exported.
	Instantiate(ctx context.Context, cfg InstanceConfig) (Instance, error)
	// MemoryPages reports the linear memory the module asks for at start.
	MemoryPages() uint32
	// Close releases the compiled code. Instances must be closed first.
	Close(ctx context.Context) error
}

// Instance is one instantiated guest. It is not safe for concurrent use.
type Instance interface {
	// Invoke calls the guest's operation with payload and returns its
	// response. A *GuestError means the guest reported a failure and the
	// instance stays usable; any other error means it must be discarded.
	Invoke(ctx context.Context, operation string, payload []byte) ([]byte, error)
	// InvokeAppend is Invoke that appends the response to dst and returns
	// the extended slice: a caller that is done with a response before its
	// next call can reuse one buffer for all of them.
	InvokeAppend(ctx context.Context, operation string, payload, dst []byte) ([]byte, error)
	// Close releases the instance.
	Close(ctx context.Context) error
}

// HostCall is what a guest asked the host for through `__host_call`.
type HostCall struct {
	// Binding is the link name ("default" for most links, "" for calls to
	// other actors).
	Binding string
	// Namespace is a contract id or, for actor-to-actor calls, an actor.
	Namespace string
	// Operation is the operation name, such as "KeyValue.Get".
	Operation string
	// Payload is the argument. It is only valid during the call: copy it to
	// keep it.
	Payload []byte
}

// HostCallFunc answers a guest's host call. ctx is the context of the
// invocation that made it. An error is returned to the guest through
// `__host_error`; it never crashes the guest or the host.
type HostCallFunc func(ctx context.Context, call HostCall) ([]byte, error)

// InstanceConfig wires an instance to its host.
type InstanceConfig struct {
	// Name identifies the actor in logs and errors.
	Name string
	// HostCall answers `__host_call`. Nil answers every call with an error.
	HostCall HostCallFunc
	// ConsoleLog receives `__console_log` messages. Nil drops them.
	ConsoleLog func(msg string)
	// Stdout and Stderr receive the guest's WASI output. Nil discards it.
	Stdout, Stderr io.Writer
}

// GuestError is a failure the guest reported through `__guest_error` or by
// returning 0 from `__guest_call`. The instance that returned it is healthy.
type GuestError struct {
	Message string
}

func (e *GuestError) Error() string { return "guest error: " + e.Message }

// Sentinel errors, to be tested with errors.Is.
var (
	// ErrNotWasm reports bytes that are not a Wasm binary.
	ErrNotWasm = errors.New("not a WebAssembly module")
	// ErrNotWaPC reports a module that lacks the waPC exports.
	ErrNotWaPC = errors.New("not a waPC module")
	// ErrTimeout reports an invocation stopped at its call timeout.
	ErrTimeout = errors.New("call timed out")
	// ErrTrap reports a guest that trapped (unreachable, out of bounds,
	// out of memory, ...).
	ErrTrap = errors.New("guest trapped")
	// ErrUnknownEngine reports an engine name that is not compiled in.
	ErrUnknownEngine = errors.New("engine not compiled in")
)

// factory builds an engine from its config.
type factory func(Config) (Engine, error)

var (
	registryMu sync.Mutex
	registry   = map[string]factory{}
)

// register makes an engine available to New under name.
func register(name string, f factory) {
	registryMu.Lock()
	defer registryMu.Unlock()
	registry[name] = f
}

// Available lists the engines compiled into this binary, sorted.
func Available() []string {
	registryMu.Lock()
	defer registryMu.Unlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// cacheFolders begin the names of the folders engines keep in a cache
// folder (Config.CacheDir): wazero's own, the prepared modules', Wasmtime's.
var cacheFolders = []string{"wazero-", prepared.FolderPrefix, wasmtimeFolderPrefix}

// wasmtimeFolderPrefix begins the name of Wasmtime's cache folder.
const wasmtimeFolderPrefix = "wasmtime-"

// New creates the engine cfg names.
func New(cfg Config) (Engine, error) {
	if cfg.Name == "" {
		cfg.Name = "wazero"
	}
	registryMu.Lock()
	f, ok := registry[cfg.Name]
	registryMu.Unlock()
	if !ok {
		hint := ""
		if cfg.Name == "wasmtime" {
			hint = "; rebuild with -tags wasmtime"
		}
		return nil, fmt.Errorf("engine %q: %w (this binary has: %v%s)", cfg.Name, ErrUnknownEngine, Available(), hint)
	}
	if cfg.CacheDir != "" {
		cachetrim.Trim(cfg.CacheDir, time.Now(), cacheFolders...)
	}
	return f(cfg)
}
