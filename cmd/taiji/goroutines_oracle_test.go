package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode"

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/goroutines"
	"github.com/taijidbg/taiji/internal/gotraceback"
	"github.com/taijidbg/taiji/internal/testprog"
	"github.com/taijidbg/taiji/proc"
	"github.com/taijidbg/taiji/target"
	"github.com/taijidbg/taiji/unwind"
)

// jsonGoroutines mirrors `taiji goroutines --json` (docs/json.md).
type jsonGoroutines struct {
	Pid        int             `json:"pid"`
	GoVersion  string          `json:"go_version"`
	FrozenNs   int64           `json:"frozen_ns"`
	Notes      []string        `json:"notes"`
	Goroutines []jsonGoroutine `json:"goroutines"`
}

type jsonGoroutine struct {
	ID         int64       `json:"id"`
	Status     string      `json:"status"`
	State      string      `json:"state"`
	WaitReason string      `json:"wait_reason"`
	WaitNs     int64       `json:"wait_ns"`
	Thread     int         `json:"thread"`
	Locked     bool        `json:"locked"`
	System     bool        `json:"system"`
	Parent     int64       `json:"parent"`
	CreatedBy  *jsonFrame  `json:"created_by"`
	Frames     []jsonFrame `json:"frames"`
}

// TestGoroutinesOracle runs taiji goroutines on the goroutinestates target
// built by every Go release in every binary kind (testprog.GoModes: default,
// stripped, PIE, and cgo with the external linker, where one goroutine is
// blocked inside C), and compares its text, goroutine by goroutine, with the
// target's own runtime.Stack(buf, true) taken just before: the same ids,
// states and wait reasons, thread locks, frames (function, file:line,
// inlined or not, offset) and creators. Only the goroutines the target shows
// running or runnable (the one that dumped, the busy loop) are compared for
// presence alone. The --json output must agree with the text.
func TestGoroutinesOracle(t *testing.T) {
	requireRoot(t)
	testprog.RunGoroutineStates(t, checkGoroutinesOracle)
}

var oracleOptions = gotraceback.Options{SkipUnstable: true, Offsets: true, WaitSlack: 1}

func checkGoroutinesOracle(t *testing.T, tc testprog.Toolchain, m testprog.GoMode, p *testprog.GoroutineStates) {
	dump := p.Dump(t)
	want, err := gotraceback.Parse(dump)
	if err != nil || len(want) == 0 {
		t.Fatalf("the target's own dump: %v (%d goroutines)\n%s", err, len(want), dump)
	}
	if m.Cgo && !strings.Contains(dump, "main.cgoHost(") {
		t.Fatalf("the cgo build has no goroutine in C:\n%s", dump)
	}

	checkFastWalk(t, p.Pid)
	text, errOut, err := runTaiji(t, "goroutines", strconv.Itoa(p.Pid))
	if err != nil {
		t.Fatalf("taiji goroutines: %v\n%s", err, errOut)
	}
	// The summary line (and notes) come first, then the goroutines.
	head, text, ok := strings.Cut(text, "\n\n")
	if !ok || !strings.HasPrefix(head, fmt.Sprintf("Process %d (", p.Pid)) {
		t.Fatalf("taiji goroutines does not start with its summary line:\n%s", head)
	}
	got, err := gotraceback.Parse(text)
	if err != nil {
		t.Fatalf("taiji goroutines printed what Go's traceback format cannot hold: %v\n%s", err, text)
	}
	if back := gotraceback.Format(got); back != text {
		t.Errorf("taiji goroutines printed more than goroutines in Go's format:\n%s\nparsed and printed back:\n%s", text, back)
	}
	if diffs := gotraceback.Compare(want, got, oracleOptions); len(diffs) > 0 {
		t.Errorf("taiji goroutines differs from the target's runtime.Stack:\n%s\n\ntaiji:\n%s\n\nruntime.Stack:\n%s",
			strings.Join(diffs, "\n"), text, dump)
	}

	out, errOut, err := runTaiji(t, "goroutines", "--json", strconv.Itoa(p.Pid))
	if err != nil {
		t.Fatalf("taiji goroutines --json: %v\n%s", err, errOut)
	}
	var r jsonGoroutines
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("taiji goroutines --json printed invalid JSON: %v\n%s", err, out)
	}
	if r.Pid != p.Pid || !strings.HasPrefix(r.GoVersion+".", tc.Version+".") || r.FrozenNs <= 0 {
		t.Errorf("--json: pid %d go_version %q frozen_ns %d, want pid %d, %s.x, frozen_ns > 0",
			r.Pid, r.GoVersion, r.FrozenNs, p.Pid, tc.Version)
	}
	fromJSON := goroutinesFromJSON(t, r)
	if diffs := gotraceback.Compare(got, fromJSON, oracleOptions); len(diffs) > 0 {
		t.Errorf("--json disagrees with the text:\n%s\n\ntext:\n%s\n\njson:\n%s", strings.Join(diffs, "\n"), text, out)
	}
	// The JSON says more than the text: which thread holds a goroutine.
	// One blocked in a system call, or in C, sits on its thread; check it
	// is the thread /proc shows in read(2).
	for _, g := range r.Goroutines {
		host := ""
		for _, f := range g.Frames {
			if f.Function == "main.rawSyscallHost" || f.Function == "main.cgoHost" {
				host = f.Function
			}
		}
		if host == "" {
			continue
		}
		// The thread restarts its read(2) once taiji lets it go: on a
		// loaded machine /proc may show it running for a moment.
		nr := threadSyscall(p.Pid, g.Thread)
		for deadline := time.Now().Add(5 * time.Second); nr == "running" && time.Now().Before(deadline); nr = threadSyscall(p.Pid, g.Thread) {
			time.Sleep(10 * time.Millisecond)
		}
		if nr != fmt.Sprint(syscall.SYS_READ) {
			t.Errorf("goroutine %d in %s: thread %d, whose system call is %q, want the thread blocked in read(2) (%d)",
				g.ID, host, g.Thread, nr, syscall.SYS_READ)
		}
	}
}

