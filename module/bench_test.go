package module

import (
	"debug/elf"
	"testing"
)

// libcSample returns addresses inside a spread of libc's exported functions.
func libcSample(b *testing.B, m *Module) []uint64 {
	dyn, err := m.File.DynamicSymbols()
	if err != nil {
		b.Fatal(err)
	}
	var as []uint64
	for i, s := range dyn {
		if elf.ST_TYPE(s.Info) == elf.STT_FUNC && s.Size > 8 && i%17 == 0 {
			as = append(as, s.Value+s.Size/2)
		}
	}
	return as
}

// BenchmarkFramesLibcCold is the cost of the first lookup in a freshly
// opened libc: open, find the debug file, index the compile units, load
// one unit's lines and functions. This is what a one-shot `taiji stack`
// pays per module.
func BenchmarkFramesLibcCold(b *testing.B) {
	path := libcPath(b)
	for i := 0; i < b.N; i++ {
		m, err := Open(path, Options{})
		if err != nil {
			b.Fatal(err)
		}
		a, _, _ := m.SymbolByName("read")
		if len(m.Frames(a+4, false)) == 0 {
			b.Fatal("no frames")
		}
		m.Close()
	}
}

// BenchmarkFramesLibcWarm is a lookup once the units involved are cached.
func BenchmarkFramesLibcWarm(b *testing.B) {
	m, err := Open(libcPath(b), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	as := libcSample(b, m)
	for _, a := range as {
		m.Frames(a, false)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.Frames(as[i%len(as)], false)
	}
}

// BenchmarkSymbolLibc is a warm symbol lookup (a binary search).
func BenchmarkSymbolLibc(b *testing.B) {
	m, err := Open(libcPath(b), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	as := libcSample(b, m)
	m.Symbol(as[0])
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.Symbol(as[i%len(as)])
	}
}

// blockedLibcFuncs are the libc functions a process blocked in read(),
// pause() or a sleep has on its threads' stacks.
var blockedLibcFuncs = []string{"read", "pause", "clock_nanosleep", "start_thread", "clone3", "__libc_start_call_main"}

// BenchmarkColdFramesLibc is what one `taiji stack` run pays for libc once
// the inflated debug sections are cached on disk: Open, then Frames at the
// handful of libc addresses a blocked process's stacks touch, and Symbol
// at each.
func BenchmarkColdFramesLibc(b *testing.B) {
	path := libcPath(b)
	opts := Options{CacheDir: b.TempDir()}
	m, err := Open(path, opts)
	if err != nil {
		b.Fatal(err)
	}
	var as []uint64
	for _, name := range blockedLibcFuncs {
		if a, size, ok := m.SymbolByName(name); ok {
			as = append(as, a+size/2)
		}
	}
	if len(as) < 4 {
		b.Fatalf("only %d of %q found in libc", len(as), blockedLibcFuncs)
	}
	for _, a := range as { // fills the section cache
		m.Frames(a, false)
	}
	m.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m, err := Open(path, opts)
		if err != nil {
			b.Fatal(err)
		}
		for _, a := range as {
			// As the unwinder does for every frame.
			if len(m.Frames(a, false)) == 0 {
				b.Fatalf("no frames at %#x", a)
			}
			if _, _, ok := m.Symbol(a); !ok {
				b.Fatalf("no symbol at %#x", a)
			}
		}
		m.Close()
	}
}
