package claims

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Names of the custom sections that carry an actor's JWT. Both are read;
// Sign writes SectionJWT unless told otherwise, and removes both.
const (
	// SectionJWT is the section name used by wascap before 0.9 (and by wisp).
	SectionJWT = "jwt"
	// SectionWasmcloudJWT is the section name written by wascap 0.9 and later.
	SectionWasmcloudJWT = "wasmcloud_jwt"
)

// Wasm errors.
var (
	// ErrNotWasm reports input that is not a well-formed WebAssembly binary:
	// wrong magic, unknown version, or a section that runs past the end.
	ErrNotWasm = errors.New("not a valid WebAssembly module")
	// ErrComponent reports a WebAssembly component; wisp actors are core modules.
	ErrComponent = errors.New("WebAssembly components are not supported, only core modules")
)

var (
	wasmMagic         = []byte{0x00, 'a', 's', 'm'}
	coreModuleVersion = []byte{0x01, 0x00, 0x00, 0x00}
)

const headerLen = 8

// section is one section of a core module.
type section struct {
	id      byte
	offset  int    // offset of the section id byte in the module
	payload []byte // the section contents (after id and size)
	name    string // custom sections (id 0) only
	data    []byte // custom sections only: the contents after the name
}

func (s section) isClaims() bool {
	return s.id == 0 && (s.name == SectionJWT || s.name == SectionWasmcloudJWT)
}

func wasmErr(offset int, format string, args ...any) error {
	return fmt.Errorf("%w: offset 0x%x: %s", ErrNotWasm, offset, fmt.Sprintf(format, args...))
}

// readU32 reads an unsigned LEB128 number of at most 32 bits, as WebAssembly
// encodes sizes, and returns it with the number of bytes read.
func readU32(b []byte, offset int) (uint32, int, error) {
	var v uint32
	for i := 0; i < 5; i++ {
		if i >= len(b) {
			return 0, 0, wasmErr(offset+i, "truncated LEB128 number")
		}
		c := b[i]
		if i == 4 {
			if c&0x80 != 0 {
				return 0, 0, wasmErr(offset, "LEB128 number longer than 5 bytes")
			}
			if c&0x70 != 0 {
				return 0, 0, wasmErr(offset, "LEB128 number does not fit in 32 bits")
			}
		}
		v |= uint32(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			return v, i + 1, nil
		}
	}
	panic("unreachable")
}

// appendU32 appends v as a minimal-length unsigned LEB128 number.
func appendU32(b []byte, v uint32) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// parseModule splits a core module into its sections. It checks the header
// and the framing of every section (id, size, and for custom sections the
// name) but not the contents of other sections.
func parseModule(b []byte) ([]section, error) {
	if len(b) < 4 || !bytes.Equal(b[:4], wasmMagic) {
		return nil, fmt.Errorf("%w: missing \\0asm magic number", ErrNotWasm)
	}
	if len(b) < headerLen {
		return nil, fmt.Errorf("%w: truncated header (%d bytes)", ErrNotWasm, len(b))
	}
	if !bytes.Equal(b[4:8], coreModuleVersion) {
		if b[6] == 0x01 && b[7] == 0x00 { // layer 1: the component model
			return nil, ErrComponent
		}
		return nil, fmt.Errorf("%w: unsupported binary version % x", ErrNotWasm, b[4:8])
	}
	var out []section
	for off := headerLen; off < len(b); {
		s := section{id: b[off], offset: off}
		size, n, err := readU32(b[off+1:], off+1)
		if err != nil {
			return nil, fmt.Errorf("section %d size: %w", s.id, err)
		}
		start := off + 1 + n
		if uint64(size) > uint64(len(b)-start) {
			return nil, wasmErr(off, "section %d is truncated: declares %d bytes, %d remain", s.id, size, len(b)-start)
		}
		s.payload = b[start : start+int(size)]
		if s.id == 0 {
			nameLen, n, err := readU32(s.payload, start)
			if err != nil {
				return nil, fmt.Errorf("custom section name: %w", err)
			}
			if uint64(nameLen) > uint64(len(s.payload)-n) {
				return nil, wasmErr(start, "custom section name runs past the end of its section")
			}
			name := s.payload[n : n+int(nameLen)]
			if !utf8.Valid(name) {
				return nil, wasmErr(start+n, "custom section name is not UTF-8")
			}
			s.name = string(name)
			s.data = s.payload[n+int(nameLen):]
		}
		out = append(out, s)
		off = start + int(size)
	}
	return out, nil
}

// appendSection appends a section with a minimal-length size.
func appendSection(b []byte, id byte, payload []byte) []byte {
	b = append(b, id)
	b = appendU32(b, uint32(len(payload)))
	return append(b, payload...)
}

// strip returns the module without any claims section, re-encoded the way
// wascap does it: the header, then every other section in order with its
// size written as minimal LEB128 (sizes padded to 5 bytes by some linkers
// are therefore shortened).
func strip(module []byte, sections []section) []byte {
	out := make([]byte, 0, len(module))
	out = append(out, module[:headerLen]...)
	for _, s := range sections {
		if !s.isClaims() {
			out = appendSection(out, s.id, s.payload)
		}
	}
	return out
}

func hashHex(b []byte) string {
	sum := sha256.Sum256(b)
	return fmt.Sprintf("%X", sum[:])
}

// strippedHash is hashHex(strip(module, sections)) without the copy of the
// module: verifying a start hashes megabytes, and copying them first cost
// as much as hashing.
func strippedHash(module []byte, sections []section) string {
	h := sha256.New()
	h.Write(module[:headerLen])
	var size []byte
	for _, s := range sections {
		if !s.isClaims() {
			size = appendU32(append(size[:0], s.id), uint32(len(s.payload)))
			h.Write(size)
			h.Write(s.payload)
		}
	}
	return fmt.Sprintf("%X", h.Sum(nil))
}

// ModuleHash returns the hash wascap puts in the `hash` claim for a module:
// the upper-case hex SHA-256 of the module with every claims section removed
// and section sizes re-encoded minimally. Signed and unsigned copies of the
// same module have the same ModuleHash.
func ModuleHash(module []byte) (string, error) {
	sections, err := parseModule(module)
	if err != nil {
		return "", err
	}
	return strippedHash(module, sections), nil
}

// appendCustomSection appends a custom section with the given name and data.
func appendCustomSection(b []byte, name string, data []byte) []byte {
	payload := appendU32(nil, uint32(len(name)))
	payload = append(payload, name...)
	payload = append(payload, data...)
	return appendSection(b, 0, payload)
}
