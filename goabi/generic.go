package goabi

import (
	"go/version"
	"strings"
)

// DictName is the name the compiler gives the dictionary argument of a
// shaped (generic) function, as DWARF of unoptimized builds lists it.
const DictName = ".dict"

// Shaped reports whether the function symbol name is a shaped instance of
// a generic function or method, which takes a dictionary argument:
// main.F[go.shape.int], main.(*Box[go.shape.string]).Get, or main.F[...]
// as go1.18 and go1.19 name every instance in pclntab (the gc compiler
// makes no other instances). Closures inside them
// (main.F[go.shape.int].func1) are not: they capture the dictionary in
// their context.
func Shaped(name string) bool {
	comps := funcComponents(name)
	if len(comps) == 0 || !(strings.Contains(name, "[go.shape.") || strings.Contains(name, "[...]")) {
		return false
	}
	return !isClosure(comps[len(comps)-1])
}

// WithDict returns args with the dictionary argument of a shaped function
// inserted where cmd/compile passes it, as a pointer-sized integer (the
// dictionary is a *[N]uintptr): before the receiver and the arguments up to
// go1.19 (the old stenciler made the receiver an ordinary argument), after
// the receiver from go1.20 (unified IR keeps the receiver first; see
// shapeSig in cmd/compile/internal/noder/reader.go). goVersion is the
// binary's ("go1.22.3"; "" if unknown: taken as go1.20+). args is returned
// unchanged when name is not shaped, or when args already lists the
// dictionary (DWARF of -N -l builds does; optimized builds drop it, but
// the caller still passes it).
func WithDict(name string, args []Param, goVersion string, ptr int64) []Param {
	if !Shaped(name) {
		return args
	}
	for _, a := range args {
		if a.Name == DictName {
			return args
		}
	}
	at := 0
	v, _, _ := strings.Cut(goVersion, " ") // "go1.26.0 X:nocoverageredesign"
	v = version.Lang(v)
	if isMethod(name) && len(args) > 0 && (!version.IsValid(v) || version.Compare(v, "go1.20") >= 0) {
		at = 1
	}
	dict := Param{Name: DictName, Type: Builtin("uintptr", ptr)}
	out := append([]Param{}, args[:at]...)
	out = append(out, dict)
	return append(out, args[at:]...)
}

// isMethod reports whether the function symbol name is a method:
// pkg.T.M or pkg.(*T).M.
func isMethod(name string) bool {
	comps := funcComponents(name)
	return len(comps) >= 2 && !isClosure(comps[len(comps)-1])
}

// isClosure reports whether the last component of a symbol name is one the
// compiler makes for a function literal or a wrapper: func1, gowrap2,
// deferwrap1, or a method value's -fm.
func isClosure(c string) bool {
	if strings.HasSuffix(c, "-fm") {
		return true
	}
	for _, p := range []string{"func", "gowrap", "deferwrap"} {
		if rest, ok := strings.CutPrefix(c, p); ok && rest != "" && strings.Trim(rest, "0123456789") == "" {
			return true
		}
	}
	return false
}

// funcComponents splits a function symbol name after its package path at
// the dots outside brackets and parentheses: "a/b.(*T[x.y]).M.func1" is
// ["(*T[x.y])", "M", "func1"]. Type arguments may hold dots and slashes.
func funcComponents(name string) []string {
	depth, slash := 0, -1
	for i := 0; i < len(name); i++ {
		switch name[i] {
		case '[', '(':
			depth++
		case ']', ')':
			depth--
		case '/':
			if depth == 0 {
				slash = i
			}
		}
	}
	rest := name[slash+1:]
	var comps []string
	depth, start, pkg := 0, 0, true
	for i := 0; i <= len(rest); i++ {
		if i < len(rest) {
			switch rest[i] {
			case '[', '(':
				depth++
				continue
			case ']', ')':
				depth--
				continue
			case '.':
				if depth != 0 {
					continue
				}
			default:
				continue
			}
		}
		if pkg { // the package name itself
			pkg = false
		} else {
			comps = append(comps, rest[start:i])
		}
		start = i + 1
	}
	return comps
}
