package eval

import (
	"debug/dwarf"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"syscall"

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/module"
)

// Memory reads and writes the stopped target (proc.Session has these two
// methods). Errors say which address could not be reached.
type Memory interface {
	ReadMemory(addr uint64, p []byte) error
	WriteMemory(addr uint64, p []byte) error
}

// Scope is one frame of one stopped thread.
type Scope struct {
	Arch   *arch.Arch
	Regs   arch.Regs      // the frame's registers as the unwinder recovered them (frame 0: the thread's)
	CFA    uint64         // the frame's CFA (DW_OP_call_frame_cfa); 0 if unknown
	PC     uint64         // the frame's PC (for a caller frame: return address - 1 is where to look up)
	Mem    Memory         // the stopped process (proc.Session)
	Module *module.Module // module holding PC, nil if none; DWARF may be absent (stripped)
	Bias   uint64         // load bias of Module (PIE/shared lib): runtime addr = file addr + Bias
	// SetReg writes a register of frame 0 (DWARF number); nil: read-only.
	SetReg func(dwarfReg int, v uint64) error
	// Line, if set, is the source line of PC, used in messages only.
	Line int
}

// ErrOptimizedOut is wrapped by errors about values the compiler kept no
// copy of at the scope's PC.
var ErrOptimizedOut = errors.New("optimized out")

type optimizedErr string

func (e optimizedErr) Error() string { return string(e) }
func (e optimizedErr) Unwrap() error { return ErrOptimizedOut }

func errOptimized(why string) error { return optimizedErr("optimized out: " + why) }

func (sc *Scope) ptrSize() int { return sc.Arch.PtrSize }

func (sc *Scope) info() (*info, error) {
	if sc.Module == nil {
		return nil, fmt.Errorf("no module at PC %#x", sc.PC)
	}
	in := moduleInfo(sc.Module, int64(sc.Arch.PtrSize))
	if in.err != nil {
		if errors.Is(in.err, errNoDWARF) {
			return nil, fmt.Errorf("%s has no DWARF (stripped): only registers, memory and builtin types work", sc.Module.Path)
		}
		return nil, fmt.Errorf("%s: DWARF: %v", sc.Module.Path, in.err)
	}
	return in, nil
}

// frame returns the DWARF function at the scope's PC.
func (sc *Scope) frame() (*info, *frameInfo, error) {
	in, err := sc.info()
	if err != nil {
		return nil, nil, err
	}
	fi, err := in.function(sc.PC - sc.Bias)
	if err != nil {
		return in, nil, err
	}
	return in, fi, nil
}

// where names the scope's function and line for messages.
func (sc *Scope) where(fi *frameInfo) string {
	s := fmt.Sprintf("%#x", sc.PC)
	if fi != nil {
		s = fi.name
	}
	if sc.Line > 0 {
		s += fmt.Sprintf(" at line %d", sc.Line)
	} else if sc.Module != nil {
		if locs := sc.Module.Frames(sc.PC-sc.Bias, false); len(locs) > 0 && locs[len(locs)-1].Line > 0 {
			s += fmt.Sprintf(" at line %d", locs[len(locs)-1].Line)
		}
	}
	return s
}

func (sc *Scope) locContext(in *info, fi *frameInfo) *locContext {
	lc := &locContext{sc: sc, in: in}
	if fi != nil {
		lc.cu = fi.cu
		fn := fi.fn
		lc.frameBase = func() (uint64, error) {
			expr, err := in.locationExpr(fi.cu, fn, dwarf.AttrFrameBase, sc.PC-sc.Bias)
			if err != nil {
				return 0, err
			}
			if expr == nil {
				return 0, fmt.Errorf("%s has no frame base", fi.name)
			}
			sub := &locContext{sc: sc, in: in, cu: fi.cu}
			ps, err := sub.evalLocation(expr)
			if err != nil {
				return 0, err
			}
			switch p := ps[0]; p.kind {
			case inRegister: // the register's value is the base
				v, ok := sc.reg(p.reg)
				if !ok {
					return 0, fmt.Errorf("register %s unknown", sc.Arch.RegName(p.reg))
				}
				return v, nil
			case inMemory, isValue:
				return p.addr | p.val, nil
			}
			return 0, fmt.Errorf("unsupported frame base")
		}
	}
	return lc
}

