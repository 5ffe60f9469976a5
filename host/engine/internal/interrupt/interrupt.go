// Package interrupt makes a Wasm module stoppable from outside at almost no
// cost. It adds a mutable i32 global, exported as Export, and to every
// function a counter local; at the head of every loop it inserts
//
//	local.get $n  i32.const 1  i32.add  local.tee $n
//	i32.const Every  i32.ge_u
//	if
//	  i32.const 0  local.set $n
//	  i32.const 0  memory.grow  drop       ;; a call out of the guest
//	  global.get $interrupt
//	  if  unreachable  end
//	end
//
// so a host that sets the global to 1 from another goroutine makes the guest
// trap within Every iterations. Straight-line code always ends, and
// unbounded recursion ends in a stack overflow, so loops are the only place
// a guest can run forever.
//
// The `memory.grow 0` is there for the Go runtime, not for the guest: code
// compiled by wazero cannot be preempted, so a guest that never leaves its
// loop would stall every goroutine of the host as soon as the garbage
// collector stops the world (including the timer that is to interrupt the
// guest). wazero implements memory.grow as a call out to Go, which gives the
// scheduler a safe point every Every iterations.
//
// wazero's own mechanism (RuntimeConfig.WithCloseOnContextDone) calls out of
// the guest at every loop iteration, which made a three-instruction loop 40x
// slower in wisp's benchmark (bench/, BenchmarkGuestLoop). A counter in a
// register and a compare cost far less. See RATIONALE.md.
//
// # Notes
//
//   - The rewrite walks every instruction, so it needs to know each opcode's
//     immediates: the MVP, sign extension, saturating truncation, bulk memory,
//     reference types, SIMD, threads, tail calls and exception handling —
//     everything wazero accepts. An unknown opcode is an error, never a
//     silently broken module.
//   - A module without a memory gets an empty one, for the memory.grow.
//   - The start section is removed and its function exported as
//     StartExport: the engine runs it after instantiation, under the call
//     timeout, where a loop in it can be interrupted.
//   - Custom sections named ".debug_*" are dropped: their code offsets would
//     be wrong after the rewrite. Other custom sections (names, claims) stay.
//   - Sections that declare more entries than they have bytes, and
//     functions with more than 50,000 locals, are refused: wazero's decoder
//     would allocate for the declared counts first.
package interrupt

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/wisp-dev/wisp/host/engine/internal/wasmbin"
)

// Export is the name under which the interrupt global is exported.
const Export = "__wisp_interrupt"

// StartExport is the name under which the module's start function (the
// start section's) is exported once the section is removed. The engine
// calls it after instantiation, under the call timeout, so that a start
// function that loops forever is stopped like any call: run inside
// instantiation, nothing could interrupt it.
const StartExport = "__wisp_start"

// Every is how many loop iterations pass between two looks at the
// interrupt global (and two safe points for the Go scheduler).
const Every = 1 << 14

// Section ids.
const (
	secCustom   = 0
	secType     = 1
	secImport   = 2
	secFunction = 3
	secMemory   = 5
	secGlobal   = 6
	secExport   = 7
	secStart    = 8
	secCode     = 10
)

// sectionRank orders known sections as the binary format requires them.
var sectionRank = map[byte]int{1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13}

// maxLocals bounds the locals of one function, as V8 and wasmtime do.
const maxLocals = 50000

// wasmbin.ErrTruncated reports a module that ends in the middle of something.

type section struct {
	id   byte
	body []byte
}

