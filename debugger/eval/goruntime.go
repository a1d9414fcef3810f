package eval

import (
	"fmt"
)

// Go runtime values: interfaces, maps and channels, read through the
// runtime structures the Go linker describes in DWARF (runtime.iface,
// runtime.eface, runtime.hmap/bucket up to go1.23, the swiss tables of
// internal/runtime/maps from go1.24, runtime.hchan).

// dynamic returns the value an interface holds, typed with its dynamic
// type, or nil for a nil interface. The dynamic type comes from the
// itab's (iface) or the eface's *_type, mapped to DWARF through
// DW_AT_go_runtime_type, as delve does.
func (v *Value) dynamic() (*Value, error) {
	ps := int64(v.sc.ptrSize())
	tab, err := v.ptrAt(0)
	if err != nil {
		return nil, err
	}
	data, err := v.ptrAt(ps)
	if err != nil {
		return nil, err
	}
	if tab == 0 {
		return nil, nil
	}
	rtype := tab
	if !v.t.eface {
		// itab: inter *interfacetype, _type *_type, ...
		b := make([]byte, ps)
		if err := v.sc.Mem.ReadMemory(tab+uint64(ps), b); err != nil {
			return nil, readErr(ps, tab+uint64(ps), err)
		}
		rtype = readUint(v.sc.order(), b)
	}
	in, err := v.sc.info()
	if err != nil {
		return nil, err
	}
	// DW_AT_go_runtime_type is an offset from the start of the type
	// data, the symbol runtime.types (moduledata.types).
	base, _, ok := v.sc.Module.SymbolByName("runtime.types")
	if !ok {
		return nil, fmt.Errorf("no symbol runtime.types: cannot name the dynamic type at %#x", rtype)
	}
	off, ok := in.rtypes[rtype-v.sc.Bias-base]
	if !ok {
		return nil, fmt.Errorf("dynamic type at %#x has no DWARF type", rtype)
	}
	dt, err := in.typeAt(off)
	if err != nil {
		return nil, err
	}
	name := "(" + v.Name + ")"
	if directIface(dt, ps) {
		return v.sc.uintValue(name, dt, data), nil
	}
	return v.sc.atAddr(name, dt, data), nil
}

// directIface reports whether Go stores a value of type t in an
// interface's data word itself (pointer-shaped types) rather than a
// pointer to it (reflect's kindDirectIface).
func directIface(t *typ, ps int64) bool {
	switch t.kind {
	case kPtr, kMap, kChan, kFunc:
		return true
	case kStruct:
		return len(t.fields) == 1 && directIface(t.fields[0].t, ps)
	case kArray:
		return t.count == 1 && directIface(t.elem, ps)
	}
	return false
}

func (f *formatter) iface(v *Value, depth int) {
	d, err := v.dynamic()
	if f.errored(err) {
		return
	}
	if d == nil {
		f.w(v.t.name + " nil")
		return
	}
	f.wf("%s(%s) ", v.t.name, d.t.name)
	f.value(d, depth+1, true)
}

// mapHeader reads the runtime's map header a map value points to.
func (sc *Scope) mapHeader(v *Value) (*Value, error) {
	u, err := v.uint()
	if err != nil || u == 0 {
		return nil, err
	}
	if v.t.hdr == nil || v.t.hdr.kind != kStruct {
		return nil, fmt.Errorf("%s: the map's runtime type is not in the DWARF", v.Name)
	}
	return sc.atAddr("*"+v.Name, v.t.hdr, u), nil
}

// mapLen returns a map's number of entries: hmap.count (bucket maps) or
// Map.used (swiss maps).
func (sc *Scope) mapLen(v *Value) (uint64, error) {
	h, err := sc.mapHeader(v)
	if err != nil || h == nil {
		return 0, err
	}
	for _, n := range []string{"count", "used"} {
		if fl, ok := h.t.field(n); ok {
			return h.fieldValue(fl).uint()
		}
	}
	return 0, fmt.Errorf("%s: unknown map layout (%s)", v.Name, h.t.name)
}

// fieldOf reads the named integer or pointer field of struct s.
func fieldOf(s *Value, name string) (uint64, error) {
	fl, ok := s.t.field(name)
	if !ok {
		return 0, fmt.Errorf("%s has no field %s: unknown runtime layout", s.t.name, name)
	}
	return s.fieldValue(fl).uint()
}

