//go:build wasmtime

package engine

// WasmtimeCompiled reports how many modules e, a wasmtime engine, compiled
// instead of loading their code from its cache.
func WasmtimeCompiled(e Engine) int64 { return e.(*wasmtimeEngine).compiled.Load() }

// WasmtimeTickerStopped reports whether the epoch ticker's goroutine of e,
// a wasmtime engine, has returned.
func WasmtimeTickerStopped(e Engine) bool {
	select {
	case <-e.(*wasmtimeEngine).ticker.done:
		return true
	default:
		return false
	}
}