// Instrument returns a copy of the module wasm with the interrupt global and
// the loop checks added. It fails on modules it cannot fully parse.
func Instrument(wasm []byte) ([]byte, error) {
	if len(wasm) < 8 || !bytes.Equal(wasm[:4], []byte("\x00asm")) {
		return nil, errors.New("not a Wasm module")
	}
	secs, err := splitSections(wasm[8:])
	if err != nil {
		return nil, err
	}
	var imp imports
	var definedGlobals uint32
	var params []uint32 // parameter count per type
	var funcTypes []uint32
	globalIdx, hasMemory := -1, false
	start, hasStart := uint32(0), false
	for i, s := range secs {
		r := reader{wasmbin.Reader{B: s.body}}
		switch s.id {
		case secType:
			if params, err = readTypes(&r); err != nil {
				return nil, fmt.Errorf("type section: %w", err)
			}
		case secImport:
			if imp, err = readImports(&r); err != nil {
				return nil, fmt.Errorf("import section: %w", err)
			}
		case secFunction:
			if funcTypes, err = readIndices(&r); err != nil {
				return nil, fmt.Errorf("function section: %w", err)
			}
		case secMemory:
			n, err := r.U32()
			if err != nil {
				return nil, fmt.Errorf("memory section: %w", err)
			}
			hasMemory = hasMemory || n > 0
		case secStart:
			if start, err = r.U32(); err != nil {
				return nil, fmt.Errorf("start section: %w", err)
			}
			hasStart = true
		case secGlobal:
			globalIdx = i
			if definedGlobals, err = r.U32(); err != nil {
				return nil, fmt.Errorf("global section: %w", err)
			}
		}
	}
	hasMemory = hasMemory || imp.memories > 0
	g := imp.globals + definedGlobals // index of the new global

	// The global: mutable i32 initialised to 0.
	newGlobal := []byte{0x7f, 0x01, 0x41, 0x00, 0x0b}
	if globalIdx >= 0 {
		r := reader{wasmbin.Reader{B: secs[globalIdx].body}}
		r.U32()
		secs[globalIdx].body = concat(wasmbin.ULEB(uint64(definedGlobals+1)), r.B[r.P:], newGlobal)
	} else {
		secs = insertSection(secs, section{id: secGlobal, body: concat(wasmbin.ULEB(1), newGlobal)})
	}
	if !hasMemory {
		secs = insertSection(secs, section{id: secMemory, body: []byte{0x01, 0x00, 0x00}})
	}
	// The exports: the global and, instead of the start section, the
	// start function.
	exp := concat(wasmbin.ULEB(uint64(len(Export))), []byte(Export), []byte{0x03}, wasmbin.ULEB(uint64(g)))
	nexp := uint32(1)
	if hasStart {
		exp = concat(exp, wasmbin.ULEB(uint64(len(StartExport))), []byte(StartExport), []byte{0x00}, wasmbin.ULEB(uint64(start)))
		nexp++
		secs = slices.DeleteFunc(secs, func(s section) bool { return s.id == secStart })
	}
	found := false
	for i := range secs {
		if secs[i].id != secExport {
			continue
		}
		r := reader{wasmbin.Reader{B: secs[i].body}}
		n, err := r.U32()
		if err != nil {
			return nil, fmt.Errorf("export section: %w", err)
		}
		secs[i].body = concat(wasmbin.ULEB(uint64(n+nexp)), r.B[r.P:], exp)
		found = true
	}
	if !found {
		secs = insertSection(secs, section{id: secExport, body: concat(wasmbin.ULEB(uint64(nexp)), exp)})
	}
	// The checks.
	fnParams := make([]uint32, len(funcTypes))
	for i, t := range funcTypes {
		if int(t) >= len(params) {
			return nil, fmt.Errorf("function %d: type %d out of range", i, t)
		}
		fnParams[i] = params[t]
	}
	for i := range secs {
		if secs[i].id != secCode {
			continue
		}
		if secs[i].body, err = rewriteCode(secs[i].body, g, fnParams); err != nil {
			return nil, fmt.Errorf("code section: %w", err)
		}
	}

	out := bytes.NewBuffer(make([]byte, 0, len(wasm)+len(wasm)/16))
	out.Write(wasm[:8])
	for _, s := range secs {
		out.WriteByte(s.id)
		out.Write(wasmbin.ULEB(uint64(len(s.body))))
		out.Write(s.body)
	}
	return out.Bytes(), nil
}

// check returns the sequence inserted at a loop header of a function whose
// counter is local n; g is the interrupt global.
func check(n, g uint32) []byte {
	l, gl := wasmbin.ULEB(uint64(n)), wasmbin.ULEB(uint64(g))
	every := wasmbin.SLEB(Every)
	return concat(
		[]byte{0x20}, l, []byte{0x41, 0x01, 0x6a, 0x22}, l, // n = n+1
		[]byte{0x41}, every, []byte{0x4f, 0x04, 0x40}, // if n >= Every
		[]byte{0x41, 0x00, 0x21}, l, // n = 0
		[]byte{0x41, 0x00, 0x40, 0x00, 0x1a},             // drop(memory.grow(0))
		[]byte{0x23}, gl, []byte{0x04, 0x40, 0x00, 0x0b}, // if interrupt: unreachable
		[]byte{0x0b}, // end
	)
}