// reg returns a register of the frame; the PC and SP are always known.
func (sc *Scope) reg(n int) (uint64, bool) {
	if v, ok := sc.Regs.Get(n); ok {
		return v, true
	}
	if n == sc.Arch.PC && sc.Arch.PC != 0 {
		return sc.Regs.PC, true
	}
	return 0, false
}

// variable makes a Value of a variable DIE (local, parameter or global).
func (sc *Scope) variable(in *info, fi *frameInfo, e *dwarf.Entry) *Value {
	name := in.dieName(e)
	t, err := in.dieType(e)
	if err != nil {
		return &Value{Name: name, Type: "?", t: &typ{kind: kVoid, name: "?"}, sc: sc, err: err}
	}
	v := &Value{Name: name, Type: t.name, t: t, sc: sc}
	if c := e.AttrField(dwarf.AttrConstValue); c != nil {
		v.buf = constBytes(c.Val, t.size, sc.Arch)
		return v
	}
	var cu *dwarf.Entry
	if fi != nil {
		cu = fi.cu
	} else {
		cu = in.cuOf(e.Offset)
	}
	expr, err := in.locationExpr(cu, e, dwarf.AttrLocation, sc.PC-sc.Bias)
	if err != nil {
		v.err = fmt.Errorf("%s: %v", name, err)
		return v
	}
	if expr == nil {
		v.err = optimizedErr(name + " is optimized out here")
		return v
	}
	lc := sc.locContext(in, fi)
	lc.cu = cu
	ps, err := lc.evalLocation(expr)
	if err != nil {
		if errors.Is(err, ErrOptimizedOut) {
			v.err = optimizedErr(fmt.Sprintf("%s is optimized out here (%s)", name, strings.TrimPrefix(err.Error(), "optimized out: ")))
		} else {
			v.err = fmt.Errorf("%s: %v", name, err)
		}
		return v
	}
	v.setPieces(ps)
	return v
}

// setPieces places v where its location pieces say.
func (v *Value) setPieces(ps []piece) {
	sc := v.sc
	if len(ps) == 1 && ps[0].kind == inMemory {
		v.Addr = ps[0].addr
		return
	}
	if len(ps) == 1 && ps[0].kind == inRegister {
		v.reg, v.inReg = ps[0].reg, true
	}
	size := v.t.size
	buf := make([]byte, 0, size)
	for _, p := range ps {
		n := p.size
		if n == 0 {
			n = size - int64(len(buf))
		}
		var b []byte
		switch p.kind {
		case isOptimized:
			if len(ps) == 1 {
				v.err = optimizedErr(v.Name + " is optimized out here")
				return
			}
			b = make([]byte, n) // an absent piece reads as zero, as delve shows it
			v.partial = true
		case inRegister:
			r, ok := sc.reg(p.reg)
			if !ok {
				v.err = optimizedErr(fmt.Sprintf("%s is optimized out here: it is in register %s, not saved in this frame", v.Name, sc.Arch.RegName(p.reg)))
				return
			}
			b = uintBytes(r, n, sc.Arch)
		case isValue:
			b = uintBytes(p.val, n, sc.Arch)
		case isBytes:
			b = p.bytes
		case inMemory:
			b = make([]byte, n)
			if err := sc.Mem.ReadMemory(p.addr, b); err != nil {
				v.err = readErr(n, p.addr, err)
				return
			}
		}
		if int64(len(b)) < n {
			b = append(b, make([]byte, n-int64(len(b)))...)
		}
		buf = append(buf, b[:n]...)
	}
	if int64(len(buf)) < size {
		buf = append(buf, make([]byte, size-int64(len(buf)))...)
	}
	v.buf = buf[:size]
}

// uintBytes returns the low n bytes of r in the arch's byte order (for a
// big-endian register, the low-order bytes are the last ones).
func uintBytes(r uint64, n int64, a *arch.Arch) []byte {
	var b [8]byte
	a.ByteOrder.PutUint64(b[:], r)
	if n > 8 {
		out := make([]byte, n)
		copy(out, b[:])
		return out
	}
	if a.ByteOrder == binary.BigEndian {
		return b[8-n:]
	}
	return b[:n]
}

