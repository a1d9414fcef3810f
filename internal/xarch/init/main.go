// Command init is the /init of the initramfs scripts/xarch-test boots under
// qemu: it mounts the pseudo file systems taiji needs, runs every test
// binary under /tests with -test.v, streams their output to the console,
// prints the verdict line "GOARCH: N passed, M failed" and powers off.
//
// It is built with CGO_ENABLED=0 for the guest's GOARCH and runs as PID 1
// with nothing else in the VM, so it must never exit (the kernel would
// panic instead of powering off) and never wait for input.
//
// Kernel command-line options it reads from /proc/cmdline (the kernel does
// not hand dotted options to init):
//
//	taiji.run=REGEXP      passed to each test binary as -test.run
//	taiji.timeout=DUR     -test.timeout of each binary (default 10m)
//	taiji.record=1        set xarch.EnvRecord for the tests (scripts/xarch-test -record)
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/taijidbg/taiji/internal/xarch"
	"golang.org/x/sys/unix"
)

const (
	testsDir   = "/tests"
	targetsDir = "/targets"
)

func main() {
	defer powerOff() // also after a panic: a dead PID 1 only panics the kernel
	defer func() {
		if r := recover(); r != nil {
			fmt.Printf("\nxarch: init panicked: %v\n%s: 0 passed, 1 failed\n", r, runtime.GOARCH)
		}
	}()

	mountAll()
	if err := loopbackUp(); err != nil {
		fmt.Printf("xarch: bringing up lo: %v\n", err)
	}
	opts := cmdline()
	timeout := 10 * time.Minute
	if s, ok := opts["taiji.timeout"]; ok {
		if d, err := time.ParseDuration(s); err == nil && d > 0 {
			timeout = d
		} else {
			fmt.Printf("xarch: bad taiji.timeout=%q, using %v\n", s, timeout)
		}
	}

	var uts unix.Utsname
	_ = unix.Uname(&uts)
	up, _ := os.ReadFile("/proc/uptime") // how long the kernel took to boot
	fmt.Printf("xarch: %s kernel %s on %s, %d CPUs, GOARCH=%s, up %ss\n",
		unix.ByteSliceToString(uts.Sysname[:]), unix.ByteSliceToString(uts.Release[:]),
		unix.ByteSliceToString(uts.Machine[:]), runtime.NumCPU(), runtime.GOARCH,
		strings.Fields(string(up) + " ?")[0])
	for _, f := range []string{"/sys/kernel/tracing/uprobe_events", "/sys/kernel/btf/vmlinux"} {
		_, err := os.Stat(f)
		fmt.Printf("xarch: %s: %v\n", f, yesNo(err))
	}

	bins, _ := filepath.Glob(filepath.Join(testsDir, "*", "*.test"))
	sort.Strings(bins)
	var t xarch.Tally
	start := time.Now()
	for _, bin := range bins {
		runTest(&t, bin, timeout, opts["taiji.run"], opts["taiji.record"] == "1")
	}
	fmt.Printf("xarch: %d test binaries, %d failed; %d tests skipped; %.1fs in the VM\n",
		t.Binaries, t.BinariesFailed, t.Skipped, time.Since(start).Seconds())
	if len(bins) == 0 {
		fmt.Printf("xarch: no test binaries under %s\n", testsDir)
	}
	// The script takes the last line of this form as the result.
	fmt.Printf("\n%s\n", t.Verdict(runtime.GOARCH))
}

