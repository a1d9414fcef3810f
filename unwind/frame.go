// Package unwind turns a frozen thread (registers and stack bytes) into a
// backtrace: kernel frames from /proc, then user frames found by DWARF CFI
// for native code, by Go's pclntab for Go code, through signal frames, and by
// frame pointers as a last resort; then names them, expanding inline frames.
package unwind

import (
	"encoding/json"
	"fmt"
	"time"
)

// Kind says what produced a frame.
type Kind string

const (
	Kernel Kind = "kernel" // from /proc/PID/task/TID/stack
	User   Kind = "user"   // a physical user-space frame
	Inline Kind = "inline" // a call inlined into the physical frame that follows it
	Signal Kind = "signal" // the signal trampoline: the frame below it was interrupted
)

// Frame is one line of a backtrace. The same type serves stack, trace
// --stack and, later, debug.
type Frame struct {
	Kind Kind `json:"-"`
	// PC is the current PC of the innermost user frame and the return
	// address of every caller, as gdb and eu-stack print them. An inline
	// frame carries the PC of the physical frame it sits in.
	PC       uint64 `json:"-"`
	Function string `json:"function,omitempty"`
	// Offset is the PC's distance from the function's start (kernel frames:
	// as /proc prints it).
	Offset uint64 `json:"offset,omitempty"`
	Module string `json:"module,omitempty"`
	File   string `json:"file,omitempty"`
	Line   int    `json:"line,omitempty"`

	// How the unwinder found the caller of this frame ("cfi", "go",
	// "code", "fp", "signal"); informational.
	Method string `json:"-"`
	// Note, if set, says this frame is a guess and why: its callee had
	// no unwind information and the walk fell back on the frame-pointer
	// chain. Set on the first (innermost) frame of its physical frame.
	Note string `json:"note,omitempty"`
}

// Thread is one thread's backtrace.
type Thread struct {
	TID   int    `json:"tid"`
	Name  string `json:"name"`
	State string `json:"state"`
	// Goroutine is the goid of the goroutine the thread is running (Go
	// programs whose runtime layout is known), 0 if none.
	Goroutine uint64  `json:"goroutine,omitempty"`
	Omitted   int     `json:"omitted"`
	Frames    []Frame `json:"frames"`
	// Notes say why the walk ended early or what could not be read.
	Notes  []string      `json:"notes,omitempty"`
	Frozen time.Duration `json:"frozen_ns"`
	Err    string        `json:"error,omitempty"`

	gap int // index in Frames where the Omitted frames were cut out, or -1
}

func (f *Frame) String() string {
	switch f.Kind {
	case Kernel:
		return fmt.Sprintf("%s+0x%x [kernel]", f.Function, f.Offset)
	case Signal:
		return "<signal handler called>"
	}
	s := fmt.Sprintf("0x%016x in %s", f.PC, orUnknown(f.Function))
	if f.File != "" {
		s += fmt.Sprintf(" at %s:%d", f.File, f.Line)
	} else if f.Module != "" {
		s += " from " + f.Module
	}
	if f.Kind == Inline {
		s += " [inlined]"
	}
	if f.Note != "" {
		s += " (" + f.Note + ")"
	}
	return s
}

func orUnknown(s string) string {
	if s == "" {
		return "??"
	}
	return s
}

// MarshalJSON writes the PC as a hex string, as the JSON contract in
// docs/json.md promises; kernel frames have none.
func (f Frame) MarshalJSON() ([]byte, error) {
	type plain Frame // no methods: no recursion
	out := struct {
		Kind Kind   `json:"kind"`
		PC   string `json:"pc,omitempty"`
		plain
	}{Kind: f.Kind, plain: plain(f)}
	if f.Kind != Kernel {
		out.PC = fmt.Sprintf("0x%x", f.PC)
	}
	return json.Marshal(out)
}
