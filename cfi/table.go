package cfi

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/taijidbg/taiji/arch"
)

// Section names used in errors.
const (
	secEHFrame    = ".eh_frame"
	secEHFrameHdr = ".eh_frame_hdr"
	secDebugFrame = ".debug_frame"
)

// maxCIECache bounds the CIE cache: a corrupt table whose FDEs point at
// ever-different "CIEs" must not grow it without limit.
const maxCIECache = 1 << 16

// Table indexes one module's CFI section. Addresses are link-time addresses
// (the unwinder subtracts the load bias). A Table is safe for concurrent use.
type Table struct {
	sec   string
	data  []byte
	addr  uint64 // link address of data[0] (.eh_frame only)
	eh    bool
	a     *arch.Arch
	order binary.ByteOrder
	text  uint64 // base for DW_EH_PE_textrel
	dbase uint64 // base for DW_EH_PE_datarel

	// The .eh_frame_hdr binary-search table, if usable.
	hdr      []byte
	hdrAddr  uint64
	tableEnc uint8
	tableOff int
	count    int
	entSize  int

	// Without a search table: every FDE, sorted by start address.
	index []fdeEntry

	mu   sync.Mutex
	cies map[int]*cie
}

type fdeEntry struct {
	start, end uint64
	off        int
}

// cie is a parsed Common Information Entry.
type cie struct {
	version   uint8
	codeAlign uint64
	dataAlign int64
	ra        int
	fdeEnc    uint8 // 'R': encoding of FDE addresses (.eh_frame)
	hasZ      bool  // 'z': FDEs carry an augmentation-data length
	signal    bool  // 'S'
	bkey      bool  // 'B'
	addrSize  int   // target address size (.debug_frame)
	segSize   int   // segment selector size (.debug_frame v4)
	insOff    int   // initial instructions [insOff, insEnd) in the section
	insEnd    int
	init      state // rules after the initial instructions
}

// fde is a parsed Frame Description Entry.
type fde struct {
	cie        *cie
	start, end uint64
	insOff     int
	insEnd     int
}

// ParseEHFrame indexes an .eh_frame section whose contents ehFrame are
// loaded at link address ehAddr. hdr, the contents of .eh_frame_hdr at link
// address hdrAddr, may be nil: then every FDE is parsed once into a sorted
// table. With a hdr, lookups binary-search its table and parse only the FDE
// they need.
func ParseEHFrame(ehFrame []byte, ehAddr uint64, hdr []byte, hdrAddr uint64, a *arch.Arch) (*Table, error) {
	if a == nil {
		return nil, errors.New("cfi: ParseEHFrame needs an architecture")
	}
	t := &Table{sec: secEHFrame, data: ehFrame, addr: ehAddr, eh: true, a: a,
		order: a.ByteOrder, cies: make(map[int]*cie)}
	if hdr != nil {
		ok, err := t.parseHdr(hdr, hdrAddr)
		if err != nil {
			return nil, err
		}
		if ok {
			return t, nil
		}
		// No searchable table in the header (omitted, or variable-length
		// entries): fall back to indexing the section.
	}
	if err := t.buildIndex(); err != nil {
		return nil, err
	}
	return t, nil
}

// ParseDebugFrame indexes a .debug_frame section. Its addresses are
// absolute, its CIE id is 0xffffffff (0xffffffffffffffff in 64-bit DWARF),
// and FDEs name their CIE by section offset.
func ParseDebugFrame(debugFrame []byte, a *arch.Arch) (*Table, error) {
	if a == nil {
		return nil, errors.New("cfi: ParseDebugFrame needs an architecture")
	}
	t := &Table{sec: secDebugFrame, data: debugFrame, a: a, order: a.ByteOrder,
		cies: make(map[int]*cie)}
	if err := t.buildIndex(); err != nil {
		return nil, err
	}
	return t, nil
}

// SetBases sets the base addresses for the DW_EH_PE_textrel and
// DW_EH_PE_datarel pointer encodings. No Linux target GCC or LLVM supports
// emits them in .eh_frame; call SetBases before the first Lookup if one does.
func (t *Table) SetBases(text, data uint64) {
	t.text, t.dbase = text, data
}

