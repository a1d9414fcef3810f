package debugger

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// SignalPolicy is what the debugger does with a signal about to be
// delivered, as gdb's "handle": stop and report it, print it and run on,
// and whether the program receives it when it resumes.
type SignalPolicy struct {
	Stop  bool `json:"stop"`
	Print bool `json:"print"`
	Pass  bool `json:"pass"`
}

// defaultSignals follows gdb's defaults: signals a program uses for its
// own housekeeping pass silently (SIGURG is Go's preemption, SIGPROF its
// profiler), SIGINT and SIGTRAP stop and are not passed, every other
// signal (the faults SIGSEGV, SIGILL, SIGBUS, SIGFPE among them) stops,
// is printed and is passed.
func defaultSignals() map[syscall.Signal]*SignalPolicy {
	m := map[syscall.Signal]*SignalPolicy{}
	for sig := syscall.Signal(1); sig <= 64; sig++ {
		m[sig] = &SignalPolicy{Stop: true, Print: true, Pass: true}
	}
	for _, sig := range []syscall.Signal{syscall.SIGURG, syscall.SIGCHLD, syscall.SIGWINCH, syscall.SIGALRM,
		syscall.SIGPROF, syscall.SIGVTALRM, syscall.SIGIO} {
		m[sig] = &SignalPolicy{Pass: true}
	}
	m[syscall.SIGINT] = &SignalPolicy{Stop: true, Print: true}
	m[syscall.SIGTRAP] = &SignalPolicy{Stop: true, Print: true}
	return m
}

// policy returns sig's policy.
func (d *Debugger) policy(sig syscall.Signal) *SignalPolicy {
	if p := d.signals[sig]; p != nil {
		return p
	}
	return &SignalPolicy{Stop: true, Print: true, Pass: true}
}

// ParseSignal reads SIGSEGV, SEGV, segv or 11.
func ParseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n <= 64 {
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("%q is not a signal (a name such as SIGSEGV or SEGV, or a number)", s)
}

// Handle changes sig's policy with gdb's keywords: stop, nostop, print,
// noprint, pass, nopass (noignore, ignore). stop implies print, noprint
// implies nostop. With no keywords it only returns the policy.
func (d *Debugger) Handle(sig syscall.Signal, actions []string) (*SignalPolicy, error) {
	p := *d.policy(sig)
	for _, a := range actions {
		switch strings.ToLower(a) {
		case "stop":
			p.Stop, p.Print = true, true
		case "nostop":
			p.Stop = false
		case "print":
			p.Print = true
		case "noprint":
			p.Print, p.Stop = false, false
		case "pass", "noignore":
			p.Pass = true
		case "nopass", "ignore":
			p.Pass = false
		default:
			return nil, fmt.Errorf("%q is not a handle action (stop, nostop, print, noprint, pass, nopass)", a)
		}
	}
	d.signals[sig] = &p
	return &p, nil
}

// Signals returns every signal's policy, by number.
func (d *Debugger) Signals() []syscall.Signal {
	var out []syscall.Signal
	for s := range d.signals {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// SignalName names sig as the kernel does ("SIGSEGV"), or "SIG<n>".
func SignalName(sig syscall.Signal) string {
	if n := unix.SignalName(sig); n != "" {
		return n
	}
	return "SIG" + strconv.Itoa(int(sig))
}
