package trace

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/taijidbg/taiji/internal/testprog"
	"github.com/taijidbg/taiji/module"
)

// TestTraceDeletedBinary traces, by PID, a process whose executable was
// deleted after it started (a binary replaced by a deploy): OpenProcess
// must reach the file through /proc/PID/map_files, uprobes must attach
// through that path, and a PIE's load bias must be found by inode, so that
// every call decodes.
func TestTraceDeletedBinary(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	for _, mode := range []string{"exe", "pie", "pie-single"} {
		t.Run(mode, func(t *testing.T) {
			build, single, _ := strings.Cut(mode, "-")
			bin := testprog.BuildTraceTarget(t, "-buildmode="+build)
			cmd := exec.Command(bin, "-wait", "types", "3")
			stdin, _ := cmd.StdinPipe()
			stdout, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			out := bufio.NewReader(stdout)
			out.ReadString('\n') // "ready"
			if err := os.Remove(bin); err != nil {
				t.Fatal(err)
			}
			b, err := OpenProcess(cmd.Process.Pid, module.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if b.DWARF == nil || !b.IsGo() {
				t.Fatalf("%s (opened as %s): no DWARF or pclntab", b.Name, b.Path)
			}
			funcs, err := b.Funcs([]string{"main.Mix"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			tr, err := Start(b, funcs, Options{Pid: cmd.Process.Pid, Single: single != ""})
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			stdin.Write([]byte("go\n"))
			go out.WriteTo(new(bytes.Buffer))
			cmd.Wait()
			var calls []string
			for _, ev := range readEvents(t, tr) { // the events are already in the buffer
				if ev.Kind == Call {
					calls = append(calls, Format(ev.Values[0].Value)+" "+Format(ev.Values[3].Value)) // a, s
				}
			}
			// types N passes a = 40, 41, ... and s = "hello" to Mix.
			want := []string{`40 "hello"`, `41 "hello"`, `42 "hello"`}
			if !reflect.DeepEqual(calls, want) {
				t.Fatalf("calls of main.Mix with a, s = %q, want %q", calls, want)
			}
		})
	}
}
