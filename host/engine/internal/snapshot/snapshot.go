// Package snapshot prepares a Wasm module so that an engine can start its
// instances from a snapshot of one instance taken after initialisation, as
// Wizer does ahead of time, without compiling the module again:
//
//   - every mutable defined global is exported (GlobalPrefix), so the
//     engine can read them from the instance it snapshots and set them in
//     the instances it starts from the snapshot;
//   - the active data segments are taken out of the module and returned in
//     the Plan: the engine writes them into a fresh instance's memory
//     itself, and does not for an instance whose memory it supplies filled
//     with the snapshot (copying them would overwrite what initialisation
//     changed, and write to pages that could otherwise stay shared).
//
// Instances started from a snapshot do not run the start function,
// `_initialize` or `wapc_init` again. A module cannot be snapshotted when
// state outside linear memory and globals could have changed during
// initialisation or be needed later, and Prepare then leaves it unchanged:
//
//   - memory or mutable globals that are imported (shared with the host);
//   - code that writes tables (table.set, table.grow, ...): tables are not
//     captured;
//   - code that uses memory.init or data.drop (the engine checks for
//     both, and for table writes, with package interrupt's Scan): the
//     active segments are taken out of the module;
//   - v128 or reference-typed mutable globals, and more than one memory.
//
// What a guest did through host functions during initialisation is the
// engine's business (see host/engine).
package snapshot

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"

	"github.com/wisp-dev/wisp/host/engine/internal/wasmbin"
)

// GlobalPrefix starts the export names Prepare gives mutable globals; the
// defined global with index i is exported as GlobalPrefix + i.
const GlobalPrefix = "__wisp_global_"

// PageSize is the size of a Wasm page.
const PageSize = 65536

// Section ids.
const (
	secImport    = 2
	secMemory    = 5
	secGlobal    = 6
	secExport    = 7
	secData      = 11
	secDataCount = 12
)

// Global is a mutable global of a prepared module.
type Global struct {
	// Export is the name it is exported under.
	Export string
	// Type is its value type: 0x7f i32, 0x7e i64, 0x7d f32, 0x7c f64.
	Type byte
}

// Plan says whether and how a prepared module can be snapshotted.
type Plan struct {
	// Globals are the module's mutable defined globals, in index order.
	Globals []Global
	// Data are the active data segments taken out of the module, in order.
	Data []Segment
	// Refused, when not empty, says why the module cannot be snapshotted.
	Refused string
}

// Segment is an active data segment: Bytes go to memory at Offset.
type Segment struct {
	Offset uint32
	Bytes  []byte
}

type section struct {
	id   byte
	body []byte
}

