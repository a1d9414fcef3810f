package goroutines_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/goroutines"
	"github.com/taijidbg/taiji/internal/gotraceback"
	"github.com/taijidbg/taiji/internal/testprog"
	"github.com/taijidbg/taiji/internal/xarch"
	"github.com/taijidbg/taiji/module"
	"github.com/taijidbg/taiji/proc"
	"github.com/taijidbg/taiji/target"
	"github.com/taijidbg/taiji/unwind"
)

// TestGoroutinesInVM lists the goroutines of goroutinestates (DWARF, and
// stripped: allgs found from the runtime's code) on a real kernel of
// another architecture, under scripts/xarch-test, and compares them with
// the target's own runtime.Stack, goroutine by goroutine, as
// TestGoroutinesOracle (cmd/taiji) does on the host for every Go release.
func TestGoroutinesInVM(t *testing.T) {
	goarch, ok := xarch.InVM()
	if !ok {
		t.Skip("runs in the qemu VMs of scripts/xarch-test; on the host, TestGoroutinesOracle (cmd/taiji) covers every Go release")
	}
	testprog.ReadyTimeout = 3 * time.Minute // emulated CPUs are slow
	for _, name := range []string{"goroutinestates", "goroutinestates-stripped"} {
		t.Run(name, func(t *testing.T) {
			bin, ok := xarch.Target(name)
			if !ok {
				t.Fatalf("target %s missing from the VM (xarch_targets.txt)", name)
			}
			p := testprog.StartGoroutineStates(t, bin)
			dump := p.Dump(t)
			want, err := gotraceback.Parse(dump)
			if err != nil {
				t.Fatalf("the target's own dump: %v\n%s", err, dump)
			}
			text := list(t, p.Pid)
			got, err := gotraceback.Parse(text)
			if err != nil {
				t.Fatalf("taiji's listing is not in Go's format: %v\n%s", err, text)
			}
			t.Logf("%s on %s:\n%s", name, goarch, text)
			opts := gotraceback.Options{SkipUnstable: true, Offsets: true, WaitSlack: 1}
			if diffs := gotraceback.Compare(want, got, opts); len(diffs) > 0 {
				t.Errorf("differs from the target's runtime.Stack:\n%s\n\nruntime.Stack:\n%s", strings.Join(diffs, "\n"), dump)
			}
		})
	}
}

// list is `taiji goroutines PID`: freeze, read, unwind, print.
func list(t *testing.T, pid int) string {
	t.Helper()
	u := unwind.New(arch.Host(), module.Options{Root: proc.Root(pid)})
	defer u.Close()
	r := goroutines.NewReader(u, goroutines.Options{})
	snap, err := proc.Freeze(context.Background(), pid, proc.FreezeOptions{
		Prepare: r.Prepare,
		Copy:    func(s *target.Snapshot) []target.Segment { return append(u.CopyGoState(s), r.Copy(s)...) },
	})
	if err != nil {
		t.Fatal(err)
	}
	threads, _ := u.Process(snap, unwind.Options{NoKernel: true})
	res, err := r.Read(snap, threads)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	p := &goroutines.Printer{}
	f := goroutines.Filter{}
	for _, g := range res.Goroutines {
		if f.Keep(g) {
			b.WriteString("\n")
			p.Goroutine(&b, g)
		}
	}
	return strings.TrimPrefix(b.String(), "\n")
}