func (t *Table) bases(fn uint64) ptrBases {
	return ptrBases{secAddr: t.addr, text: t.text, data: t.dbase, fn: fn, ptrSize: t.a.PtrSize}
}

// parseHdr reads the .eh_frame_hdr header. It reports whether the header
// has a binary-search table this package can use.
func (t *Table) parseHdr(hdr []byte, hdrAddr uint64) (bool, error) {
	b := newBuf(secEHFrameHdr, hdr, 0, len(hdr), t.order)
	version := b.u8()
	ptrEnc := b.u8()
	countEnc := b.u8()
	tableEnc := b.u8()
	if b.err != nil {
		return false, b.err
	}
	if version != 1 {
		return false, &FormatError{Section: secEHFrameHdr, Offset: 0, Msg: fmt.Sprintf("unsupported version %d", version)}
	}
	bases := ptrBases{secAddr: hdrAddr, text: t.text, data: hdrAddr, ptrSize: t.a.PtrSize}
	if ptrEnc&peIndirect != 0 && ptrEnc != peOmit {
		return false, &FormatError{Section: secEHFrameHdr, Offset: 1, Msg: "indirect eh_frame_ptr encoding"}
	}
	b.ptr(ptrEnc, &bases) // eh_frame_ptr: the caller already told us where .eh_frame is
	if countEnc == peOmit || tableEnc == peOmit {
		return false, b.err
	}
	if countEnc&peIndirect != 0 {
		return false, &FormatError{Section: secEHFrameHdr, Offset: 2, Msg: "indirect fde_count encoding"}
	}
	count, _ := b.ptr(countEnc, &bases)
	if b.err != nil {
		return false, b.err
	}
	size := encSize(tableEnc, t.a.PtrSize)
	if size == 0 || tableEnc&peIndirect != 0 || tableEnc&0x70 == peAligned {
		return false, nil
	}
	avail := uint64(len(hdr) - b.off)
	if count > avail/uint64(2*size) {
		return false, &FormatError{Section: secEHFrameHdr, Offset: int64(b.off), Msg: fmt.Sprintf("table of %d entries does not fit in %d bytes", count, avail)}

	}
	t.hdr, t.hdrAddr, t.tableEnc = hdr, hdrAddr, tableEnc
	t.tableOff, t.count, t.entSize = b.off, int(count), 2*size
	return true, nil
}

// hdrEntry decodes entry i of the search table: an FDE's initial location
// and its address.
func (t *Table) hdrEntry(i int) (start, fdeAddr uint64, err error) {
	off := t.tableOff + i*t.entSize
	b := newBuf(secEHFrameHdr, t.hdr, off, off+t.entSize, t.order)
	bases := ptrBases{secAddr: t.hdrAddr, text: t.text, data: t.hdrAddr, ptrSize: t.a.PtrSize}
	start, _ = b.ptr(t.tableEnc, &bases)
	fdeAddr, _ = b.ptr(t.tableEnc, &bases)
	if b.err != nil {
		return 0, 0, b.err
	}
	return start, fdeAddr, nil
}

// entry describes the record at off: its content range and CIE id/pointer.
type entry struct {
	off      int // start of the length field
	idOff    int // offset of the CIE id / CIE pointer field
	body     int // first byte after the id field
	end      int // end of the record
	id       uint64
	dwarf64  bool
	isCIE    bool
	isZeroTm bool // the zero terminator
}

// readEntry reads the header of the record at off.
func (t *Table) readEntry(off int) (entry, error) {
	b := newBuf(t.sec, t.data, off, len(t.data), t.order)
	e := entry{off: off}
	length := uint64(b.u32())
	if length == 0xffffffff {
		e.dwarf64 = true
		length = b.u64()
	} else if length >= 0xfffffff0 {
		b.error(fmt.Sprintf("reserved initial length %#x", length))
	}
	if b.err != nil {
		return e, b.err
	}
	if length == 0 {
		e.isZeroTm = true
		e.end = b.off
		return e, nil
	}
	if length > uint64(len(t.data)-b.off) {
		return e, &FormatError{Section: t.sec, Offset: int64(off), Msg: fmt.Sprintf("length %#x extends past end of section", length)}
	}
	e.end = b.off + int(length)
	b.end = e.end
	e.idOff = b.off
	if e.dwarf64 {
		e.id = b.u64()
	} else {
		e.id = uint64(b.u32())
	}
	if b.err != nil {
		return e, b.err
	}
	e.body = b.off
	if t.eh {
		e.isCIE = e.id == 0
	} else {
		e.isCIE = e.id == 0xffffffff || (e.dwarf64 && e.id == ^uint64(0))
	}
	return e, nil
}

