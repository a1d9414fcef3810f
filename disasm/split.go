package disasm

import "github.com/taijidbg/taiji/arch"

// checkAfterLoad returns the body's entry for a stack check whose load of
// g.stackguard is insts[i]: the check's branch is the first conditional
// branch after it.
func checkAfterLoad(insts []Inst, i int) (uint64, bool) {
	for k := i + 1; k < len(insts) && k < i+prologueWindow; k++ {
		if insts[k].Kind == CondJump {
			return checkBranchEntry(insts, k)
		}
	}
	return 0, false
}

// checkBranchEntry returns the entry of the function body after the
// stack-bound check whose conditional branch is insts[k]. The branch leads
// either to the morestack call (cmd/internal/obj/x86, arm64 and s390x put
// that call at the function's end and fall through into the body) or over
// it (ppc64 and riscv64 since Go 1.21 and earlier spill the argument
// registers, call morestack and jump back to the function right after the
// branch, and branch forward into the body): the entry is whichever
// successor is not the morestack block. That block is recognised by what it
// does, not by where it is: it calls, then jumps back to the function's
// first instruction before any other control transfer.
func checkBranchEntry(insts []Inst, k int) (uint64, bool) {
	br := insts[k]
	if br.Kind != CondJump || br.Target <= br.Addr || k+1 >= len(insts) {
		return 0, false
	}
	if isMorestackBlock(insts, k+1) {
		for _, in := range insts[k+1:] {
			if in.Addr == br.Target {
				return br.Target, true
			}
		}
		return 0, false // the branch does not land on an instruction
	}
	return insts[k+1].Addr, true
}

// isMorestackBlock reports whether the straight-line code at insts[i]
// calls a function and then jumps back to the function's first
// instruction, as the morestack path of a Go prologue does.
func isMorestackBlock(insts []Inst, i int) bool {
	called := false
	for ; i < len(insts); i++ {
		switch in := insts[i]; in.Kind {
		case Call:
			called = true
		case Jump:
			return called && in.Target == insts[0].Addr
		case Ret, CondJump:
			return false
		}
	}
	return false
}

// GoStackCheckBranch returns the address of the conditional branch of the
// stack-bound check that starts a Go function (see GoStackCheckEnd): the
// instruction that decides between the body and the morestack call. ok is
// false for functions without a check.
func GoStackCheckBranch(a *arch.Arch, insts []Inst) (addr uint64, ok bool) {
	end, ok := GoStackCheckEnd(a, insts)
	if !ok {
		return 0, false
	}
	for k, in := range insts {
		if in.Addr >= end {
			break
		}
		if in.Kind == CondJump && (in.Target == end || k+1 < len(insts) && insts[k+1].Addr == end) {
			return in.Addr, true
		}
	}
	return 0, false
}
