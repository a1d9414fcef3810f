package trace

import (
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"testing"
)

// TestBpfNoneMirrorsGenerated: bpf_none.go, which lets trace build on
// arches without an eBPF object, writes the map value types bpf2go
// generates by hand. They must stay field for field the same, or the
// other arches stop building (make vet catches that only for GOARCHes it
// vets; this names the type and field).
func TestBpfNoneMirrorsGenerated(t *testing.T) {
	fields := func(file string) map[string][]string {
		f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string][]string{}
		ast.Inspect(f, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok {
				return true
			}
			if st, ok := ts.Type.(*ast.StructType); ok {
				for _, fl := range st.Fields.List {
					for _, name := range fl.Names {
						out[ts.Name.Name] = append(out[ts.Name.Name], name.Name)
					}
				}
			}
			return true
		})
		return out
	}
	none, gen := fields("bpf_none.go"), fields("bpf_x86_bpfel.go")
	for typ, want := range none {
		got, ok := gen[typ]
		if !ok || len(got) == 0 {
			continue // not generated as such (bpfObjects embeds its parts)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: bpf_none.go has fields %v, the generated bpf_x86_bpfel.go %v", typ, want, got)
		}
	}
	if len(none) == 0 {
		t.Fatal("no struct types in bpf_none.go")
	}
}
