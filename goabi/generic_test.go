package goabi

import (
	"reflect"
	"testing"
)

func TestWithDict(t *testing.T) {
	ptr := int64(8)
	p := func(names ...string) []Param {
		var ps []Param
		for _, n := range names {
			ps = append(ps, Param{Name: n, Type: Builtin("int", ptr)})
		}
		return ps
	}
	names := func(ps []Param) []string {
		var s []string
		for _, p := range ps {
			s = append(s, p.Name)
		}
		return s
	}
	for _, c := range []struct {
		fn, goVersion string
		args, want    []string
	}{
		{"main.F[go.shape.int]", "go1.26.0", []string{"v"}, []string{".dict", "v"}},
		{"main.F[go.shape.int_0]", "go1.19.8", []string{"v"}, []string{".dict", "v"}},
		{"main.F[...]", "go1.19.8", []string{"v"}, []string{".dict", "v"}}, // go1.19's pclntab name
		{"main.(*Box[go.shape.string]).Get", "go1.22.2", []string{"b", "x"}, []string{"b", ".dict", "x"}},
		{"main.Box[go.shape.int].Val", "go1.27.3 X:foo", []string{"b", "x"}, []string{"b", ".dict", "x"}},
		{"main.Box[go.shape.int].Val", "", []string{"b", "x"}, []string{"b", ".dict", "x"}},
		{"main.(*Box[go.shape.string_0]).Get", "go1.19.8", []string{"b", "x"}, []string{".dict", "b", "x"}},
		{"example.com/a/b.(*T[go.shape.*example.com/c.U]).M", "go1.21.0", []string{"t"}, []string{"t", ".dict"}},
		// Already listed (DWARF of -N -l builds), not shaped, closures.
		{"main.F[go.shape.int]", "go1.26.0", []string{".dict", "v"}, []string{".dict", "v"}},
		{"main.F", "go1.26.0", []string{"v"}, []string{"v"}},
		{"main.G[go.shape.int].func1", "go1.26.0", []string{"x"}, []string{"x"}},
		{"main.Box[go.shape.int].Val-fm", "go1.26.0", []string{"x"}, []string{"x"}},
		{"main.(*T).M", "go1.26.0", []string{"t"}, []string{"t"}},
	} {
		got := names(WithDict(c.fn, p(c.args...), c.goVersion, ptr))
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("WithDict(%s, %v, %s) = %v, want %v", c.fn, c.args, c.goVersion, got, c.want)
		}
	}
}

func TestFuncComponents(t *testing.T) {
	for name, want := range map[string][]string{
		"main.main.func1":                       {"main", "func1"},
		"net/http.(*conn).serve":                {"(*conn)", "serve"},
		"a/b%2ec.(*T[go.shape.*x/y.Z]).M.func2": {"(*T[go.shape.*x/y.Z])", "M", "func2"},
		"main":                                  nil,
	} {
		if got := funcComponents(name); !reflect.DeepEqual(got, want) {
			t.Errorf("funcComponents(%q) = %q, want %q", name, got, want)
		}
	}
}
