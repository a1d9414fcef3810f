package goabi

import (
	"debug/dwarf"
	"debug/elf"
	"strings"
	"testing"

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/internal/testprog"
)

// dwarfSigs writes the signatures of a real binary's main.* functions in
// --sig syntax, from their DWARF: the fuzz seeds and a round-trip check.
func dwarfSigs(t testing.TB) []string {
	bin := testprog.BuildTraceTarget(t)
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := f.DWARF()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	r := d.Reader()
	for {
		e, err := r.Next()
		if err != nil || e == nil {
			break
		}
		name, _ := e.Val(dwarf.AttrName).(string)
		if e.Tag != dwarf.TagSubprogram || !strings.HasPrefix(name, "main.") || !e.Children {
			continue
		}
		var args, res []string
		for {
			c, err := r.Next()
			if err != nil || c == nil || c.Tag == 0 {
				break
			}
			if c.Tag != dwarf.TagFormalParameter {
				if c.Children {
					r.SkipChildren()
				}
				continue
			}
			off, _ := c.Val(dwarf.AttrType).(dwarf.Offset)
			typ, err := FromDWARF(d, off, 8)
			if err != nil {
				continue
			}
			pn, _ := c.Val(dwarf.AttrName).(string)
			p := typ.Name
			if !strings.HasPrefix(pn, "~") {
				p = pn + " " + typ.Name
			}
			if isRes, _ := c.Val(dwarf.AttrVarParam).(bool); isRes {
				res = append(res, p)
			} else {
				args = append(args, p)
			}
		}
		out = append(out, name+"("+strings.Join(args, ", ")+") ("+strings.Join(res, ", ")+")")
	}
	if len(out) < 5 {
		t.Fatalf("only %d main.* functions in the DWARF of %s", len(out), bin)
	}
	return out
}

// TestParseSigFromDWARF parses the DWARF-derived signature of main.Mix
// and checks it assigns the registers the ABI gives it.
func TestParseSigFromDWARF(t *testing.T) {
	for _, s := range dwarfSigs(t) {
		if !strings.HasPrefix(s, "main.Mix(") {
			continue
		}
		sig, err := ParseSig(s, 8)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		args, _, err := Assign(arch.AMD64, ABIInternal, sig.Args, sig.Results)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, l := range args {
			got = append(got, Describe(arch.AMD64, l))
		}
		if strings.Join(got, " ") != "rax rbx rcx rdi+rsi r8+r9+r10" {
			t.Fatalf("%s: %v", s, got)
		}
		return
	}
	t.Fatal("no main.Mix")
}
