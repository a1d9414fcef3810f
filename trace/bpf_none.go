//go:build !386 && !amd64 && !arm64 && !ppc64le && !riscv64 && !s390x

package trace

import (
	"fmt"
	"runtime"
	"structs"

	"github.com/cilium/ebpf"
)

// The eBPF program is compiled (bpf2go, bpf_*_bpfel.go) for the
// architectures whose pt_regs layout trace/bpf/trace.c knows. Elsewhere
// taiji builds, and trace says why it cannot run.

type bpfObjects struct {
	BareMulti, ProbeMulti, ProbeSingle                    *ebpf.Program
	BareHits, Events, FuncStats, Inflight, Plans, Scratch *ebpf.Map
}

func (o *bpfObjects) Close() error { return nil }

// The map value types, as bpf2go generates them for the other arches.

type bpfItem struct {
	_        structs.HostLayout
	PtrBuf   uint8
	LenBuf   uint8
	PtrOff   uint16
	LenOff   uint16
	Elem     uint16
	LenConst uint32
	Max      uint32
}
type bpfPlan struct {
	_      structs.HostLayout
	Func   uint32
	Kind   uint8
	IsGo   uint8
	Nitems uint8
	Dedupe uint8
	Items  [16]bpfItem
	Ret    uint32
}
type bpfStats struct {
	_         structs.HostLayout
	Calls     uint64
	Returns   uint64
	Lost      uint64
	Unmatched uint64
	Sum       uint64
	Max       uint64
	Hist      [256]uint64
}

func loadBpf() (*ebpf.CollectionSpec, error) {
	return nil, fmt.Errorf("taiji trace has no eBPF program for %s yet", runtime.GOARCH)
}
