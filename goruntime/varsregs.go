package goruntime

// regRefs is what the fixed-width scanners share: the addresses known to
// be in general registers (0: unknown) since the instruction that
// materialised them, and the references found so far. Register 0 is the
// zero register on riscv64, loong64 and mips and is never set.
type regRefs struct {
	reg  [32]uint64
	refs []ref
	// imm holds small constants loaded into registers (LI) for a
	// compare-and-branch after them; 0: none.
	imm [32]uint64
}

func (r *regRefs) known(n int) bool { return n > 0 && n < len(r.reg) && r.reg[n] != 0 }

func (r *regRefs) set(n int, v uint64) {
	if n > 0 && n < len(r.reg) {
		r.reg[n], r.imm[n] = v, 0
	}
}

// setImm records that register n holds the constant v.
func (r *regRefs) setImm(n int, v uint64) {
	if n > 0 && n < len(r.reg) {
		r.reg[n], r.imm[n] = 0, v
	}
}

// branch records the constants a compare-and-branch of registers a and b
// checks, then forgets every register.
func (r *regRefs) branch(pc uint64, a, b int) {
	for _, n := range []int{a, b} {
		if n > 0 && n < len(r.imm) && r.imm[n] != 0 {
			r.add(pc, r.imm[n], refBound)
		}
	}
	r.forgetAll()
}

func (r *regRefs) forgetAll() { r.reg, r.imm = [32]uint64{}, [32]uint64{} }

// add records a reference and returns its address.
func (r *regRefs) add(pc, addr uint64, k refKind) uint64 {
	r.refs = append(r.refs, ref{PC: pc, Addr: addr, Kind: k})
	return addr
}
