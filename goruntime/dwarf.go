package goruntime

import (
	"debug/dwarf"
	"fmt"
)

// The struct types FromDWARF reads, and the members of each it records.
var dwarfStructs = map[string][]string{
	"runtime.g": {"stack", "m", "sched", "syscallsp", "syscallpc", "atomicstatus", "goid",
		"waitsince", "waitreason", "lockedm", "parentGoid", "gopc", "startpc"},
	"runtime.m":     {"g0", "curg", "gsignal", "procid", "vdsoSP", "vdsoPC"},
	"runtime.gobuf": {"sp", "pc", "lr", "bp", "g"},
	"runtime.stack": {"lo", "hi"},
}

// FromDWARF reads the layout of runtime.g, runtime.m and runtime.gobuf from
// the compiler's DWARF (the DW_TAG_member entries of those struct types and
// their DW_AT_data_member_location). ptrSize is the target's pointer size.
// A member the release lacks (parentGoid before go1.21) is Unknown. The
// error wraps ErrUnknownLayout when the DWARF does not describe runtime.g
// (a C binary, or DWARF from a separate file without types).
func FromDWARF(d *dwarf.Data, ptrSize int) (l *Layout, err error) {
	defer func() {
		// debug/dwarf can panic on malformed input; a bad section must
		// not take taiji down with it.
		if p := recover(); p != nil {
			l, err = nil, fmt.Errorf("%w: malformed DWARF (%v)", ErrUnknownLayout, p)
		}
	}()
	found := map[string]map[string]Off{}
	r := d.Reader()
	for len(found) < len(dwarfStructs) {
		e, err := r.Next()
		if err != nil {
			return nil, fmt.Errorf("%w: reading DWARF: %v", ErrUnknownLayout, err)
		}
		if e == nil {
			break
		}
		if e.Tag == dwarf.TagCompileUnit || e.Tag == 0 {
			continue
		}
		name, _ := e.Val(dwarf.AttrName).(string)
		want, ok := dwarfStructs[name]
		if e.Tag != dwarf.TagStructType || !ok || found[name] != nil || !e.Children {
			if e.Children {
				r.SkipChildren()
			}
			continue
		}
		found[name] = members(r, want)
	}
	g := found["runtime.g"]
	if g == nil {
		return nil, fmt.Errorf("%w: the DWARF does not describe runtime.g", ErrUnknownLayout)
	}
	m, buf, stk := found["runtime.m"], found["runtime.gobuf"], found["runtime.stack"]
	get := func(s map[string]Off, name string) Off {
		if o, ok := s[name]; ok {
			return o
		}
		return Unknown
	}
	return &Layout{
		PtrSize: ptrSize,
		Source:  FromDWARFInfo,
		From:    "DWARF",
		G: G{
			StackLo: nested(get(g, "stack"), get(stk, "lo")), StackHi: nested(get(g, "stack"), get(stk, "hi")),
			M: get(g, "m"), Sched: get(g, "sched"), Syscallsp: get(g, "syscallsp"), Syscallpc: get(g, "syscallpc"),
			Atomicstatus: get(g, "atomicstatus"), Goid: get(g, "goid"), Waitsince: get(g, "waitsince"),
			Waitreason: get(g, "waitreason"), Lockedm: get(g, "lockedm"), ParentGoid: get(g, "parentGoid"),
			Gopc: get(g, "gopc"), Startpc: get(g, "startpc"),
		},
		M: M{G0: get(m, "g0"), Curg: get(m, "curg"), Gsignal: get(m, "gsignal"), Procid: get(m, "procid"),
			VdsoSP: get(m, "vdsoSP"), VdsoPC: get(m, "vdsoPC")},
		Gobuf: Gobuf{SP: get(buf, "sp"), PC: get(buf, "pc"), LR: get(buf, "lr"), BP: get(buf, "bp"), G: get(buf, "g")},
	}, nil
}

// members reads the children of a struct type entry and returns the offsets
// of the wanted members.
func members(r *dwarf.Reader, want []string) map[string]Off {
	out := map[string]Off{}
	for {
		c, err := r.Next()
		if err != nil || c == nil || c.Tag == 0 {
			return out
		}
		if c.Children {
			r.SkipChildren()
		}
		if c.Tag != dwarf.TagMember {
			continue
		}
		name, _ := c.Val(dwarf.AttrName).(string)
		off, ok := c.Val(dwarf.AttrDataMemberLoc).(int64)
		if !ok || off < 0 {
			continue
		}
		for _, w := range want {
			if w == name {
				out[name] = Off(off)
			}
		}
	}
}
