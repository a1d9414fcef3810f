package unwind

import (
	"os"
	"testing"

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/internal/testprog"
	"github.com/taijidbg/taiji/internal/xarch"
	"github.com/taijidbg/taiji/module"
)

// TestGoStackLeavesDebugFrame: the pclntab names and unwinds every Go
// frame, so a pure Go program's stacks never inflate and index its
// .debug_frame (compressed by Go's linker; 5 MB inflated in a 121 MB
// service), yet it is there for the PCs nothing else describes.
func TestGoStackLeavesDebugFrame(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: ptrace")
	}
	bin, ok := xarch.Target("gotarget")
	if _, inVM := xarch.InVM(); !inVM {
		bin, ok = testprog.BuildGo(t, "gotarget"), true
	} else if !ok {
		t.Fatal("target gotarget missing from the VM (xarch_targets.txt)")
	}
	p := testprog.Start(t, bin)
	u := New(arch.Host(), module.Options{})
	defer u.Close()
	threads := snapshot(t, u, p.Pid)
	goFrames := 0
	for _, th := range threads {
		for _, f := range th.Frames {
			if f.Module == bin && f.Function != "" {
				goFrames++
			}
		}
	}
	if goFrames == 0 {
		t.Fatalf("no named frame in %s: %v", bin, threads)
	}
	var im *image
	for _, i := range u.images {
		if i.mod != nil && i.mod.Path == bin {
			im = i
		}
	}
	if im == nil {
		t.Fatal("the binary's image was not opened")
	}
	if _, _, ok := im.mod.Section(".debug_frame"); !ok {
		t.Skip("the Go toolchain wrote no .debug_frame")
	}
	if im.dbg != nil {
		t.Errorf(".debug_frame was parsed for a stack of %d Go frames the pclntab describes", goFrames)
	}
	if im.debugFrame() == nil {
		t.Error("debugFrame did not parse .debug_frame when asked")
	}
}
