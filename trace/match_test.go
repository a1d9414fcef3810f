package trace

import "testing"

func TestMatchFunc(t *testing.T) {
	for _, c := range []struct {
		pattern, name string
		want          bool
	}{
		{"main.main.func*", "main.main.func1", true},
		{"main.*func1", "main.main.func1", true},
		{"main.*", "main.main.func2.1", true},
		{"main.(*T).M", "main.(*T).M", true},
		{"main.(*T).M", "main.(xT).M", false}, // (* is a pointer receiver, not a glob
		{"main.(*T).*", "main.(*T).Close", true},
		{"main.*.M", "main.(*T).M", true},
		{"main.F", "main.F[go.shape.int]", true},
		{"main.F[...]", "main.F[go.shape.string_0]", true},
		{"main.F[*]", "main.F[go.shape.int]", true},
		{"main.F[go.shape.int]", "main.F[go.shape.int]", true},
		{"main.F", "main.Fx[go.shape.int]", false},
		{"main.(*Box).Get", "main.(*Box[go.shape.string]).Get", true},
		{"main.(*Box[...]).*", "main.(*Box[go.shape.string]).Get", true},
		{"main.Box.Val", "main.Box[go.shape.int].Val", true},
		{"main.Pa?r", "main.Pair[go.shape.string,go.shape.int]", true},
		// What the compiler makes, not the programmer, only when named.
		{"main.*", "main.(*T).M-fm", false},
		{"main.*-fm", "main.(*T).M-fm", true},
		{"main.*", "main.main.gowrap1", false},
		{"main.main.gowrap*", "main.main.gowrap1", true},
		{"main.*", "main.main.deferwrap1", false},
		{"*", "type:.eq.main.T", false},
		{"main.*", "main..dict.F[int]", false},
		{"main.main.gowrap1", "main.main.gowrap1", true},
	} {
		if got := matchFunc(c.pattern, c.name); got != c.want {
			t.Errorf("matchFunc(%q, %q) = %v, want %v", c.pattern, c.name, got, c.want)
		}
	}
}
