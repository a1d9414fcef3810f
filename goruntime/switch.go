package goruntime

// Stack switches. A Go thread runs on three kinds of stack: a goroutine's
// (m.curg), the thread's scheduling stack (m.g0, also where cgo calls run C
// code) and its signal stack (m.gsignal). A few runtime functions, written in
// assembly, move SP from one to another; their pcsp tables cannot describe
// the move (the linker flags them SPWRITE), so a plain unwinder stops there.
// Go's own traceback (runtime/traceback.go, (*unwinder).resolveInternal
// since go1.21, gentraceback before) crosses two of them from the g0 stack
// back into m.curg, and resumes a thread in the vDSO at the caller its
// vDSO-calling function saved in m; an unwinder that also shows C frames
// crosses the cgo pair as well. The rules below are that knowledge as data, by function
// name (pclntab names survive stripping; funcIDs are renumbered between
// releases).

// Resume says how an unwinder continues past a stack-switching function.
type Resume int

const (
	// ResumeEnd: the stack really ends here. mcall switches to g0 for
	// good (the goroutine it left is parked or rescheduled, its state in
	// g.sched) and gogo jumps into a goroutine; neither has a caller on
	// the stack the thread is on. Go's traceback stops at every SPWRITE
	// function that is not innermost, and so does taiji at those not below.
	ResumeEnd Resume = iota
	// ResumeCurgSP: the function called its argument on m.g0's stack and
	// will return to the goroutine: the same frame continues on m.curg's
	// stack, with SP = curg.sched.sp (saved by gosave_systemstack_switch),
	// and is unwound there as usual (systemstack).
	ResumeCurgSP
	// ResumeCurgSched: the function will never return; the goroutine it
	// runs for resumes at curg.sched (pc, sp and, on LR arches, lr): that
	// is the caller (morestack: newstack gogo's to curg.sched).
	ResumeCurgSched
	// ResumeG0SP: on the goroutine's stack, the function's caller is C
	// code on m.g0's stack: its frame there starts at g0.sched.sp, where
	// it left it before switching, with the same size (cgocallback).
	ResumeG0SP
	// ResumeSavedG: on m.g0's stack, the function ran C code for the
	// goroutine it saved in its frame (arch.GoCgoCall); that goroutine
	// resumes at its g.sched, or, when a callback (ResumeG0SP) was crossed
	// on the way, where that callback's frame on the goroutine's stack
	// returns (asmcgocall).
	ResumeSavedG
	// ResumeVDSO: the function calls into the vDSO (clock_gettime,
	// getrandom), on m.g0's stack when it was called on m.curg's (else on
	// the stack it was called on), after saving its caller's resume point
	// in m.vdsoPC (the return address into the caller) and m.vdsoSP (the
	// caller's SP, where it returns to); m.vdsoSP is 0 outside such a call.
	// The caller is the frame at (m.vdsoPC, m.vdsoSP), with its return
	// address saved in its own frame on LR arches (it is not a leaf).
	// Valid while m.vdsoSP lies on the walk's goroutine's stack: the
	// function switched SP to g0 after setting them and restores SP before
	// clearing them; a nested call (from a signal handler, on gsignal)
	// saves the outer values in its frame and sets its own.
	ResumeVDSO
)

// Switch is one stack-switching runtime function.
type Switch struct {
	Func   string // pclntab name
	Resume Resume
	// OnG0 is true when the rule applies only on m.g0's stack, with
	// m.curg set and running on this m (Go's traceback checks
	// gp == gp.m.g0 && gp.m.curg != nil && gp.m.curg.m == gp.m); false when
	// it applies on a goroutine's stack.
	OnG0 bool
	// Source names where in the Go runtime the rule comes from.
	Source string
}

// vdsoSource is where the ResumeVDSO rules come from.
const vdsoSource = "runtime/sys_linux_*.s (nanotime1, walltime, vgetrandom1, vdsoCall), runtime/time_linux_amd64.s (time.now): " +
	"\"Set vdsoPC and vdsoSP for SIGPROF traceback\"; runtime/traceback.go traceback2 and runtime/proc.go sigprof: " +
	"\"if mp.vdsoSP != 0\", u.initAt(mp.vdsoPC, mp.vdsoSP, ...)"