// Prepare returns wasm with every mutable defined global exported (see
// GlobalPrefix) and the plan for snapshotting it. A module that cannot be
// snapshotted is returned unchanged, with Plan.Refused set.
func Prepare(wasm []byte) ([]byte, Plan, error) {
	secs, err := split(wasm)
	if err != nil {
		return nil, Plan{}, err
	}
	var plan Plan
	var importedGlobals uint32
	memories := 0
	for _, s := range secs {
		r := reader{wasmbin.Reader{B: s.body}}
		switch s.id {
		case secImport:
			ig, im, mutable, err := readImports(&r)
			if err != nil {
				return nil, Plan{}, fmt.Errorf("import section: %w", err)
			}
			if im > 0 {
				plan.Refused = "its memory is imported"
			}
			if mutable {
				plan.Refused = "it imports a mutable global"
			}
			importedGlobals = ig
		case secMemory:
			n, err := r.U32()
			if err != nil {
				return nil, Plan{}, fmt.Errorf("memory section: %w", err)
			}
			memories += int(n)
		}
	}
	if memories != 1 && plan.Refused == "" {
		plan.Refused = fmt.Sprintf("it defines %d memories, not one", memories)
	}
	if plan.Refused != "" {
		return wasm, plan, nil
	}
	var exp []byte
	for _, s := range secs {
		if s.id != secGlobal {
			continue
		}
		r := reader{wasmbin.Reader{B: s.body}}
		n, err := r.U32()
		if err != nil {
			return nil, Plan{}, fmt.Errorf("global section: %w", err)
		}
		for i := uint32(0); i < n; i++ {
			t, mut, _, err := readGlobal(&r)
			if err != nil {
				return nil, Plan{}, fmt.Errorf("global %d: %w", i, err)
			}
			if !mut {
				continue
			}
			switch t {
			case 0x7f, 0x7e, 0x7d, 0x7c:
			default:
				return wasm, Plan{Refused: fmt.Sprintf("mutable global %d has type 0x%02x", i, t)}, nil
			}
			name := GlobalPrefix + strconv.Itoa(int(i))
			plan.Globals = append(plan.Globals, Global{Export: name, Type: t})
			exp = append(exp, wasmbin.ULEB(uint64(len(name)))...)
			exp = append(exp, name...)
			exp = append(exp, 0x03)
			exp = append(exp, wasmbin.ULEB(uint64(importedGlobals+i))...)
		}
	}
	for i := range secs {
		if secs[i].id != secData {
			continue
		}
		r := reader{wasmbin.Reader{B: secs[i].body}}
		body, segs, refused, err := takeData(&r)
		if err != nil {
			return nil, Plan{}, fmt.Errorf("data section: %w", err)
		}
		if refused != "" {
			return wasm, Plan{Refused: refused}, nil
		}
		secs[i].body, plan.Data = body, segs
	}
	for i := range secs { // the count must match the segments left
		if secs[i].id == secDataCount {
			secs[i].body = wasmbin.ULEB(uint64(kept(secs)))
		}
	}
	found := len(plan.Globals) == 0
	for i := range secs {
		if secs[i].id != secExport {
			continue
		}
		r := reader{wasmbin.Reader{B: secs[i].body}}
		n, err := r.U32()
		if err != nil {
			return nil, Plan{}, fmt.Errorf("export section: %w", err)
		}
		secs[i].body = cat(wasmbin.ULEB(uint64(n)+uint64(len(plan.Globals))), r.B[r.P:], exp)
		found = true
	}
	if !found {
		secs = insertBefore(secs, section{id: secExport, body: cat(wasmbin.ULEB(uint64(len(plan.Globals))), exp)}, secExport)
	}
	return join(wasm, secs), plan, nil
}

// takeData returns the data section without its active segments, and
// those segments. Only segments at constant offsets in memory 0 are taken.
func takeData(r *reader) (body []byte, segs []Segment, refused string, err error) {
	n, err := r.U32()
	if err != nil {
		return nil, nil, "", err
	}
	var keep []byte
	kept := 0
	for k := uint32(0); k < n; k++ {
		start := r.P
		flags, err := r.U32()
		if err != nil {
			return nil, nil, "", err
		}
		var off uint32
		switch flags {
		case 0, 2:
			if flags == 2 {
				if mem, err := r.U32(); err != nil || mem != 0 {
					return nil, nil, "", fmt.Errorf("data segment %d: memory index", k)
				}
			}
			op, err := r.Byte()
			if err != nil {
				return nil, nil, "", err
			}
			if op != 0x41 {
				return nil, nil, fmt.Sprintf("data segment %d has a non-constant offset", k), nil
			}
			v, err := r.S64()
			if err != nil {
				return nil, nil, "", err
			}
			if end, err := r.Byte(); err != nil || end != 0x0b {
				return nil, nil, fmt.Sprintf("data segment %d has a non-constant offset", k), nil
			}
			off = uint32(int32(v))
		case 1:
		default:
			return nil, nil, "", fmt.Errorf("data segment %d: flags %d", k, flags)
		}
		size, err := r.U32()
		if err != nil {
			return nil, nil, "", err
		}
		b, err := r.Bytes(int(size))
		if err != nil {
			return nil, nil, "", err
		}
		if flags == 1 {
			keep = append(keep, r.B[start:r.P]...)
			kept++
			continue
		}
		segs = append(segs, Segment{Offset: off, Bytes: b})
	}
	return cat(wasmbin.ULEB(uint64(kept)), keep), segs, "", nil
}

// kept counts the segments of the (rewritten) data section of secs.
func kept(secs []section) uint32 {
	for _, s := range secs {
		if s.id == secData {
			r := reader{wasmbin.Reader{B: s.body}}
			n, _ := r.U32()
			return n
		}
	}
	return 0
}

