package pclntab

import (
	"encoding/binary"
	"testing"
)

// miniTable re-serializes functions [lo, hi) of a real go1.18+ table
// (little-endian, 64-bit) into a small, self-contained pclntab plus go:func
// data: a realistic fuzz seed small enough for the fuzzer to mutate. Each
// function keeps its pc-value tables and inline tree; other FUNCDATA is
// dropped.
func miniTable(t testing.TB, tab *Table, lo, hi int) (data, gofunc []byte) {
	t.Helper()
	le := binary.LittleEndian
	hdr := tab.data
	word := func(i int) uint64 { return le.Uint64(hdr[8+8*i:]) }
	cutab := hdr[word(4):word(5)]
	filetab := hdr[word(5):word(6)]

	var names []byte
	addName := func(off uint32) uint32 {
		s, ok := cstring(tab.funcnametab, uint64(off))
		if !ok {
			t.Fatalf("bad name offset %#x", off)
		}
		n := uint32(len(names))
		names = append(append(names, s...), 0)
		return n
	}
	pctab := []byte{0} // offset 0 means "no table"
	addTable := func(off uint32) uint32 {
		if off == 0 {
			return 0
		}
		p := tab.pctab[off:]
		n := 0
		for first := true; ; first = false {
			uv, k := readUvarint32(p[n:])
			if k < 0 {
				t.Fatalf("bad pc-value table at %#x", off)
			}
			n += k
			if uv == 0 && !first {
				break
			}
			_, k = readUvarint32(p[n:])
			n += k
		}
		o := uint32(len(pctab))
		pctab = append(pctab, p[:n]...)
		return o
	}

	var recs []byte
	funcOffs := make([]uint32, 0, hi-lo)
	nfunc := hi - lo
	ftabSize := uint32((2*nfunc + 1) * 4)
	for i := lo; i < hi; i++ {
		f, err := tab.funcAt(i)
		if err != nil {
			t.Fatal(err)
		}
		old := tab.funcdata[f.off:]
		size := f.fixed + 4*int(f.npcdata) + 4*int(f.nfuncdata)
		rec := append([]byte(nil), old[:size]...)
		le.PutUint32(rec[4:], addName(le.Uint32(old[4:])))
		for k := 4; k <= 6; k++ { // pcsp, pcfile, pcln
			le.PutUint32(rec[4*k:], addTable(le.Uint32(old[4*k:])))
		}
		for k := 0; k < int(f.npcdata); k++ {
			at := f.fixed + 4*k
			le.PutUint32(rec[at:], addTable(le.Uint32(old[at:])))
		}
		for k := 0; k < int(f.nfuncdata); k++ {
			at := f.fixed + 4*int(f.npcdata) + 4*k
			le.PutUint32(rec[at:], ^uint32(0))
			if k != funcdataInlTree {
				continue
			}
			off, ok := tab.funcdataOff(f, funcdataInlTree)
			if !ok {
				continue
			}
			// The tree has as many entries as the largest index used.
			n := int32(-1)
			for pc := f.Entry; pc < f.End; pc++ {
				n = max(n, tab.pcdata(f, pcdataInlTreeIndex, pc))
			}
			le.PutUint32(rec[at:], uint32(len(gofunc)))
			lay, _ := tab.inlineLayout()
			for j := 0; j <= int(n); j++ {
				e := append([]byte(nil), tab.gofunc[int(off)+lay.size*j:][:lay.size]...)
				le.PutUint32(e[lay.nameOff:], addName(le.Uint32(e[lay.nameOff:])))
				gofunc = append(gofunc, e...)
			}
		}
		funcOffs = append(funcOffs, ftabSize+uint32(len(recs)))
		recs = append(recs, rec...)
		for len(recs)%4 != 0 {
			recs = append(recs, 0)
		}
	}
	ftab := make([]byte, 0, ftabSize)
	for i := lo; i <= hi; i++ {
		ftab = le.AppendUint32(ftab, uint32(tab.pcAt(i)-tab.textStart))
		if i < hi {
			ftab = le.AppendUint32(ftab, funcOffs[i-lo])
		}
	}

	const hdrSize = 8 + 8*8
	data = append([]byte(nil), hdr[:8]...)
	offs := []uint64{uint64(nfunc), word(1), 0}
	pos := uint64(hdrSize)
	for _, b := range [][]byte{names, cutab, filetab, pctab} {
		offs = append(offs, pos)
		pos += uint64(len(b))
	}
	offs = append(offs, pos) // functab + _func records
	for _, o := range offs {
		data = le.AppendUint64(data, o)
	}
	for _, b := range [][]byte{names, cutab, filetab, pctab, ftab, recs} {
		data = append(data, b...)
	}
	return data, gofunc
}
