package gotraceback

import (
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/taijidbg/taiji/internal/testprog"
)

// samples are tracebacks in each release's syntax, for the unit tests and
// as fuzz seeds.
var samples = []string{
	// go1.19: no "in goroutine N", semacquire for sync.Mutex.
	`goroutine 21 [semacquire]:
sync.runtime_SemacquireMutex(0x0?, 0x0?, 0x0?)
	/usr/lib/go-1.19/src/runtime/sema.go:77 +0x25
sync.(*Mutex).Lock(...)
	/usr/lib/go-1.19/src/sync/mutex.go:90
main.mutexHost()
	/tmp/gs/main.go:114 +0x39
created by main.main
	/tmp/gs/main.go:345 +0x391
`,
	// go1.21 on, minutes and a locked thread, a generic function.
	`goroutine 1 [select (no cases)]:
main.main()
	/tmp/gs/main.go:383 +0x725

goroutine 37 [chan receive, 12 minutes, locked to thread]:
main.genericHost[...](0x0?)
	/tmp/gs/main.go:207 +0x25
created by main.main in goroutine 1
	/tmp/gs/main.go:356 +0x47b
`,
	// GOTRACEBACK=system, go1.23 on: header fields, fp/sp/pc, a long stack
	// cut in the middle, a scan flag.
	`goroutine 5 gp=0xc000007a40 m=nil [GC worker (idle) (scan)]:
runtime.gopark(0x1?, 0x2?, 0x0?, 0x0?, 0x0?)
	/usr/local/go/src/runtime/proc.go:435 +0xce fp=0xc00004a738 sp=0xc00004a718 pc=0x46fe4e
main.recurse(0x3)
	/tmp/r/main.go:9 +0x1d fp=0xc00004a7d0 sp=0xc00004a7b0 pc=0x47a0dd
...120 frames elided...
main.recurse(0xc8)
	/tmp/r/main.go:9 +0x1d fp=0xc00004a7d0 sp=0xc00004a7b0 pc=0x47a0dd
runtime.goexit({})
	/usr/local/go/src/runtime/asm_amd64.s:1700 +0x1 fp=0xc00004a7e8 sp=0xc00004a7e0 pc=0x476ee1
created by runtime.gcBgMarkStartWorkers in goroutine 1
	/usr/local/go/src/runtime/mgc.go:1339 +0x105
`,
	// A crash: text around, a goroutine running elsewhere, the old elision,
	// synctest and labels notes.
	`panic: boom

goroutine 1 [running]:
main.main()
	/tmp/c/main.go:20 +0x45
goroutine 6 [running]:
	goroutine running on other thread; stack unavailable
created by main.main in goroutine 1
	/tmp/c/main.go:15 +0x1a

goroutine 7 [chan receive (durable), synctest bubble 3 labels:{"k": "v", "a": "b"}]:
main.f(...)
	/tmp/c/main.go:5
...additional frames elided...
exit status 2
`,
}

