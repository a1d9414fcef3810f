// Package eval evaluates the expressions of taiji debug (print, set,
// locals, args, x, breakpoint conditions) in one frame of a stopped
// thread: Go syntax, parsed by go/parser, over DWARF variables and types,
// registers and raw memory.
//
// # Contract (the debugger codes against exactly this)
//
//	type Memory interface {
//	    ReadMemory(addr uint64, p []byte) error   // proc.Session has both
//	    WriteMemory(addr uint64, p []byte) error
//	}
//	type Scope struct {
//	    Arch   *arch.Arch
//	    Regs   arch.Regs        // the frame's registers (frame 0: the thread's)
//	    CFA    uint64           // the frame's CFA; 0: computed from the module's CFI
//	    PC     uint64           // the frame's PC (caller frames: return address - 1)
//	    Mem    Memory
//	    Module *module.Module   // module holding PC, nil if none; DWARF may be absent
//	    Bias   uint64           // runtime addr = file addr + Bias
//	    SetReg func(dwarfReg int, v uint64) error // frame 0's registers; nil: read-only
//	}
//	func Eval(sc *Scope, expr string) (*Value, error)
//	func Assign(sc *Scope, lhs, rhs string) error
//	func Locals(sc *Scope) ([]*Value, error)
//	func Args(sc *Scope) ([]*Value, error)
//	type Value struct { Name, Type string; Addr uint64; ... }
//	func (v *Value) String() string           // main.T {a: 1, s: "x", p: *main.T {...}}
//	func (v *Value) Format(verb byte) string  // gdb's print/FMT: x d u o t c s
//	func (v *Value) JSON() any                // {name, type, addr, value | children}
//	func (v *Value) FormatJSON(verb byte) any // JSON in print/FMT's format
//	func Examine(sc *Scope, fmt string, addr uint64) (string, error) // gdb x/FMT
//
// SetReg is called with the DWARF register number, or with Arch.PC (-1
// where the arch gives the PC no DWARF number) for $pc.
//
// # What it reads
//
// Variables come from DWARF: the DW_TAG_subprogram holding PC - Bias, its
// lexical blocks and inlined calls that hold it (inner names shadow
// outer), then package variables ("main.counter", or "counter" in a
// function of package main) and C globals. Locations are DWARF location
// expressions or lists (DWARF 4 .debug_loc, DWARF 5 .debug_loclists, the
// GNU view pairs gcc writes there); the stack machine is cfi.Eval, with
// DW_OP_call_frame_cfa, DW_OP_fbreg, DW_OP_addr (+ Bias) and DW_OP_addrx
// turned into constants first, and registers, DW_OP_piece (Go's
// register-split arguments), DW_OP_stack_value and DW_OP_implicit_value
// handled here. DW_OP_entry_value reads as optimized out.
//
// Builtin Go types (int8..uint64, int, uint, uintptr, float32/64,
// complex64/128, bool, byte, rune, string, unsafe.Pointer) need no DWARF,
// so *(*uint32)(0x7bf6c) and $rax work on stripped binaries. Go's slices,
// strings, interfaces (the dynamic type from the itab or _type through
// DW_AT_go_runtime_type, as delve), maps (bucket maps up to go1.23, swiss
// maps from go1.24) and channels (len, cap) are decoded from the runtime
// structures the Go linker describes; C structs, unions, enums, arrays,
// pointers and char* strings as gdb prints them.
//
// Printing is bounded as delve's defaults: 64 elements, 64 bytes of a
// string, composites 3 levels deep, pointers followed one level (fields
// that are pointers print as *T {...}); cut output ends in "...".
//
// Errors are one line: "no variable n in main.f at line 12", "cannot read
// 8 bytes at 0x10: ...", "x is optimized out here". Parsing and evaluation
// never panic (FuzzEval).
package eval
