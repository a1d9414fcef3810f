package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// TestForeignABI: a 32-bit x86 program on amd64 is named as such, in one
// line, by stack and inject, instead of frames read with the wrong
// register layout; it is left running, untraced.
func TestForeignABI(t *testing.T) {
	requireRoot(t)
	if runtime.GOARCH != "amd64" {
		t.Skip("a 386 program runs only on an amd64 host")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte("package main\n\nimport \"time\"\n\nfunc main() { time.Sleep(time.Hour) }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "p386")
	build := exec.Command("go", "build", "-o", bin, src)
	build.Env = append(os.Environ(), "GOARCH=386", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("GOARCH=386 go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	time.Sleep(200 * time.Millisecond)
	pid := strconv.Itoa(cmd.Process.Pid)
	for _, args := range [][]string{{"stack", pid}, {"inject", pid, "getpid"}} {
		_, stderr, err := runTaiji(t, args...)
		oneLine(t, stderr, err, "runs a 386 (32-bit x86) program", "amd64 processes only")
	}
	status, _ := os.ReadFile("/proc/" + pid + "/status")
	if !regexp.MustCompile(`(?m)^TracerPid:\s+0$`).Match(status) {
		t.Errorf("the 386 program is left traced:\n%s", status)
	}
}
