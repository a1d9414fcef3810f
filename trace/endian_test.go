package trace

import (
	"testing"
	"time"

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/goabi"
)

// TestDecodeByteOrder plans and decodes a call of
// main.Mix(a int64, b uint8, ok bool, s string, bs []byte, p *int32, c int32)
// on each arch with trace data, its registers and memory laid out in the
// arch's byte order as the kernel would hand them to the BPF program, and
// the captures made as bpf/trace.c makes them (emulate). On big-endian
// s390x a uint8 or bool held in a register is the register word's last
// byte, not its first, and memory words read big-endian: a decoder that
// assumed little-endian shows b=0, ok=false and garbage lengths there.
func TestDecodeByteOrder(t *testing.T) {
	for _, name := range []string{"amd64", "arm64", "ppc64le", "s390x", "riscv64"} {
		t.Run(name, func(t *testing.T) {
			a, _ := arch.ByName(name)
			sig, err := goabi.ParseSig("main.Mix(a int64, b uint8, ok bool, s string, bs []byte, p *int32, c int32) (int64, string)", 8)
			if err != nil {
				t.Fatal(err)
			}
			argLocs, _, err := goabi.Assign(a, goabi.ABIInternal, sig.Args, sig.Results)
			if err != nil {
				t.Fatal(err)
			}
			f := &Func{Name: "main.Mix", Go: true, Args: sig.Args, ArgLocs: argLocs, TypesFrom: "sig"}
			sp := buildPlan(a, f, 0, kindEntry, 64)

			bo := a.ByteOrder
			i32 := make([]byte, 4)
			bo.PutUint32(i32, 0xfffffff9)
			mem := map[uint64][]byte{0x1000: []byte("hello"), 0x2000: []byte("cccccc"), 0x3000: i32}
			regs, stack := make([]byte, regsWords*8), make([]byte, stackBytes)
			// The words of each argument. Garbage sits in the bits above
			// a narrow value, as Go leaves it: the decoder must read
			// only the value's own bytes.
			words := [][]uint64{{40}, {0xabcdef00 | 2}, {0x5500 | 1}, {0x1000, 5}, {0x2000, 6, 6}, {0x3000}, {0x12345678_fffffff9}}
			for i, l := range argLocs {
				for j, p := range l.Pieces {
					switch {
					case p.Reg >= 0:
						bo.PutUint64(regs[a.PtRegs[p.Reg]:], words[i][j])
					case p.Size == 4: // c, when the registers ran out
						bo.PutUint32(stack[p.Stack:], uint32(words[i][0]))
					default:
						for k, w := range words[i] {
							bo.PutUint64(stack[p.Stack+int64(8*k):], w)
						}
					}
				}
			}
			re := emulate(t, a, sp, regs, stack, mem)
			ev := decodeEvent(&Binary{Arch: a}, sp, re, nil, time.Time{})
			got := map[string]string{}
			for _, v := range ev.Values {
				got[v.Name] = Format(v.Value)
			}
			want := map[string]string{"a": "40", "b": "2", "ok": "true", "s": `"hello"`, "bs": `"cccccc"`, "p": "{ptr:0x3000, value:-7}", "c": "-7"}
			for k, w := range want {
				if got[k] != w {
					t.Errorf("%s = %s, want %s (all: %v)", k, got[k], w, got)
				}
			}
		})
	}
}

// emulate runs the capture loop of bpf/trace.c (struct item) over regs
// and stack, and the memory mem (start address -> bytes), reading words in the
// arch's byte order, as the BPF program does on its own kernel.
func emulate(t *testing.T, a *arch.Arch, sp *sitePlan, regs, stack []byte, mem map[uint64][]byte) *RawEvent {
	re := &RawEvent{Regs: regs, Stack: stack}
	word := func(buf uint8, off uint16) uint64 {
		var src []byte
		switch {
		case buf == bufRegs:
			src = regs
		case buf == bufStack:
			src = re.Stack
		default:
			src = re.Items[buf-2].Bytes
		}
		if int(off)+8 > len(src) {
			t.Fatalf("word at %d of buffer %d (%d bytes)", off, buf, len(src))
		}
		return a.ByteOrder.Uint64(src[off:])
	}
	for _, it := range sp.items {
		ptr := word(it.PtrBuf, it.PtrOff)
		n := uint64(it.LenConst)
		if it.LenBuf != lenConst && it.LenBuf != lenCStr {
			n = word(it.LenBuf, it.LenOff) * uint64(it.Elem)
		}
		n = min(n, uint64(it.Max))
		c := Capture{Want: uint32(n)}
		b, ok := mem[ptr]
		switch {
		case !ok || uint64(len(b)) < n:
			c.Unreadable = true
		default:
			c.Bytes = b[:n]
		}
		re.Items = append(re.Items, c)
	}
	return re
}