// mapEntries returns up to max key/value pairs of a map.
func (sc *Scope) mapEntries(v *Value, max int) (keys, vals []*Value, err error) {
	h, err := sc.mapHeader(v)
	if err != nil || h == nil {
		return nil, nil, err
	}
	if v.t.key == nil || v.t.elem == nil {
		if in, err := sc.info(); err == nil {
			if kv, ok := in.mapKV[v.t.name]; ok {
				k, err1 := in.typeAt(kv[0])
				e, err2 := in.typeAt(kv[1])
				if err1 == nil && err2 == nil {
					v.t.key, v.t.elem = k, e
				}
			}
		}
	}
	if v.t.key == nil || v.t.elem == nil {
		return nil, nil, fmt.Errorf("%s: key and value types not found in the DWARF", v.Name)
	}
	add := func(k, e *Value) bool {
		keys, vals = append(keys, k), append(vals, e)
		return len(keys) < max
	}
	if _, ok := h.t.field("buckets"); ok {
		return keys, vals, sc.bucketMap(h, v.t, add)
	}
	if _, ok := h.t.field("dirPtr"); ok {
		return keys, vals, sc.swissMap(h, v.t, add)
	}
	return nil, nil, fmt.Errorf("%s: unknown map layout (%s)", v.Name, h.t.name)
}

// bucketMap walks a go1.23-or-older hmap: 1<<B buckets of 8 slots and
// their overflow chains; a slot is full when its tophash is >= 5
// (minTopHash). While the map grows, the old buckets not yet evacuated
// (tophash[0] not 2..4) still hold their entries (runtime/map.go).
func (sc *Scope) bucketMap(h *Value, mt *typ, add func(k, v *Value) bool) error {
	B, err := fieldOf(h, "B")
	if err != nil {
		return err
	}
	buckets, err := fieldOf(h, "buckets")
	if err != nil {
		return err
	}
	bf, _ := h.t.field("buckets")
	bt := bf.t.elem
	if bt == nil || B > 24 {
		return fmt.Errorf("map header not plausible (B=%d)", B)
	}
	th, ok1 := bt.field("tophash")
	kf, ok2 := bt.field("keys")
	vf, ok3 := bt.field("values")
	if !ok3 {
		vf, ok3 = bt.field("elems")
	}
	of, ok4 := bt.field("overflow")
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return fmt.Errorf("unknown bucket layout (%s)", bt.name)
	}
	// walk lists the entries of n buckets at base; it returns false when
	// add wants no more.
	walk := func(base, n uint64, old bool) (bool, error) {
		for i := uint64(0); i < n; i++ {
			b := base + i*uint64(bt.size)
			for n := 0; b != 0 && n < 1000; n++ {
				bv := sc.atAddr("bucket", bt, b)
				top, err := bv.bytes()
				if err != nil {
					return false, err
				}
				if old && n == 0 && top[th.off] >= 2 && top[th.off] <= 4 {
					break // evacuated: its entries are in the new buckets
				}
				for s := int64(0); s < 8; s++ {
					if top[th.off+s] < 5 {
						continue
					}
					k := sc.atAddr("key", mt.key, b+uint64(kf.off+s*mt.key.size))
					e := sc.atAddr("value", mt.elem, b+uint64(vf.off+s*mt.elem.size))
					if !add(k, e) {
						return false, nil
					}
				}
				if b, err = bv.fieldValue(of).uint(); err != nil {
					return false, err
				}
			}
		}
		return true, nil
	}
	more, err := walk(buckets, 1<<B, false)
	if err != nil || !more {
		return err
	}
	old, err := fieldOf(h, "oldbuckets")
	if err != nil || old == 0 {
		return err
	}
	flags, err := fieldOf(h, "flags")
	if err != nil {
		return err
	}
	oldB := B - 1
	if flags&8 != 0 || B == 0 { // sameSizeGrow
		oldB = B
	}
	_, err = walk(old, 1<<oldB, true)
	return err
}

