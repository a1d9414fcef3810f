package proc

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRestSurvivesTracerDeath: a tracer killed with SIGKILL after Rest,
// with a thread stopped on a breakpoint it hit and others interrupted
// around the same trap, leaves the process running, untraced, its code
// as it was. Without Rest the thread on the breakpoint would die of the
// SIGTRAP its stop held, or of the trap still in the code.
func TestRestSurvivesTracerDeath(t *testing.T) {
	needStep(t)
	for round := 0; round < 3; round++ {
		tg := startRunctl(t, "spin", "4")
		want := original(t, tg.pid, tg.hit, 16)
		cmd, out := runHelper(t, "rest", tg.pid, nil,
			"TAIJI_PROC_ADDR="+strconv.FormatUint(tg.hit, 10), "TAIJI_PROC_HITS="+strconv.Itoa(1+round*20))
		line, _ := out.ReadString('\n')
		if !strings.HasPrefix(line, "rested") {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("round %d: helper said %q", round, line)
		}
		cmd.Process.Kill()
		cmd.Wait()
		for deadline := time.Now().Add(5 * time.Second); tracerOf(tg.pid, tg.pid) != 0; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: still traced after the tracer died", round)
			}
		}
		time.Sleep(50 * time.Millisecond) // time to reach hit() many times
		if err := syscall.Kill(tg.pid, 0); err != nil {
			t.Fatalf("round %d: target gone after its tracer was killed: %v", round, err)
		}
		checkRunning(t, tg.pid)
		checkAdvancing(t, tg.pid, tg.hits)
		released(t, tg.pid, want)
	}
}

// restHelper attaches to pid, continues to the Nth hit of the breakpoint
// at $TAIJI_PROC_ADDR, calls Rest, says "rested" and waits to be killed.
func restHelper(pid int) {
	addr, _ := strconv.ParseUint(os.Getenv("TAIJI_PROC_ADDR"), 10, 64)
	hits, _ := strconv.Atoi(os.Getenv("TAIJI_PROC_HITS"))
	s, err := Attach(context.Background(), pid)
	if err != nil {
		fmt.Println("attach:", err)
		os.Exit(1)
	}
	if err := s.SetBreakpoint(addr); err != nil {
		fmt.Println("break:", err)
		os.Exit(1)
	}
	for n := 0; n < hits; {
		st, err := s.Continue(context.Background())
		if err != nil {
			fmt.Println("continue:", err)
			os.Exit(1)
		}
		if st.Reason == StopBreakpoint {
			n++
		}
	}
	if os.Getenv("TAIJI_PROC_NOREST") == "" {
		if err := s.Rest(); err != nil {
			fmt.Println("rest:", err)
			os.Exit(1)
		}
	}
	fmt.Println("rested")
	time.Sleep(time.Hour)
}
