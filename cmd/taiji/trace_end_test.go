package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/taijidbg/taiji/internal/testprog"
)

// procStat returns a process's state letter and start time (fields 3 and
// 22 of /proc/PID/stat); ok is false if there is no such process.
func procStat(pid int) (state, start string, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", "", false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 20 {
		return "", "", false
	}
	return f[0], f[19], true
}

// dead reports whether the process that started at start is gone: reaped,
// a zombie, or its PID reused.
func dead(pid int, start string) bool {
	state, st, ok := procStat(pid)
	return !ok || state == "Z" || state == "X" || st != start
}

// children lists the children of every thread of pid.
func children(pid int) []int {
	var out []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, t := range tasks {
		b, _ := os.ReadFile(t)
		for _, w := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(w); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// How taiji ends in TestTraceEnds: SIGTERM to taiji alone, SIGKILL, and a
// reader that closes taiji's stdout after one line (SIGPIPE).
var traceEnds = []string{"sigterm", "sigkill", "closed-stdout"}

// runTraceUntil runs taiji trace with args until its first line of output,
// then ends it the way how says and waits for it to exit.
func runTraceUntil(t *testing.T, how string, args []string, started func(taiji int)) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// A file, not a pipe Wait would drain: a surviving command holds
	// taiji's stderr open.
	errf, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer errf.Close()
	taiji := exec.Command(taijiBin, args...)
	taiji.Stdout, taiji.Stderr = w, errf
	if err := taiji.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil {
		taiji.Process.Kill()
		taiji.Wait()
		b, _ := os.ReadFile(errf.Name())
		t.Fatalf("no output from taiji: %v\n%s", err, b)
	}
	t.Logf("first line: %s", strings.TrimSpace(line))
	started(taiji.Process.Pid)
	switch how {
	case "sigterm":
		taiji.Process.Signal(syscall.SIGTERM)
	case "sigkill":
		taiji.Process.Kill()
	case "closed-stdout":
		r.Close()
	}
	t.Logf("taiji: %v", taiji.Wait())
}

// The command taiji trace started ends with taiji, however taiji ends,
// and also if it ignores SIGTERM.
func TestTraceCommandEndsWithTaiji(t *testing.T) {
	needRoot(t)
	goBin, cBin := buildOneRet(t)
	type endCase struct {
		name, how string
		trace     []string
	}
	var cases []endCase
	for _, how := range traceEnds {
		cases = append(cases, endCase{how, how, []string{"main.report", "--", goBin, "0", "1ms"}})
	}
	cases = append(cases, endCase{"sigterm-ignored", "sigterm", []string{"empty", "--", cBin, "0", "1000", "ignore-sigterm"}})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var child int
			var start string
			runTraceUntil(t, c.how, append([]string{"trace"}, c.trace...), func(taiji int) {
				kids := children(taiji)
				if len(kids) != 1 {
					t.Fatalf("taiji has children %v, want its command", kids)
				}
				child = kids[0]
				_, start, _ = procStat(child)
			})
			for i := 0; i < 200 && !dead(child, start); i++ {
				time.Sleep(50 * time.Millisecond)
			}
			if !dead(child, start) {
				syscall.Kill(child, syscall.SIGKILL)
				t.Fatalf("the command (PID %d) outlived taiji", child)
			}
		})
	}
}

// trace -p never touches its target: it survives taiji however taiji
// ends, running (not stopped).
func TestTracePidSurvivesTaiji(t *testing.T) {
	needRoot(t)
	goBin, _ := buildOneRet(t)
	for _, how := range traceEnds {
		t.Run(how, func(t *testing.T) {
			target := exec.Command(goBin, "0", "1ms")
			if err := target.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { target.Process.Kill(); target.Wait() }()
			pid := target.Process.Pid
			runTraceUntil(t, how, []string{"trace", "-p", strconv.Itoa(pid), "main.report"}, func(int) {})
			// Give a signal taiji might have sent time to arrive.
			time.Sleep(200 * time.Millisecond)
			state, _, ok := procStat(pid)
			if !ok || state == "Z" || state == "X" || state == "t" || state == "T" {
				t.Fatalf("the -p target is %q after taiji ended, want running", state)
			}
		})
	}
}

// TestTracePidEventsMatchSummary: at the end of a -p trace the probes go
// before the ring buffer is drained, so the events printed and those lost
// are exactly what the summary counts, though the process runs on calling
// the function from two threads (the summary used to count calls made
// after the last read).
func TestTracePidEventsMatchSummary(t *testing.T) {
	needRoot(t)
	bin := testprog.BuildGo(t, "debuggo")
	target := exec.Command(bin, "threads", "2", "2000000000")
	if err := target.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { target.Process.Kill(); target.Wait() }()
	out, err := exec.Command(taijiBin, "trace", "--json", "--duration", "1s", "-p", strconv.Itoa(target.Process.Pid), "main.hit").Output()
	if err != nil {
		t.Fatalf("taiji trace: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	// Returns are probed before calls and stop being probed after them:
	// a return is unmatched only before its goroutine's first call.
	called := map[string]bool{}
	for _, l := range lines {
		var ev struct {
			Event     string
			Goroutine json.Number
			Unmatched bool
		}
		json.Unmarshal([]byte(l), &ev)
		switch {
		case ev.Event == "call":
			called[ev.Goroutine.String()] = true
		case ev.Unmatched && called[ev.Goroutine.String()]:
			t.Fatalf("goroutine %s: a return without its call after calls were seen: %s", ev.Goroutine, l)
		}
	}
	calls, returns := strings.Count(string(out), `{"event":"call"`), strings.Count(string(out), `{"event":"return"`)
	var sum struct {
		Functions []struct{ Calls, Returns, Lost, Unmatched uint64 }
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil || len(sum.Functions) != 1 {
		t.Fatalf("last line %q is not a one-function summary: %v", lines[len(lines)-1], err)
	}
	// The loop calls main.hit millions of times a second: events are
	// lost (the ring buffer is full), and counted.
	f := sum.Functions[0]
	if f.Calls == 0 {
		t.Fatalf("summary %+v: no calls", f)
	}
	if printed := uint64(calls + returns); printed+f.Lost != f.Calls+f.Returns+f.Unmatched {
		t.Errorf("printed %d calls and %d returns, %d lost; the summary counts %d calls, %d returns + %d unmatched", calls, returns, f.Lost, f.Calls, f.Returns, f.Unmatched)
	}
}
