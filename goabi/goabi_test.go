package goabi

import (
	"reflect"
	"testing"

	"github.com/taijidbg/taiji/arch"
)

func TestAssignMixAMD64(t *testing.T) {
	sig, err := ParseSig("main.Many(a, b, c, d, e, f, g, h, i, j, k int64, arr [3]int32, tail string) (int64, [2]int64)", 8)
	if err != nil {
		t.Fatal(err)
	}
	args, res, err := Assign(arch.AMD64, ABIInternal, sig.Args, sig.Results)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range append(args, res...) {
		got = append(got, Describe(arch.AMD64, l))
	}
	// Nine integer registers, then the stack in order with alignment;
	// results restart at RAX and continue the stack after a pointer-aligned gap.
	want := []string{"rax", "rbx", "rcx", "rdi", "rsi", "r8", "r9", "r10", "r11",
		"8(SP)", "16(SP)", "24(SP)", "40(SP)", "rax", "56(SP)"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
}

func TestParseSig(t *testing.T) {
	sig, err := ParseSig("net/http.(*conn).serve(a int64, b uint8, ok bool, s string, bs []byte, m map[string]int, e error) (int64, string)", 8)
	if err != nil {
		t.Fatal(err)
	}
	if sig.Func != "net/http.(*conn).serve" || len(sig.Args) != 7 || len(sig.Results) != 2 || sig.Results[1].Name != "~r1" {
		t.Fatalf("%+v", sig)
	}
	for _, bad := range []string{"", "f(", "f(a int64", "f(a nosuch)", "f() (", "f(a [x]int)"} {
		if _, err := ParseSig(bad, 8); err == nil {
			t.Errorf("ParseSig(%q) succeeded", bad)
		}
	}
}

func FuzzParseSig(f *testing.F) {
	for _, s := range []string{
		"main.Mix(a int64, b uint8, ok bool, s string, bs []byte) (int64, string)",
		"net/http.(*conn).serve(ctx any)", "f(a, b int) error", "f([4]*[]map[int]chan string) (x int, y error)",
		"main.F[go.shape.int](v int) int", "main.(*Box[go.shape.string]).Get(b unsafe.Pointer, x int) string",
	} {
		f.Add(s)
	}
	for _, s := range dwarfSigs(f) { // a real binary's signatures
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sig, err := ParseSig(s, 8)
		if err != nil {
			return
		}
		if _, _, err := Assign(arch.AMD64, ABIInternal, sig.Args, sig.Results); err != nil {
			t.Fatalf("%q parsed but does not assign: %v", s, err)
		}
	})
}