// switches lists the rules. Sources are the runtime's files of go1.19 to
// go1.27, which agree on these points.
var switches = map[string]Switch{
	"runtime.systemstack": {
		Func: "runtime.systemstack", Resume: ResumeCurgSP, OnG0: true,
		// traceback.go (*unwinder).resolveInternal, case
		// abi.FuncID_systemstack (gentraceback in go1.19/go1.20):
		// frame.sp = gp.m.curg.sched.sp. On LR arches a frame whose SP
		// delta is 0 has not switched yet (prologue) or is about to
		// return: it is unwound normally (see SystemstackSwitched).
		// asm_*.s systemstack: gosave_systemstack_switch saves sched.
		Source: "runtime/traceback.go resolveInternal (FuncID_systemstack); runtime/asm_*.s systemstack",
	},
	"runtime.morestack": {
		Func: "runtime.morestack", Resume: ResumeCurgSched, OnG0: true,
		// traceback.go resolveInternal, case abi.FuncID_morestack:
		// "morestack does not return normally -- newstack() gogo's to
		// curg.sched. Match that." frame.pc, frame.sp, frame.lr =
		// curg.sched.pc, .sp, .lr. asm_*.s morestack saves f's PC
		// (its return address into f's prologue) and SP in g.sched.
		Source: "runtime/traceback.go resolveInternal (FuncID_morestack); runtime/asm_*.s morestack",
	},
	"runtime.cgocallback": {
		Func: "runtime.cgocallback", Resume: ResumeG0SP, OnG0: false,
		// asm_*.s cgocallback: "Save current m->g0->sched.sp on stack
		// and then set it to SP"; then it opens "a frame the same size
		// as cgocallback's g0 frame" on curg's stack whose return PC is
		// curg.sched.pc. Go's traceback follows that return PC (and
		// shows C frames only through a cgoTraceback hook); taiji
		// continues into the C caller on g0 and returns to the
		// goroutine at asmcgocall.
		Source: "runtime/asm_*.s cgocallback; runtime/cgocall.go cgocallbackg",
	},
	"runtime.asmcgocall": {
		Func: "runtime.asmcgocall", Resume: ResumeSavedG, OnG0: true,
		// asm_*.s asmcgocall: gosave_systemstack_switch saves the
		// goroutine's state in g.sched, then the old g is saved in the
		// frame on g0 ("save g") beside the depth in its stack.
		Source: "runtime/asm_*.s asmcgocall; runtime/cgocall.go cgocall",
	},
	// The functions that call into the vDSO (go1.19 to go1.27): amd64
	// calls clock_gettime from time.now (walltime and monotonic time at
	// once) and runtime.nanotime1; arm64, 386, loong64, mips64x, ppc64x,
	// riscv64 and s390x from runtime.walltime and runtime.nanotime1; arm
	// through runtime.vdsoCall (go1.21+; walltime and nanotime1 before);
	// go1.24+ calls getrandom from runtime.vgetrandom1. Each stores the
	// same two fields the same way.
	"time.now":            {Func: "time.now", Resume: ResumeVDSO, Source: vdsoSource},
	"runtime.nanotime1":   {Func: "runtime.nanotime1", Resume: ResumeVDSO, Source: vdsoSource},
	"runtime.walltime":    {Func: "runtime.walltime", Resume: ResumeVDSO, Source: vdsoSource},
	"runtime.vgetrandom1": {Func: "runtime.vgetrandom1", Resume: ResumeVDSO, Source: vdsoSource},
	"runtime.vdsoCall":    {Func: "runtime.vdsoCall", Resume: ResumeVDSO, Source: vdsoSource},
	"runtime.mcall": {
		Func: "runtime.mcall", Resume: ResumeEnd,
		// asm_*.s mcall: "Switch to m->g0's stack, call fn(g). Fn must
		// never return." traceback.go stops at SPWRITE frames.
		Source: "runtime/asm_*.s mcall; runtime/traceback.go (FuncFlagSPWrite)",
	},
	"runtime.gogo": {
		Func: "runtime.gogo", Resume: ResumeEnd,
		Source: "runtime/asm_*.s gogo; runtime/traceback.go (FuncFlagSPWrite)",
	},
}

// SwitchAt returns the stack-switch rule of the function named name, if it
// is one of the runtime's stack-switching functions.
func SwitchAt(name string) (Switch, bool) {
	s, ok := switches[name]
	return s, ok
}

// Switches lists every rule, for documentation and tests.
func Switches() []Switch {
	out := make([]Switch, 0, len(switches))
	for _, s := range switches {
		out = append(out, s)
	}
	return out
}

// SystemstackSwitched reports whether a systemstack frame whose pcsp delta
// at its PC is spDelta has switched stacks: on LR arches a delta of 0 means
// the prologue has not run or the epilogue has (traceback.go: "We're at the
// function prologue and the stack switch hasn't happened, or epilogue where
// we're about to return"); on x86 the CALL opens the frame, so it always has.
func SystemstackSwitched(usesLR bool, spDelta int64) bool {
	return !usesLR || spDelta != 0
}
