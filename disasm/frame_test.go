package disasm

import (
	"reflect"
	"testing"

	"github.com/taijidbg/taiji/arch"
)

func TestFrameAt(t *testing.T) {
	const sp, fp = 7, 6
	var (
		pushRBX  = []byte{0x53}
		pushR12  = []byte{0x41, 0x54}
		sub40    = []byte{0x48, 0x83, 0xec, 0x28}
		pushRBP  = []byte{0x55}
		movRBP   = []byte{0x48, 0x89, 0xe5} // mov %rsp,%rbp
		and32    = []byte{0x48, 0x83, 0xe4, 0xe0}
		leave    = []byte{0xc9}
		ret      = []byte{0xc3}
		popRBX   = []byte{0x5b}
		movRBPax = []byte{0x48, 0x89, 0xc5} // mov %rax,%rbp
		nop      = []byte{0x90}
		vzero    = []byte{0xc5, 0xf8, 0x77}                   // vzeroupper
		rorxRBP  = []byte{0xc4, 0xe3, 0xfb, 0xf0, 0xea, 0x12} // rorx $0x12,%rdx,%rbp
		adcx     = []byte{0x66, 0x4c, 0x0f, 0x38, 0xf6, 0xeb} // adcx %rbx,%r13
		adcxRBP  = []byte{0x66, 0x48, 0x0f, 0x38, 0xf6, 0xeb} // adcx %rbx,%rbp
	)
	cat := func(parts ...[]byte) (b []byte) {
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	for _, tt := range []struct {
		name string
		code []byte
		want Frame
		err  bool
	}{
		{"entry", nil, Frame{Base: sp, Offset: 8, RA: -8, Saved: map[int]int64{}}, false},
		{"pushes", cat(pushRBX, pushR12, sub40), Frame{Base: sp, Offset: 64, RA: -8, Saved: map[int]int64{3: -16, 12: -24}}, false},
		{"frame pointer", cat(pushRBP, movRBP, and32, pushRBX), Frame{Base: fp, Offset: 16, RA: -8, Saved: map[int]int64{6: -16}}, false},
		{"after an epilogue", cat(pushRBX, nop, popRBX, ret, nop), Frame{Base: sp, Offset: 16, RA: -8, Saved: map[int]int64{3: -16}}, false},
		{"after leave", cat(pushRBP, movRBP, nop, leave, ret), Frame{Base: fp, Offset: 16, RA: -8, Saved: map[int]int64{6: -16}}, false},
		{"rbp clobbered", cat(movRBPax), Frame{Base: sp, Offset: 8, RA: -8, Saved: map[int]int64{}, Clobbered: []int{6}}, false},
		// x86asm misreads VZEROUPPER as 4 bytes: the push would be lost.
		{"after vzeroupper", cat(vzero, pushRBX, adcx), Frame{Base: sp, Offset: 16, RA: -8, Saved: map[int]int64{3: -16}}, false},
		{"rorx into rbp", cat(pushRBX, rorxRBP), Frame{Base: sp, Offset: 16, RA: -8, Saved: map[int]int64{3: -16}, Clobbered: []int{6}}, false},
		{"adcx into rbp", cat(pushRBX, adcxRBP), Frame{}, true},
		{"realigned", cat(pushRBX, and32), Frame{}, true},
		{"invalid in 64-bit mode", []byte{0x06}, Frame{}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FrameAt(arch.AMD64, tt.code, 0x1000, 0x1000+uint64(len(tt.code)))
			if tt.err {
				if err == nil {
					t.Fatalf("FrameAt = %+v, want an error", got)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("FrameAt = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
	if _, err := FrameAt(arch.ARM64, nil, 0, 0); err == nil {
		t.Error("arm64: want ErrUnsupported")
	}
}

func FuzzFrameAt(f *testing.F) {
	f.Add([]byte{0x55, 0x48, 0x89, 0xe5, 0xc9, 0xc3}, uint16(6))
	f.Fuzz(func(t *testing.T, code []byte, n uint16) {
		FrameAt(arch.AMD64, code, 0x1000, 0x1000+uint64(int(n)%(len(code)+1)))
	})
}