// readTypes returns the parameter count of every function type.
func readTypes(r *reader) ([]uint32, error) {
	n, err := r.vec("types")
	if err != nil {
		return nil, err
	}
	params := make([]uint32, n)
	for k := range params {
		form, err := r.Byte()
		if err != nil {
			return nil, err
		}
		if form != 0x60 {
			return nil, fmt.Errorf("type %d: form 0x%02x is not a function type", k, form)
		}
		np, err := r.vec("parameters")
		if err != nil {
			return nil, err
		}
		if _, err := r.Bytes(int(np)); err != nil {
			return nil, err
		}
		nr, err := r.vec("results")
		if err != nil {
			return nil, err
		}
		if _, err := r.Bytes(int(nr)); err != nil {
			return nil, err
		}
		params[k] = np
	}
	return params, nil
}

// readIndices reads a vector of u32 indices.
func readIndices(r *reader) ([]uint32, error) {
	n, err := r.vec("indices")
	if err != nil {
		return nil, err
	}
	out := make([]uint32, n)
	for k := range out {
		if out[k], err = r.U32(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func splitSections(b []byte) ([]section, error) {
	var secs []section
	r := reader{wasmbin.Reader{B: b}}
	for r.P < len(r.B) {
		id, err := r.Byte()
		if err != nil {
			return nil, err
		}
		n, err := r.U32()
		if err != nil {
			return nil, fmt.Errorf("section %d size: %w", id, err)
		}
		body, err := r.Bytes(int(n))
		if err != nil {
			return nil, fmt.Errorf("section %d: %w", id, err)
		}
		if id == secCustom {
			nr := reader{wasmbin.Reader{B: body}}
			if name, err := nr.Name(); err == nil && len(name) >= 7 && name[:7] == ".debug_" {
				continue
			}
		} else if err := checkCount(id, body); err != nil {
			return nil, err
		}
		secs = append(secs, section{id: id, body: body})
	}
	return secs, nil
}

// checkCount refuses a vector section that declares more entries than it
// has bytes: every entry takes at least one. wazero's decoder allocates for
// the declared count before reading entries, so without this check a few
// bytes could make it allocate gigabytes and crash the host.
func checkCount(id byte, body []byte) error {
	switch id {
	case 8, 12: // start, data count: not vectors
		return nil
	}
	r := reader{wasmbin.Reader{B: body}}
	n, err := r.U32()
	if err != nil {
		return fmt.Errorf("section %d: %w", id, err)
	}
	if int(n) > len(body)-r.P {
		return fmt.Errorf("section %d declares %d entries in %d bytes", id, n, len(body)-r.P)
	}
	switch id {
	case 9:
		return checkElements(&r, n)
	case 11:
		return checkData(&r, n)
	}
	return nil
}

// vec reads a vector length and refuses one longer than the bytes left.
func (r *reader) vec(what string) (uint32, error) {
	n, err := r.U32()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	if int(n) > len(r.B)-r.P {
		return 0, fmt.Errorf("%s declares %d entries in %d bytes", what, n, len(r.B)-r.P)
	}
	return n, nil
}

// constExpr moves past a constant expression and its end.
func (r *reader) constExpr() error {
	for {
		op, err := r.Byte()
		if err != nil {
			return err
		}
		if op == 0x0b {
			return nil
		}
		if err := r.skipImmediates(op); err != nil {
			return err
		}
	}
}

// checkData bounds every data segment's length by the bytes left.
func checkData(r *reader, n uint32) error {
	for k := uint32(0); k < n; k++ {
		flags, err := r.U32()
		if err != nil {
			return fmt.Errorf("data segment %d: %w", k, err)
		}
		if flags == 2 {
			if err := r.skipLEB(); err != nil { // memory index
				return err
			}
		}
		if flags != 1 {
			if err := r.constExpr(); err != nil {
				return fmt.Errorf("data segment %d offset: %w", k, err)
			}
		}
		size, err := r.vec(fmt.Sprintf("data segment %d", k))
		if err != nil {
			return err
		}
		r.P += int(size)
	}
	return nil
}

// checkElements bounds every element segment's vector by the bytes left.
func checkElements(r *reader, n uint32) error {
	for k := uint32(0); k < n; k++ {
		flags, err := r.U32()
		if err != nil || flags > 7 {
			return fmt.Errorf("element segment %d: bad flags", k)
		}
		if flags&3 == 2 { // explicit table index
			if err := r.skipLEB(); err != nil {
				return err
			}
		}
		if flags&1 == 0 { // active: offset expression
			if err := r.constExpr(); err != nil {
				return fmt.Errorf("element segment %d offset: %w", k, err)
			}
		}
		if flags&3 != 0 { // element kind or reference type
			if _, err := r.Byte(); err != nil {
				return err
			}
		}
		count, err := r.vec(fmt.Sprintf("element segment %d", k))
		if err != nil {
			return err
		}
		for e := uint32(0); e < count; e++ {
			if flags&4 != 0 {
				err = r.constExpr()
			} else {
				err = r.skipLEB()
			}
			if err != nil {
				return fmt.Errorf("element segment %d: %w", k, err)
			}
		}
	}
	return nil
}

// insertSection puts s before the first known section that must follow it.
func insertSection(secs []section, s section) []section {
	rank := sectionRank[s.id]
	at := len(secs)
	for i, x := range secs {
		if r, ok := sectionRank[x.id]; ok && r > rank {
			at = i
			break
		}
	}
	return append(secs[:at], append([]section{s}, secs[at:]...)...)
}

// imports counts what a module imports, by kind.
type imports struct {
	globals, memories uint32
}

func readImports(r *reader) (imports, error) {
	var imp imports
	n, err := r.U32()
	if err != nil {
		return imp, err
	}
	for k := uint32(0); k < n; k++ {
		if _, err := r.Name(); err != nil {
			return imp, err
		}
		if _, err := r.Name(); err != nil {
			return imp, err
		}
		kind, err := r.Byte()
		if err != nil {
			return imp, err
		}
		switch kind {
		case 0x00: // func: type index
			_, err = r.U32()
		case 0x01: // table: reftype, limits
			if _, err = r.Byte(); err == nil {
				err = r.Limits()
			}
		case 0x02: // memory: limits
			imp.memories++
			err = r.Limits()
		case 0x03: // global: valtype, mutability
			imp.globals++
			_, err = r.Bytes(2)
		case 0x04: // tag: attribute, type index
			if _, err = r.Byte(); err == nil {
				_, err = r.U32()
			}
		default:
			err = fmt.Errorf("unknown import kind 0x%02x", kind)
		}
		if err != nil {
			return imp, err
		}
	}
	return imp, nil
}

// rewriteCode adds a counter local to every function body and the check
// at every loop header. params holds each function's parameter count.
func rewriteCode(b []byte, g uint32, params []uint32) ([]byte, error) {
	r := reader{wasmbin.Reader{B: b}}
	n, err := r.U32()
	if err != nil {
		return nil, err
	}
	if int(n) != len(params) {
		return nil, fmt.Errorf("%d bodies for %d functions", n, len(params))
	}
	out := make([]byte, 0, len(b)+len(b)/8)
	out = append(out, wasmbin.ULEB(uint64(n))...)
	var body []byte
	for f := uint32(0); f < n; f++ {
		size, err := r.U32()
		if err != nil {
			return nil, fmt.Errorf("function %d: %w", f, err)
		}
		src, err := r.Bytes(int(size))
		if err != nil {
			return nil, fmt.Errorf("function %d: %w", f, err)
		}
		if body, err = rewriteBody(body[:0], src, params[f], g); err != nil {
			return nil, fmt.Errorf("function %d: %w", f, err)
		}
		out = append(out, wasmbin.ULEB(uint64(len(body)))...)
		out = append(out, body...)
	}
	return out, nil
}

func rewriteBody(out, src []byte, params, g uint32) ([]byte, error) {
	r := reader{wasmbin.Reader{B: src}}
	groups, err := r.vec("locals")
	if err != nil {
		return nil, err
	}
	afterCount := r.P
	locals := uint64(params)
	for k := uint32(0); k < groups; k++ {
		n, err := r.U32()
		if err != nil {
			return nil, err
		}
		// wazero allocates for the sum: bound it as V8 and wasmtime do.
		if locals += uint64(n); locals > maxLocals {
			return nil, fmt.Errorf("more than %d locals", maxLocals)
		}
		if _, err := r.Byte(); err != nil { // valtype
			return nil, err
		}
	}
	// The counter is one more i32 local, after all the others.
	out = append(out, wasmbin.ULEB(uint64(groups+1))...)
	out = append(out, src[afterCount:r.P]...)
	out = append(out, 0x01, 0x7f)
	chk := check(uint32(locals), g)
	last := r.P
	for r.P < len(r.B) {
		op, _ := r.Byte()
		isLoop := op == 0x03
		if err := r.skipImmediates(op); err != nil {
			return nil, fmt.Errorf("opcode 0x%02x at %d: %w", op, r.P, err)
		}
		if isLoop {
			out = append(out, src[last:r.P]...)
			out = append(out, chk...)
			last = r.P
		}
	}
	return append(out, src[last:]...), nil
}

type reader struct{ wasmbin.Reader }

func (r *reader) blockType() error {
	c, err := r.Byte()
	if err != nil {
		return err
	}
	switch c {
	case 0x40, 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f:
		return nil
	}
	r.P--
	return r.skipLEB() // a type index, as s33
}

func (r *reader) memarg() error {
	if err := r.skipLEB(); err != nil {
		return err
	}
	return r.skipLEB()
}

// Immediate shapes, for the opcode table.
const (
	immNone    = iota + 1 // nothing follows
	immLEB                // one LEB128 number (index, label, signed const)
	immTwoLEB             // two LEB128 numbers
	immMemarg             // align and offset
	immBlock              // a block type
	immByte               // one byte
	immSpecial            // decoded case by case
)

// immediates classifies every one-byte opcode; 0 is unknown.
var immediates = func() (t [256]byte) {
	set := func(shape byte, ops ...int) {
		for _, op := range ops {
			t[op] = shape
		}
	}
	set(immNone, 0x00, 0x01, 0x05, 0x0a, 0x0b, 0x0f, 0x19, 0x1a, 0x1b, 0xd1)
	for op := 0x45; op <= 0xc4; op++ {
		t[op] = immNone
	}
	set(immBlock, 0x02, 0x03, 0x04, 0x06)
	// br, br_if, call, return_call, catch, throw, rethrow, delegate,
	// local.*, global.*, table.get/set, i32/i64.const, ref.func
	set(immLEB, 0x0c, 0x0d, 0x10, 0x12, 0x07, 0x08, 0x09, 0x18, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x41, 0x42, 0xd2)
	set(immTwoLEB, 0x11, 0x13) // call_indirect, return_call_indirect
	for op := 0x28; op <= 0x3e; op++ {
		t[op] = immMemarg
	}
	set(immByte, 0x3f, 0x40, 0xd0) // memory.size, memory.grow, ref.null
	set(immSpecial, 0x0e, 0x1c, 0x1f, 0x43, 0x44, 0xfc, 0xfd, 0xfe)
	return t
}()

// skipLEB moves past one LEB128 number without decoding it.
func (r *reader) skipLEB() error {
	for k := 0; k < 10; k++ {
		if r.P >= len(r.B) {
			return wasmbin.ErrTruncated
		}
		c := r.B[r.P]
		r.P++
		if c&0x80 == 0 {
			return nil
		}
	}
	return errors.New("LEB128 number too long")
}

// skipImmediates moves past the immediates of op.
func (r *reader) skipImmediates(op byte) error {
	switch immediates[op] {
	case immNone:
		return nil
	case immLEB:
		return r.skipLEB()
	case immTwoLEB:
		if err := r.skipLEB(); err != nil {
			return err
		}
		return r.skipLEB()
	case immMemarg:
		return r.memarg()
	case immBlock:
		return r.blockType()
	case immByte:
		_, err := r.Byte()
		return err
	case immSpecial:
		return r.special(op)
	}
	return errors.New("unknown opcode")
}

// special moves past the immediates of the opcodes with variable shapes.
func (r *reader) special(op byte) error {
	var err error
	switch op {
	case 0x0e: // br_table
		var n uint32
		if n, err = r.U32(); err != nil {
			return err
		}
		for k := uint32(0); k <= n && err == nil; k++ {
			err = r.skipLEB()
		}
	case 0x1f: // try_table
		if err = r.blockType(); err != nil {
			return err
		}
		var n uint32
		if n, err = r.U32(); err != nil {
			return err
		}
		for k := uint32(0); k < n && err == nil; k++ {
			var kind byte
			if kind, err = r.Byte(); err != nil {
				return err
			}
			if kind == 0x00 || kind == 0x01 { // catch, catch_ref: tag
				if err = r.skipLEB(); err != nil {
					return err
				}
			}
			err = r.skipLEB() // label
		}
	case 0x1c: // select t*
		var n uint32
		if n, err = r.U32(); err == nil {
			_, err = r.Bytes(int(n))
		}
	case 0x43:
		_, err = r.Bytes(4)
	case 0x44:
		_, err = r.Bytes(8)
	case 0xfc:
		err = r.prefixFC()
	case 0xfd:
		err = r.prefixFD()
	case 0xfe:
		err = r.prefixFE()
	}
	return err
}

func (r *reader) prefixFC() error {
	sub, err := r.U32()
	if err != nil {
		return err
	}
	switch {
	case sub <= 7: // saturating truncations
		return nil
	case sub == 8: // memory.init data, mem
		if _, err = r.U32(); err == nil {
			_, err = r.Byte()
		}
	case sub == 9, sub == 13, sub == 15, sub == 16, sub == 17: // data.drop, elem.drop, table.grow/size/fill
		_, err = r.U32()
	case sub == 10: // memory.copy
		_, err = r.Bytes(2)
	case sub == 11: // memory.fill
		_, err = r.Byte()
	case sub == 12, sub == 14: // table.init, table.copy
		if _, err = r.U32(); err == nil {
			_, err = r.U32()
		}
	default:
		err = fmt.Errorf("unknown 0xfc opcode %d", sub)
	}
	return err
}

func (r *reader) prefixFD() error {
	sub, err := r.U32()
	if err != nil {
		return err
	}
	switch {
	case sub <= 11, sub == 92, sub == 93: // loads, stores, load_zero
		return r.memarg()
	case sub == 12, sub == 13: // v128.const, i8x16.shuffle
		_, err = r.Bytes(16)
	case sub >= 21 && sub <= 34: // extract/replace lane
		_, err = r.Byte()
	case sub >= 84 && sub <= 91: // load/store lane
		if err = r.memarg(); err == nil {
			_, err = r.Byte()
		}
	case sub <= 275:
		// every other SIMD instruction has no immediates
	default:
		err = fmt.Errorf("unknown 0xfd opcode %d", sub)
	}
	return err
}

func (r *reader) prefixFE() error {
	sub, err := r.U32()
	if err != nil {
		return err
	}
	switch {
	case sub == 3: // atomic.fence
		_, err = r.Byte()
	case sub <= 0x4e:
		err = r.memarg()
	default:
		err = fmt.Errorf("unknown 0xfe opcode %d", sub)
	}
	return err
}

func concat(parts ...[]byte) []byte {
	var n int
	for _, p := range parts {
		n += len(p)
	}
	out := make([]byte, 0, n)
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// Uses is what Scan found in a module's code.
type Uses struct {
	// TableWrites: table.set, table.grow, table.fill, table.copy,
	// table.init or elem.drop.
	TableWrites bool
	// Segments: memory.init or data.drop, which name data segments.
	Segments bool
}

// Scan reports what the functions of the module wasm may do beyond linear
// memory and globals. A snapshot of memory and globals (package snapshot)
// captures neither tables nor dropped segments, and takes the data
// segments out of the module, so a module that uses either cannot be
// snapshotted.
func Scan(wasm []byte) (Uses, error) {
	if len(wasm) < 8 {
		return Uses{}, wasmbin.ErrTruncated
	}
	secs, err := splitSections(wasm[8:])
	if err != nil {
		return Uses{}, err
	}
	var uses Uses
	for _, s := range secs {
		if s.id != secCode {
			continue
		}
		r := reader{wasmbin.Reader{B: s.body}}
		n, err := r.U32()
		if err != nil {
			return Uses{}, err
		}
		for f := uint32(0); f < n; f++ {
			size, err := r.U32()
			if err != nil {
				return Uses{}, err
			}
			src, err := r.Bytes(int(size))
			if err != nil {
				return Uses{}, err
			}
			if err := scanBody(src, &uses); err != nil {
				return uses, err
			}
		}
	}
	return uses, nil
}

func scanBody(src []byte, uses *Uses) error {
	r := reader{wasmbin.Reader{B: src}}
	groups, err := r.vec("locals")
	if err != nil {
		return err
	}
	for k := uint32(0); k < groups; k++ {
		if _, err := r.U32(); err != nil {
			return err
		}
		if _, err := r.Byte(); err != nil {
			return err
		}
	}
	for r.P < len(r.B) {
		op, _ := r.Byte()
		if op == 0x26 { // table.set
			uses.TableWrites = true
		}
		if op == 0xfc {
			peek := reader{wasmbin.Reader{B: r.B, P: r.P}}
			if sub, err := peek.U32(); err == nil {
				uses.TableWrites = uses.TableWrites || (sub >= 12 && sub <= 17 && sub != 16)
				uses.Segments = uses.Segments || sub == 8 || sub == 9
			}
		}
		if err := r.skipImmediates(op); err != nil {
			return fmt.Errorf("opcode 0x%02x at %d: %w", op, r.P, err)
		}
	}
	return nil
}