func TestParseSamples(t *testing.T) {
	gs, err := Parse(samples[0])
	if err != nil {
		t.Fatal(err)
	}
	want := []Goroutine{{
		ID: 21, State: "semacquire",
		Frames: []Frame{
			{Func: "sync.runtime_SemacquireMutex", Args: "0x0?, 0x0?, 0x0?", File: "/usr/lib/go-1.19/src/runtime/sema.go", Line: 77, Offset: 0x25, HasOffset: true},
			{Func: "sync.(*Mutex).Lock", Args: "...", File: "/usr/lib/go-1.19/src/sync/mutex.go", Line: 90},
			{Func: "main.mutexHost", File: "/tmp/gs/main.go", Line: 114, Offset: 0x39, HasOffset: true},
		},
		CreatedBy: &Frame{Func: "main.main", File: "/tmp/gs/main.go", Line: 345, Offset: 0x391, HasOffset: true},
	}}
	if !reflect.DeepEqual(gs, want) {
		t.Errorf("go1.19 sample:\n got %+v\nwant %+v", gs, want)
	}
	if !gs[0].Frames[1].Inlined() || gs[0].Frames[0].Inlined() {
		t.Errorf("Inlined: frame 1 must be, frame 0 must not")
	}

	gs = mustParse(t, samples[1])
	if len(gs) != 2 || gs[1].WaitMinutes != 12 || !gs[1].Locked || gs[1].CreatorGoid != 1 ||
		gs[1].Frames[0].Func != "main.genericHost[...]" || gs[0].CreatedBy != nil || gs[0].State != "select (no cases)" {
		t.Errorf("go1.21 sample: %+v", gs)
	}

	gs = mustParse(t, samples[2])
	g := gs[0]
	if g.HeaderFields != "gp=0xc000007a40 m=nil" || g.State != "GC worker (idle)" || !g.Scan ||
		g.Elided != 120 || g.ElidedAt != 2 || len(g.Frames) != 4 ||
		g.Frames[0].Extra != "fp=0xc00004a738 sp=0xc00004a718 pc=0x46fe4e" || g.Frames[3].Args != "{}" {
		t.Errorf("system sample: %+v", g)
	}

	gs = mustParse(t, samples[3])
	if len(gs) != 3 {
		t.Fatalf("crash sample: %d goroutines, want 3: %+v", len(gs), gs)
	}
	if !gs[1].Unavailable || gs[1].CreatedBy == nil || len(gs[1].Frames) != 0 {
		t.Errorf("crash sample, goroutine 6: %+v", gs[1])
	}
	if g := gs[2]; g.State != "chan receive" || !g.Durable || g.Elided != -1 || g.ElidedAt != 1 ||
		!reflect.DeepEqual(g.Extra, []string{"synctest bubble 3"}) || g.Labels != `{"k": "v", "a": "b"}` {
		t.Errorf("crash sample, goroutine 7: %+v", g)
	}
	for i, s := range samples {
		roundTrip(t, s, mustParse(t, s))
		if i < 2 && Format(mustParse(t, s)) != s {
			t.Errorf("sample %d: Format does not give the text back:\n%s", i, Format(mustParse(t, s)))
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, text := range []string{
		"goroutine 1 [running:\nmain.main()\n",
		"goroutine 1 []:\n",
		"goroutine 1 [running]:\nmain.main()\n\tmain.go +0x1\n",
		"goroutine 1 [running]:\nmain.main()\n\tmain.go:x +0x1\n",
		"goroutine 1 [running]:\nmain.main()\n\tmain.go:3 +0xzz\n",
		"goroutine 2 [running]:\ncreated by main.main in goroutine x\n\tmain.go:3 +0x1\n",
		"goroutine 2 [running]:\ncreated by main.main\n\tmain.go\n",
	} {
		_, err := Parse(text)
		if _, ok := err.(*SyntaxError); !ok {
			t.Errorf("Parse(%q): %v, want a *SyntaxError", text, err)
		}
	}
}

func mustParse(t *testing.T, s string) []Goroutine {
	t.Helper()
	gs, err := Parse(s)
	if err != nil {
		t.Fatalf("%v\n%s", err, s)
	}
	return gs
}

// roundTrip: printing what was parsed and parsing it again gives the same
// goroutines.
func roundTrip(t *testing.T, text string, gs []Goroutine) {
	t.Helper()
	again, err := Parse(Format(gs))
	if err != nil || !reflect.DeepEqual(again, gs) {
		t.Errorf("Parse(Format(Parse(text))) differs (%v)\ntext:\n%s\nformatted:\n%s", err, text, Format(gs))
	}
}

// TestRealDumps parses the oracle target's own runtime.Stack from every Go
// release, in every binary kind, and checks the goroutines it is known to
// hold. Two dumps in a row must agree under the options taiji's oracle test
// uses: the target stands still between two looks.
func TestRealDumps(t *testing.T) {
	testprog.RunGoroutineStates(t, func(t *testing.T, tc testprog.Toolchain, m testprog.GoMode, p *testprog.GoroutineStates) {
		text := p.Dump(t)
		gs := mustParse(t, text)
		if Format(gs) != text {
			t.Errorf("Format does not give the dump back:\n%s\ndump:\n%s", Format(gs), text)
		}
		roundTrip(t, text, gs)
		checkStates(t, tc, gs)
		if m.Cgo {
			if g := byFunc(t, gs, "main.cgoHost"); g.State != "syscall" || g.Frames[0].Func != "main._Cfunc_c_block" {
				t.Errorf("the goroutine in C: %+v", g)
			}
		}
		if d := Compare(gs, gs, Options{Offsets: true}); len(d) != 0 {
			t.Errorf("Compare of a dump with itself: %q", d)
		}
		checkCompareCatches(t, gs)
		again := p.Dump(t)
		if d := Compare(gs, mustParse(t, again), Options{SkipUnstable: true, Offsets: true, WaitSlack: 1}); len(d) != 0 {
			t.Errorf("two dumps in a row differ:\n%s\nfirst:\n%s\nsecond:\n%s", strings.Join(d, "\n"), text, again)
		}
	})
}

// byFunc returns the goroutine whose stack has a frame of fn.
func byFunc(t *testing.T, gs []Goroutine, fn string) Goroutine {
	t.Helper()
	for _, g := range gs {
		for _, f := range g.Frames {
			if f.Func == fn {
				return g
			}
		}
	}
	t.Fatalf("no goroutine in %s:\n%s", fn, Format(gs))
	return Goroutine{}
}

func funcs(g Goroutine) []string {
	var s []string
	for _, f := range g.Frames {
		name := f.Func
		if f.Inlined() {
			name += " (inlined)"
		}
		s = append(s, name)
	}
	return s
}

func checkStates(t *testing.T, tc testprog.Toolchain, gs []Goroutine) {
	t.Helper()
	mutexState := "sync.Mutex.Lock" // go1.20 named it
	if tc.Minor() < 20 {
		mutexState = "semacquire"
	}
	for fn, state := range map[string]string{
		"main.chanSendHost": "chan send", "main.chanRecvHost": "chan receive", "main.selectHost": "select",
		"main.sleepHost": "sleep", "main.mutexHost": mutexState, "main.condHost": "sync.Cond.Wait",
		"main.tcpReadHost": "IO wait", "main.pipeReadHost": "IO wait", "main.rawSyscallHost": "syscall",
		"main.lockedHost": "chan receive", "main.busyStep": "runnable", "main.dumper": "running",
		"main.main": "select (no cases)", "main.genericHost[...]": "chan receive",
	} {
		if g := byFunc(t, gs, fn); g.State != state {
			t.Errorf("goroutine in %s: state %q, want %q", fn, g.State, state)
		}
	}
	if g := byFunc(t, gs, "main.lockedHost"); !g.Locked {
		t.Errorf("lockedHost's goroutine not locked to its thread: %+v", g)
	}
	if g := byFunc(t, gs, "main.chanRecvHost"); g.Locked || g.WaitMinutes != 0 {
		t.Errorf("chanRecvHost's goroutine: %+v", g)
	}
	if got, want := funcs(byFunc(t, gs, "main.nestOuter")), []string{
		"main.nestLeaf (inlined)", "main.nestInner", "main.nestMid (inlined)", "main.nestOuter",
	}; !reflect.DeepEqual(got, want) {
		t.Errorf("nested calls: %q, want %q", got, want)
	}
	// The go statement with arguments runs a wrapper the runtime hides.
	if got := funcs(byFunc(t, gs, "main.chanSendHost")); !reflect.DeepEqual(got, []string{"main.chanSendHost"}) {
		t.Errorf("chanSendHost's goroutine: %q", got)
	}
	if got := funcs(byFunc(t, gs, "main.closureHost")); !reflect.DeepEqual(got, []string{"main.closureHost", "main.main.func1"}) {
		t.Errorf("closure's goroutine: %q", got)
	}
	main := byFunc(t, gs, "main.main")
	if main.ID != 1 || main.CreatedBy != nil {
		t.Errorf("main goroutine: %+v", main)
	}
	spawner, spawned := byFunc(t, gs, "main.spawnerHost"), byFunc(t, gs, "main.spawnedHost")
	wantGoid := spawner.ID
	if tc.Minor() < 21 { // "in goroutine N" came with go1.21
		wantGoid = 0
	}
	if c := spawned.CreatedBy; c == nil || c.Func != "main.spawnerHost" || !c.HasOffset || spawned.CreatorGoid != wantGoid {
		t.Errorf("spawnedHost's goroutine: created by %+v in goroutine %d, want main.spawnerHost in goroutine %d", c, spawned.CreatorGoid, wantGoid)
	}
	if c := spawner.CreatedBy; c == nil || c.Func != "main.main" || !strings.HasSuffix(c.File, "/main.go") {
		t.Errorf("spawnerHost's goroutine: created by %+v", c)
	}
}

// checkCompareCatches: each kind of wrong answer makes Compare speak.
func checkCompareCatches(t *testing.T, want []Goroutine) {
	t.Helper()
	clone := func() []Goroutine {
		c := make([]Goroutine, len(want))
		for i, g := range want {
			c[i] = g
			c[i].Frames = append([]Frame(nil), g.Frames...)
			if g.CreatedBy != nil {
				cb := *g.CreatedBy
				c[i].CreatedBy = &cb
			}
		}
		return c
	}
	idx := func(fn string) int {
		for i, g := range want {
			for _, f := range g.Frames {
				if f.Func == fn {
					return i
				}
			}
		}
		t.Fatalf("no goroutine in %s", fn)
		return 0
	}
	nest, spawned, locked, recv, busy := idx("main.nestOuter"), idx("main.spawnedHost"), idx("main.lockedHost"), idx("main.chanRecvHost"), idx("main.busyStep")
	for name, mutate := range map[string]func(gs []Goroutine) []Goroutine{
		"missing goroutine":   func(gs []Goroutine) []Goroutine { return append(gs[:recv], gs[recv+1:]...) },
		"extra goroutine":     func(gs []Goroutine) []Goroutine { g := gs[recv]; g.ID = 99999; return append(gs, g) },
		"duplicate goroutine": func(gs []Goroutine) []Goroutine { return append(gs, gs[recv]) },
		"wrong id":            func(gs []Goroutine) []Goroutine { gs[recv].ID = 99999; return gs },
		"wrong wait reason":   func(gs []Goroutine) []Goroutine { gs[recv].State = "chan send"; return gs },
		"not locked":          func(gs []Goroutine) []Goroutine { gs[locked].Locked = false; return gs },
		"wait minutes":        func(gs []Goroutine) []Goroutine { gs[recv].WaitMinutes = 3; return gs },
		"wrong frame function": func(gs []Goroutine) []Goroutine {
			gs[nest].Frames[1].Func = "main.nestOther"
			return gs
		},
		"wrong frame line": func(gs []Goroutine) []Goroutine { gs[nest].Frames[2].Line++; return gs },
		"wrong frame file": func(gs []Goroutine) []Goroutine { gs[nest].Frames[3].File += "x"; return gs },
		"inline lost":      func(gs []Goroutine) []Goroutine { gs[nest].Frames[0].HasOffset = true; return gs },
		"frame missing":    func(gs []Goroutine) []Goroutine { gs[nest].Frames = gs[nest].Frames[1:]; return gs },
		"frame too many": func(gs []Goroutine) []Goroutine {
			gs[nest].Frames = append(gs[nest].Frames, gs[nest].Frames[0])
			return gs
		},
		"wrong offset":      func(gs []Goroutine) []Goroutine { gs[nest].Frames[1].Offset++; return gs },
		"wrong creator":     func(gs []Goroutine) []Goroutine { gs[spawned].CreatedBy.Func = "main.main"; return gs },
		"wrong creator pos": func(gs []Goroutine) []Goroutine { gs[spawned].CreatedBy.Line++; return gs },
		"no creator":        func(gs []Goroutine) []Goroutine { gs[spawned].CreatedBy = nil; return gs },
		"wrong creator goroutine": func(gs []Goroutine) []Goroutine {
			gs[spawned].CreatorGoid++
			return gs
		},
		"unstable goroutine missing": func(gs []Goroutine) []Goroutine { return append(gs[:busy], gs[busy+1:]...) },
	} {
		if d := Compare(want, mutate(clone()), Options{SkipUnstable: true, Offsets: true, WaitSlack: 1}); len(d) == 0 {
			t.Errorf("Compare misses a %s", name)
		}
	}
	// What may legitimately differ between two looks.
	got := clone()
	got[busy].State, got[busy].Frames = "running", got[busy].Frames[:1]
	got[recv].WaitMinutes = 1
	got[nest].Frames[0].Args = "..."
	got[nest].Frames[1].Args = "0x1, {0x2, 0x3}"
	if d := Compare(want, got, Options{SkipUnstable: true, WaitSlack: 1}); len(d) != 0 {
		t.Errorf("Compare objects to what may change between two looks: %q", d)
	}
}

// TestRealCrashes parses what a crashing program prints at
// GOTRACEBACK=system, from every release: header fields (go1.23 on), fp/sp/pc
// after positions, runtime frames, a stack too deep to print whole.
func TestRealCrashes(t *testing.T) {
	const src = `package main

import (
	"runtime"
	"time"
)

var sink int

//go:noinline
func recurse(n int) int {
	if n == 0 {
		time.Sleep(time.Hour)
	}
	return recurse(n-1) + 1
}

func main() {
	runtime.GOMAXPROCS(4)
	go func() { sink = recurse(300) }()
	go func() {
		for {
			sink++
		}
	}()
	time.Sleep(200 * time.Millisecond)
	panic("boom")
}
`
	for _, tc := range testprog.Toolchains(t) {
		t.Run(tc.Version, func(t *testing.T) {
			t.Parallel()
			m := testprog.GoModes[0]
			bin := testprog.BuildGoSource(t, tc, "crash", []byte(src), m)[m.Name]
			cmd := exec.Command(bin)
			cmd.Env = append(cmd.Environ(), "GOTRACEBACK=system")
			out, _ := cmd.CombinedOutput()
			gs := mustParse(t, string(out))
			roundTrip(t, string(out), gs)
			var deep *Goroutine
			for i, g := range gs {
				if tc.Minor() >= 23 && !strings.Contains(g.HeaderFields, "gp=0x") {
					t.Errorf("goroutine %d: no gp= in the header at GOTRACEBACK=system: %q", g.ID, g.HeaderFields)
				}
				for _, f := range g.Frames {
					if f.HasOffset && !strings.HasPrefix(f.Extra, "fp=0x") {
						t.Errorf("goroutine %d: frame %s without fp/sp/pc: %+v", g.ID, f.Func, f)
					}
				}
				if len(g.Frames) > 0 && g.Frames[0].Func == "runtime.gopark" && g.Elided != 0 {
					deep = &gs[i]
				}
			}
			if deep == nil {
				t.Fatalf("no goroutine with elided frames:\n%s", out)
			}
			if deep.State != "sleep" || len(deep.Frames) < 100 {
				t.Errorf("deep goroutine: [%s] %d frames", deep.State, len(deep.Frames))
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range samples {
		f.Add(s)
	}
	f.Add("goroutine 1 [")
	f.Add("goroutine 9 []:\nx(\n\t:1 +0x")
	f.Fuzz(func(t *testing.T, text string) {
		gs, err := Parse(text)
		if err != nil {
			return
		}
		// What parsed prints and parses back the same.
		again, err := Parse(Format(gs))
		if err != nil || !reflect.DeepEqual(again, gs) {
			t.Errorf("Parse(Format(Parse(%q))) = %+v, %v; want %+v", text, again, err, gs)
		}
		Compare(gs, again, Options{SkipUnstable: true})
	})
}
