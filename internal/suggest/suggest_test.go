package suggest

import (
	"slices"
	"testing"
)

func TestNear(t *testing.T) {
	names := []string{"getpid", "getppid", "getgid", "gettid", "close", "dup3", "main.Mix", "main.Mixer", "main.main", "runtime.main"}
	for _, tc := range []struct {
		s    string
		want []string
	}{
		{"getpidd", []string{"getpid"}},    // a typo: the closest first
		{"dup2", []string{"dup3"}},         // arm64 has dup3 only
		{"Mix", []string{"main.Mix"}},      // a substring, any case
		{"main.mix", []string{"main.Mix"}}, // case
		{"zzzzzzzzzz", nil},                // nothing near
		{"", nil},
	} {
		got := Near(tc.s, names, 3)
		if len(tc.want) == 0 && len(got) != 0 || len(tc.want) > 0 && (len(got) == 0 || got[0] != tc.want[0]) {
			t.Errorf("Near(%q) = %q, want %q first", tc.s, got, tc.want)
		}
		if len(got) > 3 {
			t.Errorf("Near(%q) = %q: more than 3", tc.s, got)
		}
	}
	if got := Near("getpid", names, 1); !slices.Equal(got, []string{"getpid"}) {
		t.Errorf("exact name: %q", got)
	}
}