// swissMap walks a go1.24+ map (internal/runtime/maps): with dirLen 0,
// dirPtr is one group; else it is an array of dirLen *table (entries may
// repeat), each table's groups.data holding lengthMask+1 groups. A group
// is a control word (one byte per slot, high bit clear when full) then 8
// slots of {key, elem}.
func (sc *Scope) swissMap(h *Value, mt *typ, add func(k, v *Value) bool) error {
	dirPtr, err := fieldOf(h, "dirPtr")
	if err != nil {
		return err
	}
	dirLen, err := fieldOf(h, "dirLen")
	if err != nil {
		return err
	}
	ps := int64(sc.ptrSize())
	// Slot layout as the compiler builds it (cmd/compile's
	// reflectdata.SwissMapGroupType): key, then elem aligned.
	ka, ea := mt.key.align(ps), mt.elem.align(ps)
	eoff := alignUp(mt.key.size, ea)
	slot := alignUp(eoff+mt.elem.size, max(ka, ea))
	group := int64(8) + 8*slot
	if mt.key.size > 128 || mt.elem.size > 128 {
		return fmt.Errorf("maps with keys or values over 128 bytes (stored indirectly) are not listed")
	}
	walkGroup := func(g uint64) (bool, error) {
		var ctrl [8]byte
		if err := sc.Mem.ReadMemory(g, ctrl[:]); err != nil {
			return false, readErr(8, g, err)
		}
		for s := int64(0); s < 8; s++ {
			if ctrl[s]&0x80 != 0 {
				continue
			}
			at := g + uint64(8+s*slot)
			if !add(sc.atAddr("key", mt.key, at), sc.atAddr("value", mt.elem, at+uint64(eoff))) {
				return false, nil
			}
		}
		return true, nil
	}
	if dirLen == 0 {
		if dirPtr == 0 {
			return nil
		}
		_, err := walkGroup(dirPtr)
		return err
	}
	if dirLen > 1<<16 {
		return fmt.Errorf("map directory of %d tables not plausible", dirLen)
	}
	seen := map[uint64]bool{}
	for i := uint64(0); i < dirLen; i++ {
		b := make([]byte, ps)
		if err := sc.Mem.ReadMemory(dirPtr+i*uint64(ps), b); err != nil {
			return readErr(ps, dirPtr+i*uint64(ps), err)
		}
		tab := readUint(sc.order(), b)
		if tab == 0 || seen[tab] {
			continue
		}
		seen[tab] = true
		// table: used uint16, capacity uint16, growthLeft uint16,
		// localDepth uint8, index int, groups {data, lengthMask}.
		var tb [4 * 8]byte
		if err := sc.Mem.ReadMemory(tab, tb[:]); err != nil {
			return readErr(int64(len(tb)), tab, err)
		}
		o := sc.order()
		data := readUint(o, tb[2*ps:3*ps])
		mask := readUint(o, tb[3*ps:4*ps])
		if mask > 1<<20 {
			return fmt.Errorf("map table with %d groups not plausible", mask+1)
		}
		for g := uint64(0); g <= mask; g++ {
			more, err := walkGroup(data + g*uint64(group))
			if err != nil || !more {
				return err
			}
		}
	}
	return nil
}

func alignUp(n, a int64) int64 {
	if a <= 1 {
		return n
	}
	return (n + a - 1) / a * a
}

// nilRef prints "T nil" for a nil map or channel (or an error) and
// reports whether it printed anything.
func (f *formatter) nilRef(v *Value) bool {
	u, err := v.uint()
	if f.errored(err) {
		return true
	}
	if u == 0 {
		f.w(v.t.name + " nil")
		return true
	}
	return false
}

func (f *formatter) goMap(v *Value, depth int) {
	if f.nilRef(v) {
		return
	}
	n, err := v.sc.mapLen(v)
	if f.errored(err) {
		return
	}
	f.w(v.t.name + " ")
	if depth >= maxDepth {
		f.w("[...]")
		return
	}
	keys, vals, err := v.sc.mapEntries(v, MaxElems)
	if err != nil {
		f.wf("len: %d (entries unreadable: %v)", n, err)
		return
	}
	f.w("[")
	for i := range keys {
		if i > 0 {
			f.w(", ")
		}
		f.value(keys[i], depth+1, false)
		f.w(": ")
		f.value(vals[i], depth+1, false)
	}
	if n > uint64(len(keys)) {
		f.wf(", ...+%d more", n-uint64(len(keys)))
	}
	f.w("]")
}

// chanLenCap reads hchan.qcount and hchan.dataqsiz.
func (sc *Scope) chanLenCap(v *Value) (n, c uint64, err error) {
	u, err := v.uint()
	if err != nil || u == 0 {
		return 0, 0, err
	}
	if v.t.hdr == nil || v.t.hdr.kind != kStruct {
		return 0, 0, fmt.Errorf("%s: runtime.hchan is not in the DWARF", v.Name)
	}
	h := sc.atAddr("*"+v.Name, v.t.hdr, u)
	if n, err = fieldOf(h, "qcount"); err != nil {
		return
	}
	c, err = fieldOf(h, "dataqsiz")
	return
}
