package module

import (
	"debug/elf"
	"encoding/binary"
)

// pltSymbols names the PLT stubs of an x86-64 module "name@plt", as gdb
// and objdump do (bfd's elf_x86_64_get_synthetic_symtab): a stub in .plt,
// .plt.sec (IBT, -z ibtplt) or .plt.got jumps through a GOT slot with
// `jmp *disp32(%rip)` (ff 25, after endbr64 and a bnd prefix where
// present), and the dynamic relocation of that slot (R_X86_64_JUMP_SLOT in
// .rela.plt, R_X86_64_GLOB_DAT in .rela.dyn) names the symbol. Matching by
// GOT slot rather than by position holds for lazy and -z now layouts alike,
// and leaves unnamed what is no stub (PLT0, the lazy .plt entries behind a
// .plt.sec). Without these a PC in a stub takes the name of whatever symbol
// precedes the section (_init+48). Other machines get none yet.
func pltSymbols(f *elf.File) []sym {
	if f.Machine != elf.EM_X86_64 || f.Class != elf.ELFCLASS64 {
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
			typ, si := elf.R_X86_64(info&0xffffffff), info>>32
			if typ != elf.R_X86_64_JMP_SLOT && typ != elf.R_X86_64_GLOB_DAT {
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
	var out []sym
	for _, s := range f.Sections {
		if (s.Name != ".plt" && s.Name != ".plt.sec" && s.Name != ".plt.got") || s.Type != elf.SHT_PROGBITS {
			continue
		}
		code, err := s.Data()
		if err != nil {
			continue
		}
		size := s.Entsize
		if size == 0 || size > 64 {
			size = 16
		}
		for start := uint64(0); start+size <= uint64(len(code)); start += size {
			e := code[start : start+size]
			for i := 0; i+6 <= len(e); i++ {
				if e[i] != 0xff || e[i+1] != 0x25 {
					continue
				}
				disp := int32(binary.LittleEndian.Uint32(e[i+2:]))
				slot := s.Addr + start + uint64(i) + 6 + uint64(int64(disp))
				if name, ok := slots[slot]; ok {
					out = append(out, sym{start: s.Addr + start, size: size, name: name + "@plt"})
					break
				}
			}
		}
	}
	return out
}