// cieAt returns the CIE at section offset off, parsing it once.
func (t *Table) cieAt(off int, from int) (*cie, error) {
	t.mu.Lock()
	c, ok := t.cies[off]
	t.mu.Unlock()
	if ok {
		return c, nil
	}
	if off < 0 || off >= len(t.data) {
		return nil, &FormatError{Section: t.sec, Offset: int64(from), Msg: fmt.Sprintf("CIE pointer to %#x out of section", off)}
	}
	e, err := t.readEntry(off)
	if err != nil {
		return nil, err
	}
	if e.isZeroTm || !e.isCIE {
		return nil, &FormatError{Section: t.sec, Offset: int64(from), Msg: fmt.Sprintf("CIE pointer to %#x, which is not a CIE", off)}
	}
	c, err = t.parseCIE(e)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	if len(t.cies) < maxCIECache {
		t.cies[off] = c
	}
	t.mu.Unlock()
	return c, nil
}

func (t *Table) parseCIE(e entry) (*cie, error) {
	b := newBuf(t.sec, t.data, e.body, e.end, t.order)
	c := &cie{addrSize: t.a.PtrSize}
	c.version = b.u8()
	if b.err == nil && c.version != 1 && c.version != 3 && c.version != 4 {
		b.off--
		b.error(fmt.Sprintf("unsupported CIE version %d", c.version))
	}
	aug := b.cstring()
	if strings.HasPrefix(aug, "eh") {
		// GCC before 3.0: a pointer to exception-handling data follows.
		b.bytes(uint64(t.a.PtrSize))
		aug = aug[2:]
	}
	if c.version >= 4 {
		c.addrSize = int(b.u8())
		c.segSize = int(b.u8())
		if b.err == nil && (encSizeOK(c.addrSize) == false || c.segSize > 8) {
			b.error(fmt.Sprintf("unsupported address size %d / segment size %d", c.addrSize, c.segSize))
		}
	}
	c.codeAlign = b.uleb()
	c.dataAlign = b.sleb()
	if c.version == 1 {
		c.ra = int(b.u8())
	} else {
		c.ra = clampReg(b.uleb())
	}
	if t.eh {
		c.fdeEnc = peAbsptr
	}
	if strings.HasPrefix(aug, "z") {
		c.hasZ = true
		n := b.uleb()
		augEnd := b.off
		if b.err == nil {
			if n > uint64(b.end-b.off) {
				b.error("augmentation data extends past end of CIE")
			} else {
				augEnd = b.off + int(n)
			}
		}
		ab := b
		ab.end = augEnd
		bases := t.bases(0)
	loop:
		for _, ch := range aug[1:] {
			switch ch {
			case 'L':
				ab.u8() // LSDA encoding: only FDE augmentation data uses it, and 'z' lets us skip that
			case 'P':
				enc := ab.u8()
				ab.ptr(enc, &bases) // the personality routine: not needed to unwind
			case 'R':
				c.fdeEnc = ab.u8()
			case 'S':
				c.signal = true
			case 'B':
				c.bkey = true
			case 'G':
				// arm64 MTE-tagged stack frames: nothing to do for unwinding.
			default:
				// Unknown: the length prefix lets us skip the rest.
				break loop
			}
		}
		if ab.err != nil {
			return nil, ab.err
		}
		if b.err == nil {
			b.off = augEnd
		}
	} else {
		for _, ch := range aug {
			switch ch {
			case 'S':
				c.signal = true
			case 'B':
				c.bkey = true
			case 'G':
			default:
				return nil, &FormatError{Section: t.sec, Offset: int64(e.off), Msg: fmt.Sprintf("unknown augmentation %q", aug)}
			}
		}
	}
	if b.err != nil {
		return nil, b.err
	}
	if t.eh && c.fdeEnc != peOmit && c.fdeEnc&peIndirect != 0 {
		return nil, &FormatError{Section: t.sec, Offset: int64(e.off), Msg: "indirect FDE address encoding"}
	}
	c.insOff, c.insEnd = b.off, e.end
	// Run the initial instructions once; every FDE starts from their result.
	m := machine{t: t, cie: c}
	if err := m.run(c.insOff, c.insEnd, ^uint64(0), true); err != nil {
		return nil, err
	}
	c.init = m.st
	c.init.rules = append([]RegRule(nil), m.st.rules...)
	return c, nil
}