// runTest runs one test binary in its own directory (which holds a copy of
// the package's testdata, as `go test` would) and tallies its output.
func runTest(t *xarch.Tally, bin string, timeout time.Duration, run string, record bool) {
	name := filepath.Base(bin)
	fmt.Printf("xarch: === %s\n", name)
	// -test.paniconexit0, as go test passes it: a test calling os.Exit(0)
	// would otherwise end its binary "successfully" with tests unrun.
	args := []string{"-test.v", "-test.paniconexit0", "-test.timeout=" + timeout.String()}
	if run != "" {
		args = append(args, "-test.run="+run)
	}
	// The binary's own -test.timeout panics with every goroutine's stack;
	// the context is the backstop for a binary too wedged to do even that.
	ctx, cancel := context.WithTimeout(context.Background(), timeout+time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = filepath.Dir(bin)
	cmd.Env = []string{
		"PATH=/bin:/sbin:/usr/bin:/usr/sbin",
		"HOME=/tmp",
		"TMPDIR=/tmp",
		"GOTRACEBACK=all",
		xarch.EnvArch + "=" + runtime.GOARCH,
		xarch.EnvTargets + "=" + targetsDir,
	}
	if record {
		cmd.Env = append(cmd.Env, xarch.EnvRecord+"=1")
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.End(err)
		fmt.Printf("xarch: FAIL %s: %v\n", name, err)
		return
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	err = cmd.Start()
	pw.Close()
	if err == nil {
		copyLines(t, pr)
		err = cmd.Wait()
	}
	pr.Close()
	if t.End(err) {
		fmt.Printf("xarch: ok %s\n", name)
	} else {
		fmt.Printf("xarch: FAIL %s: %v\n", name, orExit0(err))
	}
}

// copyLines streams test output to the console as it comes, so a hang is
// visible where it happens, and tallies each complete line.
func copyLines(t *xarch.Tally, r io.Reader) {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			os.Stdout.WriteString(line)
			t.Line(strings.TrimSuffix(line, "\n"))
		}
		if err != nil {
			if !strings.HasSuffix(line, "\n") && line != "" {
				os.Stdout.WriteString("\n")
			}
			return
		}
	}
}

// mountAll mounts what the tests and, later, the tracer need. A failure is
// reported, not fatal: the tests that need the mount will say so.
func mountAll() {
	type m struct{ src, dir, fstype string }
	for _, x := range []m{
		{"devtmpfs", "/dev", "devtmpfs"},
		{"proc", "/proc", "proc"},
		{"sysfs", "/sys", "sysfs"},
		{"tmpfs", "/tmp", "tmpfs"},
		{"debugfs", "/sys/kernel/debug", "debugfs"},
		{"tracefs", "/sys/kernel/tracing", "tracefs"},
		{"bpf", "/sys/fs/bpf", "bpf"},
	} {
		os.MkdirAll(x.dir, 0o755)
		if err := unix.Mount(x.src, x.dir, x.fstype, 0, ""); err != nil && !errors.Is(err, unix.EBUSY) {
			fmt.Printf("xarch: mount %s on %s: %v\n", x.fstype, x.dir, err)
		}
		if x.dir == "/dev" {
			console()
		}
	}
}

// console makes fds 0-2 the console. The kernel opens /dev/console for
// init only if the initramfs has that node, and an initramfs packed by an
// unprivileged user cannot contain device nodes.
func console() {
	fd, err := unix.Open("/dev/console", unix.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return // keep whatever the kernel gave us
	}
	for i := 0; i < 3; i++ {
		if fd != i {
			unix.Dup3(fd, i, 0)
		}
	}
	if fd > 2 {
		unix.Close(fd)
	}
}

// cmdline returns the key=value options of the kernel command line.
func cmdline() map[string]string {
	opts := map[string]string{}
	b, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return opts
	}
	for _, f := range strings.Fields(string(b)) {
		if k, v, ok := strings.Cut(f, "="); ok {
			opts[k] = v
		}
	}
	return opts
}

// powerOff ends the VM. qemu runs with -no-reboot, so if the machine cannot
// power off, a restart ends qemu as well.
func powerOff() {
	unix.Sync()
	err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	fmt.Printf("xarch: power off: %v; restarting\n", err)
	unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
	for {
		time.Sleep(time.Hour)
	}
}

func yesNo(err error) string {
	if err == nil {
		return "yes"
	}
	return "no"
}

func orExit0(err error) error {
	if err == nil {
		return errors.New("a test failed")
	}
	return err
}

// loopbackUp brings up the loopback interface, down in a VM with nothing
// else: the targets that hold a goroutine in a TCP read talk to themselves
// on 127.0.0.1 (the VMs have no network card).
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}
