package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/taijidbg/taiji/internal/testprog"
)

// containerSrc passes maps and chans whose element counts it knows.
const containerSrc = `package main

import "fmt"

//go:noinline
func f(m map[string]int, c chan int, none map[int]int) int { return len(m) + len(c) }

func main() {
	c := make(chan int, 5)
	c <- 1
	c <- 2
	fmt.Println(f(map[string]int{"a": 1, "b": 2, "c": 3}, c, nil))
}
`

// TestTraceMapChan: a map or chan argument shows as its pointer and element
// count on every Go release, swiss-table maps (go1.24+) included, not as
// the runtime's map header (which go1.26's DWARF describes).
func TestTraceMapChan(t *testing.T) {
	needRoot(t)
	want := regexp.MustCompile(`main\.f\(m=0x[0-9a-f]+\{len=3\}, c=0x[0-9a-f]+\{len=2\}, none=nil\)`)
	for _, tc := range testprog.Toolchains(t) {
		t.Run(tc.Version, func(t *testing.T) {
			bin := testprog.BuildGoSource(t, tc, "containers", []byte(containerSrc), testprog.GoModes[0])[testprog.GoModes[0].Name]
			stdout, stderr, err := runTaiji(t, "trace", "main.f", "--", bin)
			if err != nil || !want.MatchString(stdout) {
				t.Errorf("trace main.f: %v\nstdout:\n%s\nstderr:\n%s\nwant a line matching %s", err, stdout, strings.TrimSpace(stderr), want)
			}
		})
	}
}