func encSizeOK(n int) bool { return n == 1 || n == 2 || n == 4 || n == 8 }

// clampReg converts a register number from the section to an int that is
// out of range for arch.Regs when the input is; it never overflows.
func clampReg(v uint64) int {
	if v > 1<<20 {
		return 1 << 20
	}
	return int(v)
}

// parseFDE parses the FDE record e.
func (t *Table) parseFDE(e entry) (fde, error) {
	var cieOff int
	if t.eh {
		// The CIE pointer counts back from the pointer field itself.
		if e.id > uint64(e.idOff) {
			return fde{}, &FormatError{Section: t.sec, Offset: int64(e.idOff), Msg: fmt.Sprintf("CIE pointer %#x before start of section", e.id)}
		}
		cieOff = e.idOff - int(e.id)
	} else {
		if e.id >= uint64(len(t.data)) {
			return fde{}, &FormatError{Section: t.sec, Offset: int64(e.idOff), Msg: fmt.Sprintf("CIE pointer %#x out of section", e.id)}
		}
		cieOff = int(e.id)
	}
	c, err := t.cieAt(cieOff, e.idOff)
	if err != nil {
		return fde{}, err
	}
	b := newBuf(t.sec, t.data, e.body, e.end, t.order)
	f := fde{cie: c}
	var length uint64
	if t.eh {
		if c.fdeEnc == peOmit {
			return fde{}, &FormatError{Section: t.sec, Offset: int64(e.off), Msg: "FDE address encoding is omit"}
		}
		bases := t.bases(0)
		f.start, _ = b.ptr(c.fdeEnc, &bases)
		// The range is a length, not an address: only the format applies.
		length = b.encValue(c.fdeEnc&0x0f, t.a.PtrSize)
	} else {
		b.bytes(uint64(c.segSize))
		f.start = b.uint(c.addrSize)
		length = b.uint(c.addrSize)
	}
	if c.hasZ {
		n := b.uleb()
		b.bytes(n) // LSDA pointer and unknown FDE augmentation
	}
	if b.err != nil {
		return fde{}, b.err
	}
	f.end = f.start + length
	if f.end < f.start {
		return fde{}, &FormatError{Section: t.sec, Offset: int64(e.off), Msg: fmt.Sprintf("FDE range %#x+%#x overflows", f.start, length)}
	}
	f.insOff, f.insEnd = b.off, e.end
	return f, nil
}

// buildIndex parses every record once and sorts the FDEs by address.
func (t *Table) buildIndex() error {
	for off := 0; off < len(t.data); {
		e, err := t.readEntry(off)
		if err != nil {
			return err
		}
		if e.isZeroTm {
			if t.eh {
				break // the terminator crtend.o appends
			}
			off = e.end
			continue
		}
		if e.isCIE {
			if _, err := t.cieAt(off, off); err != nil {
				return err
			}
		} else {
			f, err := t.parseFDE(e)
			if err != nil {
				return err
			}
			// Empty FDEs (functions the linker discarded) cover nothing.
			if f.end > f.start {
				t.index = append(t.index, fdeEntry{f.start, f.end, off})
			}
		}
		off = e.end
	}
	sort.SliceStable(t.index, func(i, j int) bool { return t.index[i].start < t.index[j].start })
	return nil
}

