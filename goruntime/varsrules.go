package goruntime

// varRule says how to find one runtime variable in a binary without a
// symbol table: the Go linker puts it in Section (.bss holds variables
// with pointers, .noptrbss those without, .data initialised ones with
// pointers), and each of Witnesses, runtime functions present in every
// release from go1.19 to go1.27 (read in each release's runtime/proc.go and
// traceback.go), names it in its code. The witnesses together must name
// exactly one address there.
type varRule struct {
	Symbol    string // the ELF symbol, where there is a symbol table
	Section   string
	Slice     bool // a slice header: its len and cap words are named too
	Witnesses []witness
	field     func(*Vars) *uint64
}

// witness is a runtime function that names a variable, with the callees
// the compiler may leave out of line (their code counts as its own), and
// how: Kind is the uses of which the code must show one (0: any).
type witness struct {
	Funcs []string
	Kind  refKind
}

func (r *varRule) funcs() []string {
	var out []string
	for _, w := range r.Witnesses {
		out = append(out, w.Funcs...)
	}
	return out
}

// varRules, allgs first (the one FindVars cannot do without).
var varRules = []varRule{
	{
		// allgadd appends to allgs (loads ptr, len, cap); forEachG ranges
		// over it (loads ptr and len). Both also take &allglock (in
		// .noptrbss, and only its address).
		Symbol: "runtime.allgs", Section: ".bss", Slice: true,
		Witnesses: []witness{{[]string{"runtime.allgadd"}, refLoad}, {[]string{"runtime.forEachG"}, refLoad}},
		field:     func(v *Vars) *uint64 { return &v.Allgs },
	},
	{
		// allgadd stores len(allgs) there atomically; forEachGRace
		// loads it with allgptr, which is in .bss, through atomicAllG
		// (inlined but on 386).
		Symbol: "runtime.allglen", Section: ".noptrbss",
		Witnesses: []witness{{[]string{"runtime.allgadd"}, 0}, {[]string{"runtime.forEachGRace", "runtime.atomicAllG"}, 0}},
		field:     func(v *Vars) *uint64 { return &v.Allglen },
	},
	{
		// mcommoninit loads allm (mp.alllink = allm) before publishing mp
		// there; mexit walks the list from &allm. Both take &sched.lock,
		// in .bss too, but mcommoninit never loads from it.
		Symbol: "runtime.allm", Section: ".bss",
		Witnesses: []witness{{[]string{"runtime.mcommoninit"}, refLoad}, {[]string{"runtime.mexit"}, 0}},
		field:     func(v *Vars) *uint64 { return &v.Allm },
	},
	{
		// waitReason.String indexes it; goroutineheader (String inlined)
		// also indexes gStatusStrings, which String does not.
		Symbol: "runtime.waitReasonStrings", Section: ".data",
		Witnesses: []witness{{[]string{"runtime.waitReason.String"}, 0}, {[]string{"runtime.goroutineheader"}, 0}},
		field:     func(v *Vars) *uint64 { return &v.WaitReasonStrings },
	},
}