// threadSyscall returns the system call number thread tid of pid is in, as
// /proc shows it, or "" if there is no such thread.
func threadSyscall(pid, tid int) string {
	if tid <= 0 {
		return ""
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/syscall", pid, tid))
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// goroutinesFromJSON turns the JSON into what its text would parse to:
// system goroutines left out (the text shows them only with --system), and
// the frames Go's traceback hides left out of each stack (runtime-internal
// functions: showfuncinfo in runtime/traceback.go), in case the JSON keeps
// them.
func goroutinesFromJSON(t *testing.T, r jsonGoroutines) []gotraceback.Goroutine {
	t.Helper()
	var gs []gotraceback.Goroutine
	for _, j := range r.Goroutines {
		if j.System {
			continue
		}
		if j.State == "" {
			t.Errorf("--json: goroutine %d has no state", j.ID)
		}
		if j.Status == "waiting" && j.WaitReason != j.State {
			t.Errorf("--json: goroutine %d waiting, wait_reason %q but state %q", j.ID, j.WaitReason, j.State)
		}
		g := gotraceback.Goroutine{
			ID: j.ID, State: j.State, Locked: j.Locked, WaitMinutes: int(j.WaitNs / 60e9),
			CreatorGoid: j.Parent,
		}
		for _, f := range j.Frames {
			if !shownByGo(f.Function) {
				continue
			}
			g.Frames = append(g.Frames, tracebackFrame(f))
		}
		if j.CreatedBy != nil {
			f := tracebackFrame(*j.CreatedBy)
			g.CreatedBy = &f
		}
		gs = append(gs, g)
	}
	return gs
}

func tracebackFrame(f jsonFrame) gotraceback.Frame {
	// The JSON keeps the full name (generic shapes); the text, as Go,
	// prints the shapes as "[...]".
	tf := gotraceback.Frame{Func: goroutines.FuncNameForPrint(f.Function), File: f.File, Line: f.Line}
	if f.Kind != "inline" {
		tf.Offset, tf.HasOffset = f.Offset, true
	}
	return tf
}

// shownByGo is Go's rule for the frames a traceback prints at the default
// level: qualified names, and of the runtime's only the exported ones.
func shownByGo(fn string) bool {
	rest, ok := strings.CutPrefix(fn, "runtime.")
	if !ok {
		return strings.Contains(fn, ".")
	}
	return rest != "" && unicode.IsUpper(rune(rest[0]))
}

// checkFastWalk reads the goroutines of pid twice in one freeze, with the
// fast walk of plain Go frames and with the general walker alone
// (unwind.Unwinder.SlowGoroutineWalk): every goroutine must come out the
// same, frames and note.
func checkFastWalk(t *testing.T, pid int) {
	t.Helper()
	var us [2]*unwind.Unwinder
	var rs [2]*goroutines.Reader
	for i := range us {
		us[i] = unwind.New(arch.Host(), moduleOptions(proc.Root(pid), nil, true))
		defer us[i].Close()
		us[i].SlowGoroutineWalk = i == 1
		rs[i] = goroutines.NewReader(us[i], goroutines.Options{})
	}
	snap, err := proc.Freeze(context.Background(), pid, proc.FreezeOptions{
		Prepare: func(s *target.Snapshot) error { return errors.Join(rs[0].Prepare(s), rs[1].Prepare(s)) },
		Copy: func(s *target.Snapshot) []target.Segment {
			segs := us[0].CopyGoState(s)
			rs[0].Copy(s)
			rs[1].Copy(s)
			return segs
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	var res [2]*goroutines.Result
	for i := range res {
		threads, _ := us[i].Process(snap, unwind.Options{NoKernel: true})
		if res[i], err = rs[i].Read(snap, threads); err != nil {
			t.Fatal(err)
		}
	}
	if len(res[0].Goroutines) != len(res[1].Goroutines) {
		t.Fatalf("fast walk: %d goroutines, general walker: %d", len(res[0].Goroutines), len(res[1].Goroutines))
	}
	for i, g := range res[0].Goroutines {
		slow := res[1].Goroutines[i]
		if !reflect.DeepEqual(g.Stack.Frames, slow.Stack.Frames) || g.Stack.Note != slow.Stack.Note {
			t.Errorf("goroutine %d: the fast walk found\n%+v (note %q)\nthe general walker\n%+v (note %q)",
				g.ID, g.Stack.Frames, g.Stack.Note, slow.Stack.Frames, slow.Stack.Note)
		}
	}
}
