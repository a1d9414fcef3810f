package trace

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"

	"github.com/taijidbg/taiji/internal/testprog"
)

// TestUretprobeCrashesGo shows why taiji never uses uretprobes: a plain
// uretprobe (an empty program) on main.Grow, whose goroutines grow and copy
// their stacks, makes the Go runtime find the kernel's trampoline address
// where return addresses should be, and the program dies. taiji's own probes
// at the RET instructions trace the same workload to the end
// (cmd/taiji TestTraceGrowNeverCrashes).
func TestUretprobeCrashesGo(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	bin := testprog.BuildTraceTarget(t)
	_ = rlimit.RemoveMemlock()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.Kprobe, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()}})
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()

	cmd := exec.Command(bin, "-wait", "grow", "200000")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	rd := bufio.NewReader(stdout)
	if l, err := rd.ReadString('\n'); err != nil || l != "ready\n" {
		t.Fatalf("target: %q %v", l, err)
	}
	ex, err := link.OpenExecutable(bin)
	if err != nil {
		t.Fatal(err)
	}
	l, err := ex.Uretprobe("main.Grow", prog, &link.UprobeOptions{PID: cmd.Process.Pid})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	stdin.Write([]byte("go\n"))
	rest, _ := readAll(rd)
	err = cmd.Wait()
	if err == nil && regexp.MustCompile(`grow done calls=\d+`).MatchString(rest) {
		t.Skip("the target survived a uretprobe on main.Grow on this kernel: the crash taiji avoids did not reproduce here")
	}
	if err == nil {
		t.Fatalf("target exited 0 without finishing: %q", rest)
	}
	// The runtime's own diagnosis of the rewritten return address.
	if !strings.Contains(stderr.String(), "unexpected return pc") {
		t.Fatalf("target failed (%v) but not with a Go runtime crash:\n%s", err, stderr.String())
	}
	t.Logf("crashed as expected (%v): %s", err, firstLines(stderr.String(), 3))
}

func readAll(r *bufio.Reader) (string, error) {
	b, err := io.ReadAll(r)
	return string(b), err
}

func firstLines(s string, n int) string {
	ls := strings.SplitN(s, "\n", n+1)
	if len(ls) > n {
		ls = ls[:n]
	}
	return strings.Join(ls, " | ")
}