func constBytes(val any, size int64, a *arch.Arch) []byte {
	switch c := val.(type) {
	case int64:
		return uintBytes(uint64(c), size, a)
	case uint64:
		return uintBytes(c, size, a)
	case []byte:
		return c
	}
	return make([]byte, size)
}

func readErr(n int64, addr uint64, err error) error {
	return fmt.Errorf("cannot read %d bytes at %#x: %s", n, addr, memReason(err))
}

// memReason says why memory could not be reached: /proc/PID/mem and
// process_vm_readv answer EIO or EFAULT for an address no mapping holds.
func memReason(err error) string {
	if errors.Is(err, syscall.EIO) || errors.Is(err, syscall.EFAULT) {
		return "not mapped"
	}
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		msg = msg[i+2:]
	}
	return msg
}

func (sc *Scope) vars(params bool) ([]*Value, error) {
	in, fi, err := sc.frame()
	if err != nil {
		return nil, err
	}
	var out []*Value
	for _, e := range fi.vars {
		if (e.Tag == dwarf.TagFormalParameter) != params {
			continue
		}
		v := sc.variable(in, fi, e)
		if strings.HasPrefix(v.Name, "&") && v.err == nil {
			// Go's "&x": x moved to the heap; show x.
			if p, err := sc.deref(v); err == nil {
				v = p
			}
			v.Name = v.Name[len("*&"):]
		}
		out = append(out, v)
	}
	return out, nil
}

// Locals returns the DWARF local variables whose scope holds the PC, in
// declaration order (outer blocks first). Each Value carries its own error if it cannot be read
// (optimized out, unreadable memory); the error is for the frame as a
// whole (no DWARF, no function at PC).
func Locals(sc *Scope) ([]*Value, error) { return sc.vars(false) }

// Args returns the DWARF formal parameters of the function at PC.
func Args(sc *Scope) ([]*Value, error) { return sc.vars(true) }

// lookup finds a variable by name: locals and parameters (innermost
// scope first), then package-level variables as written ("main.counter")
// or qualified by the current function's package, then C globals.
func (sc *Scope) lookup(name string) (*Value, error) {
	in, fi, err := sc.frame()
	if in == nil {
		return nil, err
	}
	if fi != nil {
		// Go names a variable moved to the heap "&x": a pointer to it.
		best, bestDepth, moved := (*dwarf.Entry)(nil), -1, false
		for i, e := range fi.vars {
			n := in.dieName(e)
			if (n == name || n == "&"+name) && fi.depth[i] >= bestDepth {
				best, bestDepth, moved = e, fi.depth[i], n != name
			}
		}
		if best != nil {
			v := sc.variable(in, fi, best)
			if moved && v.err == nil {
				p, err := sc.deref(v)
				if err != nil {
					return nil, fmt.Errorf("%s (moved to the heap): %v", name, err)
				}
				p.Name = name
				return p, nil
			}
			return v, nil
		}
	}
	cands := []string{name}
	if fi != nil {
		if i := strings.LastIndex(fi.name, "."); i > 0 && !strings.Contains(name, ".") {
			pkg := fi.name[:i]
			if j := strings.Index(pkg, ".("); j > 0 {
				pkg = pkg[:j]
			}
			cands = append([]string{pkg + "." + name}, cands...)
		}
	}
	for _, c := range cands {
		if off, ok := in.globals[c]; ok {
			e, err := in.entry(off)
			if err != nil {
				return nil, err
			}
			v := sc.variable(in, nil, e)
			v.Name = name
			return v, nil
		}
	}
	if addr, _, ok := sc.Module.SymbolByName(name); ok {
		return nil, fmt.Errorf("%s has no DWARF type; its symbol is at %#x: read it with a conversion, e.g. *(*int32)(%#x)", name, addr+sc.Bias, addr+sc.Bias)
	}
	return nil, fmt.Errorf("no variable %s in %s", name, sc.where(fi))
}