// findFDE returns the FDE covering pc.
func (t *Table) findFDE(pc uint64) (fde, error) {
	if t.hdr != nil {
		return t.findFDEHdr(pc)
	}
	// Greatest start <= pc; FDEs never overlap in a well-formed table, but
	// scan back over a few in case a nested one hides the one covering pc.
	i := sort.Search(len(t.index), func(i int) bool { return t.index[i].start > pc }) - 1
	for j := i; j >= 0 && j > i-4; j-- {
		ent := t.index[j]
		if pc < ent.end {
			e, err := t.readEntry(ent.off)
			if err != nil {
				return fde{}, err
			}
			return t.parseFDE(e)
		}
	}
	return fde{}, ErrNoFDE
}

func (t *Table) findFDEHdr(pc uint64) (fde, error) {
	lo, hi := 0, t.count // find the first entry with start > pc
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		start, _, err := t.hdrEntry(mid)
		if err != nil {
			return fde{}, err
		}
		if start > pc {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	if lo == 0 {
		return fde{}, ErrNoFDE
	}
	_, fdeAddr, err := t.hdrEntry(lo - 1)
	if err != nil {
		return fde{}, err
	}
	off := fdeAddr - t.addr
	if fdeAddr < t.addr || off >= uint64(len(t.data)) {
		return fde{}, &FormatError{Section: secEHFrameHdr, Offset: int64(t.tableOff + (lo-1)*t.entSize), Msg: fmt.Sprintf("FDE address %#x outside .eh_frame", fdeAddr)}

	}
	e, err := t.readEntry(int(off))
	if err != nil {
		return fde{}, err
	}
	if e.isZeroTm || e.isCIE {
		return fde{}, &FormatError{Section: secEHFrameHdr, Offset: int64(t.tableOff + (lo-1)*t.entSize), Msg: fmt.Sprintf("table entry points at %#x, which is not an FDE", fdeAddr)}

	}
	f, err := t.parseFDE(e)
	if err != nil {
		return fde{}, err
	}
	// The table gives the greatest start <= pc; the FDE may end before pc
	// (a gap between functions, or code without CFI).
	if pc < f.start || pc >= f.end {
		return fde{}, ErrNoFDE
	}
	return f, nil
}

// Lookup returns the unwind row in effect at pc (a link-time address). It
// returns an error wrapping ErrNoFDE if no FDE covers pc, and a
// *FormatError if the CFI is malformed.
func (t *Table) Lookup(pc uint64) (*Row, error) {
	f, err := t.findFDE(pc)
	if err != nil {
		return nil, err
	}
	c := f.cie
	m := machine{t: t, cie: c, loc: f.start}
	m.st = c.init
	m.st.rules = make([]RegRule, len(c.init.rules), len(c.init.rules)+8)
	copy(m.st.rules, c.init.rules)
	if err := m.run(f.insOff, f.insEnd, pc, false); err != nil {
		return nil, err
	}
	return &Row{
		Start:       f.start,
		End:         f.end,
		CFA:         m.st.cfa,
		RA:          c.ra,
		Rules:       m.st.rules,
		SignalFrame: c.signal,
		ArgsSize:    m.argsSize,
		RASigned:    m.st.raSigned,
		BKey:        c.bkey,
	}, nil
}

// Ranges calls fn with the address range of every FDE, in address order,
// until fn returns false. It parses the whole section when the table was
// built from .eh_frame_hdr.
func (t *Table) Ranges(fn func(start, end uint64) bool) error {
	if t.hdr != nil {
		for i := 0; i < t.count; i++ {
			_, fdeAddr, err := t.hdrEntry(i)
			if err != nil {
				return err
			}
			if fdeAddr < t.addr || fdeAddr-t.addr >= uint64(len(t.data)) {
				return &FormatError{Section: secEHFrameHdr, Offset: int64(t.tableOff + i*t.entSize), Msg: "FDE address outside .eh_frame"}
			}
			e, err := t.readEntry(int(fdeAddr - t.addr))
			if err != nil {
				return err
			}
			if e.isCIE || e.isZeroTm {
				return &FormatError{Section: secEHFrameHdr, Offset: int64(t.tableOff + i*t.entSize), Msg: "table entry is not an FDE"}
			}
			f, err := t.parseFDE(e)
			if err != nil {
				return err
			}
			if !fn(f.start, f.end) {
				return nil
			}
		}
		return nil
	}
	for _, e := range t.index {
		if !fn(e.start, e.end) {
			return nil
		}
	}
	return nil
}
