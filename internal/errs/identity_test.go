//go:build linux

package errs_test

import (
	"errors"
	"testing"

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/disasm"
	"github.com/taijidbg/taiji/proc"
	"github.com/taijidbg/taiji/trace"
)

// TestUnsupportedIdentity: every package's "not supported" error, as those
// packages return it, matches errors.ErrUnsupported and still its own
// sentinel. (trace's wrapping of cilium/ebpf's ErrNotSupported is tested
// in package trace, where attachError lives.)
func TestUnsupportedIdentity(t *testing.T) {
	_, decodeErr := disasm.Decode(arch.MIPS64LE, []byte{0, 0, 0, 0}, 0x1000)
	_, frameErr := disasm.FrameAt(arch.ARM64, []byte{0, 0, 0, 0}, 0x1000, 0x1000)
	for _, c := range []struct {
		name     string
		err, own error
	}{
		{"disasm.Decode(mips64le)", decodeErr, disasm.ErrUnsupported},
		{"disasm.FrameAt(arm64)", frameErr, disasm.ErrUnsupported},
		{"proc.ErrNotSupported", &proc.Error{Msg: "single-step is not available on mips64le", Err: proc.ErrNotSupported}, proc.ErrNotSupported},
		{"trace.CheckKernel", trace.CheckKernel(t.TempDir(), false), trace.ErrUnsupported},
	} {
		if !errors.Is(c.err, errors.ErrUnsupported) || !errors.Is(c.err, c.own) {
			t.Errorf("%s: %v: want errors.Is to match errors.ErrUnsupported and %v", c.name, c.err, c.own)
		}
	}
}
