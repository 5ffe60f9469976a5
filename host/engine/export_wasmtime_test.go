//go:build wasmtime

package engine

// WasmtimeCompiled reports how many modules e, a wasmtime engine, compiled
// instead of loading their code from its cache.
func WasmtimeCompiled(e Engine) int64 { return e.(*wasmtimeEngine).compiled.Load() }
