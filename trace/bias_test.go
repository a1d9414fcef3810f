package trace

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/taijidbg/taiji/internal/testprog"
	"github.com/taijidbg/taiji/module"
)

// startPIE starts the trace target, built as a PIE, waiting for "go" on
// stdin before it runs "types n".
func startPIE(t *testing.T, n string) (bin string, cmd *exec.Cmd, stdin func(), out *bufio.Reader) {
	bin = testprog.BuildTraceTarget(t, "-buildmode=pie")
	cmd = exec.Command(bin, "-wait", "types", n)
	in, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	out = bufio.NewReader(stdout)
	out.ReadString('\n') // "ready"
	return bin, cmd, func() { in.Write([]byte("go\n")) }, out
}

// TestTraceSystemWidePIEBias traces a PIE system-wide (no PID): the load
// bias, needed to name the dynamic types of interface values, is learnt
// from /proc/PID/maps once for the process, not once per event.
func TestTraceSystemWidePIEBias(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	// The target prints a JSON line per call and nobody reads them: it
	// blocks once the pipe is full, alive while its events are decoded, as
	// a process is when taiji keeps up with its events.
	bin, _, run, _ := startPIE(t, "2000")
	b, err := Open(bin, module.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	funcs, err := b.Funcs([]string{"main.Fail", "main.Mix"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := Start(b, funcs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	reads := loadBiasReads.Load()
	run()
	events, errs := 0, 0
	for _, ev := range readEvents(t, tr) {
		events++
		if ev.Kind == Return && ev.Func.Name == "main.Fail" && len(ev.Values) == 1 {
			errs++
			if s := Format(ev.Values[0].Value); !strings.Contains(s, "main.MyError") && !strings.Contains(s, "errors.errorString") && s != "nil" {
				t.Errorf("main.Fail returned %s, want its dynamic type named", s)
			}
		}
	}
	if events < 8 || errs < 4 {
		t.Fatalf("%d events, %d returns of main.Fail: want calls and returns of main.Fail and main.Mix", events, errs)
	}
	if got := loadBiasReads.Load() - reads; got != 1 {
		t.Errorf("%d events read /proc/PID/maps %d times to learn the load bias, want once", events, got)
	}
}

// TestBiases: a bias is learnt once, learnt again when it no longer fits
// (an exec) but not more often than relearnAfter, and the cache is bounded.
func TestBiases(t *testing.T) {
	bin, cmd, _, _ := startPIE(t, "1")
	b, err := Open(bin, module.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	pid := cmd.Process.Pid
	want, err := loadBias(b, pid)
	if err != nil || want == 0 {
		t.Fatalf("loadBias of a PIE = %#x, %v: want a non-zero bias", want, err)
	}
	c := newBiases(b)
	reads := loadBiasReads.Load()
	for range 3 {
		if got := c.get(pid); got != want {
			t.Fatalf("get = %#x, want %#x", got, want)
		}
	}
	if n := loadBiasReads.Load() - reads; n != 1 {
		t.Errorf("3 gets read the maps %d times, want 1", n)
	}
	// Just learnt: a type that does not fit must not read the maps again.
	if _, changed := c.relearn(pid, want); changed || loadBiasReads.Load()-reads != 1 {
		t.Errorf("relearn right after learning read the maps again")
	}
	// As after an exec: the cached bias is stale and old enough.
	c.procs[pid].bias, c.procs[pid].learned = want+0x1000, time.Time{}
	if got, changed := c.relearn(pid, want+0x1000); got != want || !changed {
		t.Errorf("relearn of a stale bias = %#x, %v, want %#x, true", got, changed, want)
	}
	for i := range maxBiasProcs + 10 {
		c.mu.Lock()
		c.put(1<<30+i, &biasEntry{})
		c.mu.Unlock()
	}
	if len(c.procs) != maxBiasProcs || c.procs[1<<30+maxBiasProcs+9] == nil {
		t.Errorf("%d processes cached after %d, want the %d most recent", len(c.procs), maxBiasProcs+11, maxBiasProcs)
	}
}

// TestSymbolizerBounded: a long --stack trace keeps at most maxSymProcs
// processes' unwinders, the least recently used going first, and gives one
// unwinder at most maxSymSnapshots snapshots (each of which it keeps an
// address space for).
func TestSymbolizerBounded(t *testing.T) {
	var s symbolizer
	defer s.close()
	const gone = 1 << 30 // PIDs above pid_max: processes that are gone
	for i := range maxSymProcs + 5 {
		s.mu.Lock()
		s.process(gone+i, nil)
		s.process(gone, nil) // keep the first one in use
		s.mu.Unlock()
	}
	if len(s.procs) != maxSymProcs || s.procs[gone] == nil || s.procs[gone+1] != nil || s.procs[gone+maxSymProcs+4] == nil {
		t.Errorf("%d processes kept (first %v, second %v): want %d, the least recently used evicted",
			len(s.procs), s.procs[gone] != nil, s.procs[gone+1] != nil, maxSymProcs)
	}
	self := os.Getpid()
	s.mu.Lock()
	first := s.process(self, nil).u
	for range 2 * maxSymSnapshots {
		s.process(self, []uint64{1}) // never covered: the maps are read again each time
	}
	sp := s.procs[self]
	s.mu.Unlock()
	if sp.reads > maxSymSnapshots || sp.u == first {
		t.Errorf("after %d re-reads the unwinder has %d snapshots (new unwinder: %v), want at most %d",
			2*maxSymSnapshots+1, sp.reads, sp.u != first, maxSymSnapshots)
	}
}

// readEvents reads tr's events until none has come for 2 seconds.
func readEvents(t *testing.T, tr *Tracer) []*Event {
	var evs []*Event
	for {
		tr.rd.SetDeadline(time.Now().Add(2 * time.Second))
		ev, err := tr.Read()
		if err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatal(err)
			}
			return evs
		}
		evs = append(evs, ev)
	}
}
