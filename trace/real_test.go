package trace

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"reflect"
	"testing"
	"time"

	"github.com/taijidbg/taiji/internal/testprog"
	"github.com/taijidbg/taiji/module"
)

// realEvents traces a real run of tracetarget (types 3, then chain 2, with
// --stack) and returns the raw ring buffer records: the seeds of
// FuzzParseEvent. nil without root.
func realEvents(tb testing.TB) [][]byte {
	if os.Geteuid() != 0 {
		return nil
	}
	bin := testprog.BuildTraceTarget(tb)
	b, err := Open(bin, module.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	defer b.Close()
	funcs, err := b.Funcs([]string{"main.Mix", "main.Move", "main.Fail", "main.Many"}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	var out [][]byte
	for _, args := range [][]string{{"-wait", "types", "3"}, {"-wait", "chain", "2"}} {
		cmd := exec.Command(bin, args...)
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			tb.Fatal(err)
		}
		bufio.NewReader(stdout).ReadString('\n') // "ready"
		t, err := Start(b, funcs, Options{Pid: cmd.Process.Pid, Stack: true})
		if err != nil {
			cmd.Process.Kill()
			tb.Fatal(err)
		}
		stdin.Write([]byte("go\n"))
		go func() { bufio.NewReader(stdout).WriteTo(new(bytes.Buffer)) }()
		cmd.Wait()
		t.rd.SetDeadline(time.Now().Add(2 * time.Second)) // the events are already in the buffer
		for {
			rec, err := t.rd.Read()
			if err != nil {
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					tb.Fatal(err)
				}
				break
			}
			out = append(out, append([]byte(nil), rec.RawSample...))
		}
		t.Close()
	}
	return out
}

// TestParseRealEvents checks real records: each parses, its items and
// stacks lie inside it, and a call of main.Mix carries the string it was
// passed and a user stack.
func TestParseRealEvents(t *testing.T) {
	evs := realEvents(t)
	if evs == nil {
		t.Skip("needs root")
	}
	stacks := 0
	for _, raw := range evs {
		e, err := ParseEvent(raw)
		if err != nil {
			t.Fatalf("real event: %v", err)
		}
		if len(e.UStack) > 0 && len(e.KStack) > 0 {
			stacks++
		}
	}
	// types 3: 4 functions x 3 calls x (call + return); chain 2: 2 x 2.
	if len(evs) != 28 || stacks != 14 {
		t.Fatalf("%d events, %d with both stacks; want 28 and 14", len(evs), stacks)
	}
}

// TestCString decodes C string captures read into 6 bytes (4 shown).
func TestCString(t *testing.T) {
	for _, c := range []struct {
		got  string
		want Str
	}{
		{"ab\x00", Str{S: "ab", Len: 2}},
		{"abcd\x00", Str{S: "abcd", Len: 4}},
		{"abcde\x00", Str{S: "abcd", Len: 4, Truncated: true}},
		{"\x00", Str{}},
	} {
		if v := cString(Capture{Bytes: []byte(c.got)}, 1, 6); !reflect.DeepEqual(v, c.want) {
			t.Errorf("%q: %#v, want %#v", c.got, v, c.want)
		}
	}
	if _, ok := cString(Capture{Unreadable: true}, 1, 6).(Unavailable); !ok {
		t.Error("unreadable string not reported")
	}
}

func TestKallsyms(t *testing.T) {
	b, err := os.ReadFile("/proc/kallsyms")
	if err != nil {
		t.Skip(err)
	}
	k, err := ParseKallsyms(b)
	if err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 {
		return // addresses read as zero
	}
	// Every text symbol must be found at its own address.
	n := 0
	for _, s := range k.syms {
		// Aliases share an address: any of them is right.
		if name, off, _, ok := k.Lookup(s.addr); !ok || off != 0 {
			t.Fatalf("Lookup(%#x) = %s+%d, want %s", s.addr, name, off, s.name)
		}
		n++
	}
	if n < 1000 {
		t.Fatalf("only %d kernel text symbols", n)
	}
	if _, err := ParseKallsyms([]byte("zz T x\n")); err == nil {
		t.Error("bad address accepted")
	}
}

func FuzzParseKallsyms(f *testing.F) {
	if b, err := os.ReadFile("/proc/kallsyms"); err == nil {
		f.Add(b[:min(len(b), 4096)]) // this machine's, as root sees it
	}
	f.Add([]byte("ffffffff81000000 T _stext\nffffffffc0000000 t foo\t[mod]\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParseKallsyms(b)
		if err != nil {
			return
		}
		for _, s := range k.syms {
			if _, off, _, ok := k.Lookup(s.addr); !ok || off != 0 {
				t.Fatalf("symbol at %#x not found", s.addr)
			}
		}
	})
}