// insertBefore puts s before the first section with an id above id among
// the known ordered ones (custom sections are skipped over).
func insertBefore(secs []section, s section, id byte) []section {
	order := map[byte]int{1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13}
	at := len(secs)
	for i, x := range secs {
		if r, ok := order[x.id]; ok && r > order[id] {
			at = i
			break
		}
	}
	return append(secs[:at], append([]section{s}, secs[at:]...)...)
}

func readImports(r *reader) (globals, memories uint32, mutableGlobal bool, err error) {
	n, err := r.U32()
	if err != nil {
		return 0, 0, false, err
	}
	for k := uint32(0); k < n; k++ {
		for range 2 { // module, name
			l, err := r.U32()
			if err != nil {
				return 0, 0, false, err
			}
			if _, err := r.Bytes(int(l)); err != nil {
				return 0, 0, false, err
			}
		}
		kind, err := r.Byte()
		if err != nil {
			return 0, 0, false, err
		}
		switch kind {
		case 0x00, 0x04: // function, tag
			if kind == 0x04 {
				_, err = r.Byte()
			}
			if err == nil {
				_, err = r.U32()
			}
		case 0x01: // table
			if _, err = r.Byte(); err == nil {
				err = r.Limits()
			}
		case 0x02:
			memories++
			err = r.Limits()
		case 0x03:
			globals++
			var mut byte
			if _, err = r.Byte(); err == nil {
				mut, err = r.Byte()
				mutableGlobal = mutableGlobal || mut == 1
			}
		default:
			err = fmt.Errorf("import kind 0x%02x", kind)
		}
		if err != nil {
			return 0, 0, false, err
		}
	}
	return globals, memories, mutableGlobal, nil
}

func readGlobal(r *reader) (t byte, mut bool, init []byte, err error) {
	if t, err = r.Byte(); err != nil {
		return
	}
	if t == 0x63 || t == 0x64 { // (ref null? ht)
		if _, err = r.U64(); err != nil {
			return
		}
	}
	m, err := r.Byte()
	if err != nil {
		return
	}
	start := r.P
	err = r.constExpr()
	return t, m == 1, r.B[start:r.P], err
}

type reader struct{ wasmbin.Reader }

// constExpr moves past a constant expression and its end.
func (r *reader) constExpr() error {
	for {
		op, err := r.Byte()
		if err != nil {
			return err
		}
		switch op {
		case 0x0b:
			return nil
		case 0x41, 0x42, 0x23, 0xd2: // i32.const, i64.const, global.get, ref.func
			_, err = r.U64()
		case 0x43:
			_, err = r.Bytes(4)
		case 0x44:
			_, err = r.Bytes(8)
		case 0xd0: // ref.null
			_, err = r.U64()
		case 0x6a, 0x6b, 0x6c, 0x7c, 0x7d, 0x7e: // extended constants
		case 0xfd: // v128.const
			var sub uint32
			if sub, err = r.U32(); err == nil && sub != 12 {
				err = fmt.Errorf("0xfd %d in a constant expression", sub)
			}
			if err == nil {
				_, err = r.Bytes(16)
			}
		default:
			err = fmt.Errorf("opcode 0x%02x in a constant expression", op)
		}
		if err != nil {
			return err
		}
	}
}

func split(wasm []byte) ([]section, error) {
	if len(wasm) < 8 || !bytes.Equal(wasm[:4], []byte("\x00asm")) {
		return nil, errors.New("not a Wasm module")
	}
	r := reader{wasmbin.Reader{B: wasm, P: 8}}
	var secs []section
	for r.P < len(r.B) {
		id, _ := r.Byte()
		n, err := r.U32()
		if err != nil {
			return nil, err
		}
		body, err := r.Bytes(int(n))
		if err != nil {
			return nil, fmt.Errorf("section %d: %w", id, err)
		}
		secs = append(secs, section{id: id, body: body})
	}
	return secs, nil
}

func join(wasm []byte, secs []section) []byte {
	var out bytes.Buffer
	out.Write(wasm[:8])
	for _, s := range secs {
		out.WriteByte(s.id)
		out.Write(wasmbin.ULEB(uint64(len(s.body))))
		out.Write(s.body)
	}
	return out.Bytes()
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
