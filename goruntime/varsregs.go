package goruntime

// regRefs is what the fixed-width scanners share: the addresses known to
// be in general registers (0: unknown) since the instruction that
// materialised them, and the references found so far. Register 0 is the
// zero register on riscv64, loong64 and mips and is never set.
type regRefs struct {
	reg  [32]uint64
	refs []ref
}

func (r *regRefs) known(n int) bool { return n > 0 && n < len(r.reg) && r.reg[n] != 0 }

func (r *regRefs) set(n int, v uint64) {
	if n > 0 && n < len(r.reg) {
		r.reg[n] = v
	}
}

func (r *regRefs) forgetAll() { r.reg = [32]uint64{} }

// add records a reference and returns its address.
func (r *regRefs) add(pc, addr uint64, k refKind) uint64 {
	r.refs = append(r.refs, ref{PC: pc, Addr: addr, Kind: k})
	return addr
}
