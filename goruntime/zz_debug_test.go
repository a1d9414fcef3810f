package goruntime

import (
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/taijidbg/taiji/pclntab"
)

func TestDebugRefs(t *testing.T) {
	bins, _ := filepath.Glob(os.Getenv("DBG_BINS"))
	fns := strings.Split(os.Getenv("DBG_FUNCS"), ",")
	for _, b := range bins {
		f, err := elf.Open(b)
		if err != nil {
			t.Fatal(err)
		}
		tab, err := pclntab.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		syms, _ := f.Symbols()
		sort.Slice(syms, func(i, j int) bool { return syms[i].Value < syms[j].Value })
		name := func(a uint64) string {
			i := sort.Search(len(syms), func(i int) bool { return syms[i].Value > a }) - 1
			if i < 0 {
				return "?"
			}
			s := syms[i]
			if a-s.Value > 0x10000 {
				return "?"
			}
			return fmt.Sprintf("%s+%d", s.Name, a-s.Value)
		}
		scan := refScanners[f.Machine][f.Class]
		for _, fn := range fns {
			refs, ok := funcRefs(f, tab, scan, fn)
			fmt.Printf("== %s %s ok=%v\n", filepath.Base(b), fn, ok)
			seen := map[string]refKind{}
			var order []string
			for _, r := range refs {
				sec := dataSection(f, r.Addr)
				if sec == "" {
					continue
				}
				k := sec + " " + name(r.Addr)
				if _, ok := seen[k]; !ok {
					order = append(order, k)
				}
				seen[k] |= r.Kind
			}
			for _, k := range order {
				fmt.Printf("   %-60s %03b\n", k, seen[k])
			}
		}
	}
}
