package main

import (
	"os"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/taijidbg/taiji/internal/testprog"
)

// TestManyG builds manyg with the oldest and the newest toolchain (the
// source must build with every release), parks 3000 goroutines and checks
// that SIGUSR1 answers with the timing of a dump that holds them all.
func TestManyG(t *testing.T) {
	tcs := testprog.Toolchains(t)
	for _, tc := range []testprog.Toolchain{tcs[0], tcs[len(tcs)-1]} {
		t.Run(tc.Version, func(t *testing.T) {
			const n = 3000
			dir, err := os.Getwd() // BuildGoDir names the module after the directory
			if err != nil {
				t.Fatal(err)
			}
			p := testprog.Start(t, testprog.BuildGoDir(t, tc, dir, false), "-n", strconv.Itoa(n))
			if err := syscall.Kill(p.Pid, syscall.SIGUSR1); err != nil {
				t.Fatal(err)
			}
			re := regexp.MustCompile(`(?m)^stack_ns=(\d+) bytes=(\d+)$`)
			deadline := time.Now().Add(testprog.ReadyTimeout)
			for !re.MatchString(p.Stdout()) {
				if time.Now().After(deadline) {
					t.Fatalf("no stack_ns line:\n%s\n%s", p.Stdout(), p.Stderr())
				}
				time.Sleep(10 * time.Millisecond)
			}
			m := re.FindStringSubmatch(p.Stdout())
			ns, _ := strconv.ParseInt(m[1], 10, 64)
			size, _ := strconv.Atoi(m[2])
			// Each parked goroutine takes a header, a frame and "created
			// by": well over 100 bytes.
			if ns <= 0 || size < n*100 {
				t.Errorf("stack_ns=%d bytes=%d: a dump of %d goroutines is larger", ns, size, n)
			}
		})
	}
}
