//go:build wasmtime && !linux

package engine

import (
	"bytes"

	"github.com/bytecodealliance/wasmtime-go/v39"
)

// deserializeCached loads the cached code at path, checked against sum,
// from a copy in Go memory, which Wasmtime copies again: a file it mapped
// where it lies would crash the host if it were cut short under it.
func deserializeCached(eng *wasmtime.Engine, path string, sum cacheSum) (*wasmtime.Module, error) {
	var b bytes.Buffer
	if err := copyChecked(&b, path, sum); err != nil {
		return nil, err
	}
	return wasmtime.NewModuleDeserialize(eng, b.Bytes())
}
