package module

import (
	"debug/elf"
	"encoding/binary"
	"sort"
)

// pltSymbols names the PLT stubs of a module "name@plt", as gdb and objdump
// do (bfd's elf_*_get_synthetic_symtab): each stub loads its target from a
// GOT slot, and the dynamic relocation of that slot (JUMP_SLOT in .rela.plt,
// GLOB_DAT in .rela.dyn) names the symbol. Matching by GOT slot rather than
// by position holds for lazy and -z now layouts alike, and leaves unnamed
// what is no stub (PLT0, the lazy .plt entries behind x86's .plt.sec).
// Without these a PC in a stub takes the name of whatever symbol precedes
// the section (_init+48). Machines without a pltArch get none.
func pltSymbols(f *elf.File) []pltSym {
	pa, ok := pltArches[f.Machine]
	if !ok || f.Class != elf.ELFCLASS64 {
		return nil
	}
	dyn, err := f.DynamicSymbols()
	if err != nil {
		return nil
	}
	slots := make(map[uint64]string)
	for _, s := range f.Sections {
		if s.Type != elf.SHT_RELA || s.Flags&elf.SHF_ALLOC == 0 {
			continue
		}
		d, err := s.Data()
		if err != nil {
			continue
		}
		for ; len(d) >= 24; d = d[24:] {
			off := f.ByteOrder.Uint64(d)
			info := f.ByteOrder.Uint64(d[8:])
			typ, si := uint32(info), info>>32
			if typ != pa.jumpSlot && typ != pa.globDat {
				continue
			}
			if si == 0 || si > uint64(len(dyn)) || dyn[si-1].Name == "" {
				continue
			}
			slots[off] = dyn[si-1].Name
		}
	}
	if len(slots) == 0 {
		return nil
	}
	var out []pltSym
	for _, s := range f.Sections {
		if (s.Name != ".plt" && s.Name != ".plt.sec" && s.Name != ".plt.got") || s.Type != elf.SHT_PROGBITS {
			continue
		}
		code, err := s.Data()
		if err != nil {
			continue
		}
		stubs := pa.stubs(code, s.Addr, s.Entsize)
		sort.Slice(stubs, func(i, j int) bool { return stubs[i].start < stubs[j].start })
		for i, st := range stubs {
			name, ok := slots[st.slot]
			if !ok {
				continue
			}
			// A stub ends where the next begins.
			end := s.Addr + uint64(len(code))
			if i+1 < len(stubs) {
				end = stubs[i+1].start
			}
			if st.size > 0 && st.start+st.size < end {
				end = st.start + st.size
			}
			out = append(out, pltSym{start: st.start, size: end - st.start, name: name + "@plt"})
		}
	}
	return out
}

// pltSym is the symbol made up for one stub.
type pltSym struct {
	start, size uint64
	name        string
}

// pltStub is a stub at start that jumps through the GOT slot at slot.
type pltStub struct {
	start, size, slot uint64
}

// pltArch is how one machine's PLT stubs look.
type pltArch struct {
	jumpSlot, globDat uint32 // relocation types naming GOT slots
	// stubs finds the stubs in a PLT section's code at addr; entsize is
	// the section's sh_entsize (0 if unset).
	stubs func(code []byte, addr, entsize uint64) []pltStub
}

var pltArches = map[elf.Machine]pltArch{
	elf.EM_X86_64:  {uint32(elf.R_X86_64_JMP_SLOT), uint32(elf.R_X86_64_GLOB_DAT), x86Stubs},
	elf.EM_AARCH64: {uint32(elf.R_AARCH64_JUMP_SLOT), uint32(elf.R_AARCH64_GLOB_DAT), arm64Stubs},
}

// x86Stubs: every entry of .plt, .plt.sec and .plt.got jumps with
// `jmp *disp32(%rip)` (ff 25), after endbr64 and a bnd prefix where present.
func x86Stubs(code []byte, addr, size uint64) []pltStub {
	if size == 0 || size > 64 {
		size = 16
	}
	var out []pltStub
	for start := uint64(0); start+size <= uint64(len(code)); start += size {
		e := code[start : start+size]
		for i := 0; i+6 <= len(e); i++ {
			if e[i] == 0xff && e[i+1] == 0x25 {
				disp := int32(binary.LittleEndian.Uint32(e[i+2:]))
				slot := addr + start + uint64(i) + 6 + uint64(int64(disp))
				out = append(out, pltStub{start: addr + start, size: size, slot: slot})
				break
			}
		}
	}
	return out
}

// arm64Stubs: a stub is `adrp x16, page; ldr x17, [x16, #off]; add x16,
// x16, #off; br x17`, after a `bti c` where BTI is on (ld's
// elfNN_aarch64_plt_entry): the slot is page + off.
func arm64Stubs(code []byte, addr, _ uint64) []pltStub {
	const (
		adrpX16 = 0x90000010 // adrp x16, with immlo/immhi clear
		ldrX17  = 0xf9400211 // ldr x17, [x16, #imm12*8]
		btiC    = 0xd503245f
	)
	var out []pltStub
	for i := 0; i+8 <= len(code); i += 4 {
		w0 := binary.LittleEndian.Uint32(code[i:])
		w1 := binary.LittleEndian.Uint32(code[i+4:])
		if w0&0x9f00001f != adrpX16 || w1&0xffc003ff != ldrX17 {
			continue
		}
		imm := int64(w0>>29&3|(w0>>5&0x7ffff)<<2) << 43 >> 43 // 21 bits, signed
		pc := addr + uint64(i)
		slot := pc&^0xfff + uint64(imm<<12) + uint64(w1>>10&0xfff)*8
		start := pc
		if i >= 4 && binary.LittleEndian.Uint32(code[i-4:]) == btiC {
			start -= 4
		}
		out = append(out, pltStub{start: start, slot: slot})
	}
	return out
}
