// Package xarch is the in-VM half of scripts/xarch-test, the harness that
// runs taiji's tests on real kernels of other architectures under qemu.
//
// The script cross-compiles each package's tests with `go test -c`, packs
// them with the /init program of ./init into an initramfs and boots a Debian
// kernel for the architecture. /init runs every test binary and reads its
// `-test.v` output with a Tally to print one verdict line the script checks.
//
// Tests that want a program of the guest's architecture to work on (a Go
// target listed in their package's xarch_targets.txt, or a C program built by
// their package's testdata/xarch/build hook) find it with Target. See
// docs/xarch.md.
package xarch

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Environment variables the harness sets for every test binary in the VM.
const (
	// EnvArch holds the GOARCH the harness booted. Its presence means the
	// test runs inside the VM: no Go toolchain, no gcc, no network.
	EnvArch = "TAIJI_XARCH"
	// EnvTargets names the directory holding the cross-built target programs.
	EnvTargets = "TAIJI_XARCH_TARGETS"
	// EnvRecord is set (to "1") when scripts/xarch-test -record booted the
	// VM: tests that record test data print it to the console between
	// RecordBegin and RecordEnd lines, for the script to save on the host.
	EnvRecord = "TAIJI_XARCH_RECORD"
)

// The lines around a recording on the console: "RecordBegin DIR", lines of
// base64 of a gzipped tar of DIR's files, "RecordEnd DIR". DIR is relative
// to the repository's root.
const (
	RecordBegin = "xarch-record-begin"
	RecordEnd   = "xarch-record-end"
)

// Recording reports whether the VM was booted to record test data.
func Recording() bool { return os.Getenv(EnvRecord) == "1" }

// InVM reports whether the test runs inside the harness's VM, and for which
// GOARCH. Tests that need host tools (go build, gcc, gdb) skip themselves
// when it is true, and use Target instead.
func InVM() (goarch string, ok bool) {
	goarch = os.Getenv(EnvArch)
	return goarch, goarch != ""
}

// Target returns the path of the cross-built target program name inside the
// VM, or ok == false when the test does not run in the VM or the program was
// not built (the package's xarch_targets.txt does not list it).
func Target(name string) (path string, ok bool) {
	dir := os.Getenv(EnvTargets)
	if dir == "" || name == "" || strings.ContainsRune(name, '/') {
		return "", false
	}
	path = filepath.Join(dir, name)
	if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() {
		return "", false
	}
	return path, true
}

// Tally counts the results of `go test -v` output, one line at a time.
//
// It counts every `--- PASS`, `--- FAIL` and `--- SKIP` line, subtests
// included (they are indented), since each is a test that ran. A binary
// that dies without a FAIL line (a panic, a timeout, a crash of the
// runtime on the new arch) still must not read as a success: End counts it
// as one failed test.
type Tally struct {
	Passed, Failed, Skipped int // individual tests, subtests included

	// Binaries counts the test binaries ended with End, BinariesFailed
	// those among them that failed.
	Binaries, BinariesFailed int

	failedHere int // FAIL lines seen since the last End
}

// Line accounts for one line of test output (without its newline).
func (t *Tally) Line(line string) {
	// The VM console may add a carriage return; test output of nested
	// subtests is indented by four spaces per level.
	s := strings.TrimLeft(strings.TrimRight(line, "\r"), " \t")
	switch {
	case strings.HasPrefix(s, "--- PASS: "):
		t.Passed++
	case strings.HasPrefix(s, "--- FAIL: "):
		t.Failed++
		t.failedHere++
	case strings.HasPrefix(s, "--- SKIP: "):
		t.Skipped++
	}
}

// End closes the output of one test binary that exited with err (nil for
// status 0), and reports whether the binary passed.
func (t *Tally) End(err error) bool {
	t.Binaries++
	ok := err == nil && t.failedHere == 0
	if !ok {
		t.BinariesFailed++
		if t.failedHere == 0 {
			// Died without naming a failed test: count the binary itself.
			t.Failed++
		}
	}
	t.failedHere = 0
	return ok
}

// Verdict is the final line /init prints and scripts/xarch-test looks for:
// "ARCH: N passed, M failed".
func (t *Tally) Verdict(goarch string) string {
	return fmt.Sprintf("%s: %d passed, %d failed", goarch, t.Passed, t.Failed)
}

// ParseVerdict parses a line printed by Verdict. The harness's shell script
// does the same with a regular expression; this is the reference.
func ParseVerdict(line string) (goarch string, passed, failed int, ok bool) {
	line = strings.TrimSpace(line)
	goarch, rest, found := strings.Cut(line, ": ")
	if !found || goarch == "" || strings.ContainsAny(goarch, " \t") {
		return "", 0, 0, false
	}
	if _, err := fmt.Sscanf(rest, "%d passed, %d failed", &passed, &failed); err != nil {
		return "", 0, 0, false
	}
	// Sscanf ignores trailing text and accepts "+1": insist on the canonical form.
	if rest != fmt.Sprintf("%d passed, %d failed", passed, failed) || passed < 0 || failed < 0 {
		return "", 0, 0, false
	}
	return goarch, passed, failed, true
}
