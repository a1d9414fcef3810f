// Package gotraceback reads the text of Go tracebacks: what runtime.Stack,
// a crash under GOTRACEBACK, /debug/pprof/goroutine?debug=2 and
// `taiji goroutines` print, in the format of every Go release from go1.19
// on (runtime/traceback.go: goroutineheader, traceback1, printcreatedby).
//
// A goroutine reads
//
//	goroutine 18 [chan receive, 12 minutes, locked to thread]:
//	main.worker(0xc000012345, {0x1, 0x2}, ...)
//		/src/app/worker.go:41 +0x3d
//	main.helper(...)
//		/src/app/worker.go:30
//	created by main.start in goroutine 1
//		/src/app/main.go:22 +0x85
//
// and goroutines are separated by blank lines. The header may carry
// " gp=0x... m=N mp=0x..." before the bracket (GOTRACEBACK=system and
// crashes from go1.23 on), the state " (scan)" or " (durable)" flags, and
// extra comma-separated notes such as go1.24's synctest group. A frame's
// position line may go on with " fp=0x... sp=0x... pc=0x..." (system
// level). "created by" has no " in goroutine N" before go1.21. A stack cut
// short reads "...additional frames elided..." (before go1.23) or "...N
// frames elided..." (the middle of a long stack, go1.23 on), and a
// goroutine running elsewhere while an unstopped world was dumped has the
// line "goroutine running on other thread; stack unavailable" instead of
// frames.
//
// The package is the test oracle of taiji goroutines: it parses the
// target's own dump and taiji's output, and Compare says where they differ.
package gotraceback

import (
	"fmt"
	"strconv"
	"strings"
)

// A Goroutine is one goroutine of a traceback.
type Goroutine struct {
	ID     int64
	State  string // the runtime's status or wait reason: "chan receive", "running", "GC worker (idle)"
	Scan   bool   // " (scan)": the garbage collector held the goroutine while it was dumped
	Leaked bool   // " (leaked)": found leaked by the garbage collector (go1.26 on)
	// Durable is " (durable)": durably blocked in a synctest bubble, a
	// flag in go1.25, part of the wait reason's name from go1.26 on; State
	// goes without it either way.
	Durable     bool
	WaitMinutes int      // ", N minutes": how long it has waited, when the runtime knows and it is at least one
	Locked      bool     // ", locked to thread"
	Extra       []string // other comma-separated notes of the header, verbatim ("synctest bubble 3")
	Labels      string   // the header's " labels:{...}" (GODEBUG=tracebacklabels=1), braces included
	// HeaderFields is what stands between the id and the bracket,
	// verbatim ("gp=0xc000007c40 m=nil"), at GOTRACEBACK=system or higher.
	HeaderFields string
	Frames       []Frame
	// Elided counts the frames left out: -1 for "...additional frames
	// elided..." (count unknown), N for "...N frames elided...", 0 if none.
	// ElidedAt is the index in Frames of the first frame after the cut.
	Elided      int
	ElidedAt    int
	Unavailable bool   // "goroutine running on other thread; stack unavailable"
	CreatedBy   *Frame // nil for goroutines the runtime started without a creator (main)
	CreatorGoid int64  // the " in goroutine N" of "created by" (go1.21 on), else 0
}

// A Frame is one function line and its position line.
type Frame struct {
	Func string // as printed: "main.worker", "sync.(*Mutex).Lock", "main.f[...]"
	// Args is what the parentheses after Func held, verbatim: "" for (),
	// "..." for inlined frames, "0xc000012345, {0x1, 0x2}" otherwise.
	// Always empty in CreatedBy.
	Args      string
	File      string
	Line      int
	Offset    uint64 // the pc's offset from the function's entry, when HasOffset
	HasOffset bool   // the position line had " +0x..." (physical frames past their entry)
	// Extra is what followed the position (and offset), verbatim:
	// "fp=0xc000 sp=0xc000 pc=0x4556" at GOTRACEBACK=system.
	Extra string
}

// Inlined reports whether the frame is a call inlined into its caller: the
// runtime prints those with "(...)" and no offset.
func (f Frame) Inlined() bool { return f.Args == "..." && !f.HasOffset }

// A SyntaxError reports a line that looks like part of a goroutine but
// cannot be read as one.
type SyntaxError struct {
	Line int    // 1-based
	Text string // the line, cut to 120 bytes
	Msg  string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("traceback line %d: %s: %q", e.Line, e.Msg, e.Text)
}

const (
	elidedOld   = "...additional frames elided..."
	unavailable = "goroutine running on other thread; stack unavailable"
)

// Parse reads every goroutine of a traceback text, in order. Text outside
// goroutines (a panic message, "exit status 2", a register dump) is
// skipped; a goroutine ends at a blank line or at the first line that is
// neither a frame nor one of the notes above. It returns a *SyntaxError for
// a malformed goroutine header ("goroutine N [..." not closed), or a
// function line whose position line is not "\tFILE:LINE[ +0xOFF]".
func Parse(text string) ([]Goroutine, error) {
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	var gs []Goroutine
	var cur *Goroutine
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		errAt := func(msg string) error {
			t := line
			if len(t) > 120 {
				t = t[:120]
			}
			return &SyntaxError{Line: i + 1, Text: t, Msg: msg}
		}
		if cur == nil {
			if !isHeader(line) {
				continue
			}
			g, ok := parseHeader(line)
			if !ok {
				return gs, errAt("malformed goroutine header")
			}
			gs = append(gs, g)
			cur = &gs[len(gs)-1]
			continue
		}
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "":
			cur = nil
		case trimmed == unavailable:
			cur.Unavailable = true
		case trimmed == elidedOld:
			cur.Elided, cur.ElidedAt = -1, len(cur.Frames)
		case isElidedN(trimmed):
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(trimmed, "..."), " frames elided..."))
			cur.Elided, cur.ElidedAt = n, len(cur.Frames)
		case isHeader(line):
			// No blank line before the next goroutine: accept it.
			i--
			cur = nil
		case strings.HasPrefix(line, "\t") || i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], "\t"):
			// Not a function line followed by its position: the
			// goroutine is over (trailing text of a crash or a test run).
			cur = nil
		case strings.HasPrefix(line, "created by "):
			fn, goid, ok := parseCreatedBy(line)
			if !ok {
				return gs, errAt(`malformed "created by" line`)
			}
			f := Frame{Func: fn}
			if !parsePosition(lines[i+1], &f) {
				i++
				return gs, errAt("malformed position line after \"created by\"")
			}
			cur.CreatedBy, cur.CreatorGoid = &f, goid
			i++
		default:
			fn, args, ok := splitCall(line)
			if !ok {
				cur = nil // a line of text that happens to precede a tab
				continue
			}
			f := Frame{Func: fn, Args: args}
			if !parsePosition(lines[i+1], &f) {
				i++
				return gs, errAt("malformed frame position, want \"\\tFILE:LINE [+0xOFF]\"")
			}
			cur.Frames = append(cur.Frames, f)
			i++
		}
	}
	return gs, nil
}

// isHeader reports whether line starts like a goroutine header:
// "goroutine " and a decimal id.
func isHeader(line string) bool {
	rest, ok := strings.CutPrefix(line, "goroutine ")
	return ok && len(rest) > 0 && rest[0] >= '0' && rest[0] <= '9'
}

func isElidedN(s string) bool {
	rest, ok := strings.CutPrefix(s, "...")
	if !ok {
		return false
	}
	num, ok := strings.CutSuffix(rest, " frames elided...")
	if !ok || num == "" {
		return false
	}
	n, err := strconv.Atoi(num)
	return err == nil && n > 0 // the runtime prints only positive counts
}

// parseHeader reads "goroutine ID [FIELDS] [STATE(, NOTE)*]:".
func parseHeader(line string) (Goroutine, bool) {
	var g Goroutine
	rest := strings.TrimPrefix(line, "goroutine ")
	end := 0
	for end < len(rest) && rest[end] >= '0' && rest[end] <= '9' {
		end++
	}
	id, err := strconv.ParseInt(rest[:end], 10, 64)
	if err != nil {
		return g, false
	}
	g.ID = id
	rest = rest[end:]
	open := strings.IndexByte(rest, '[')
	if open < 0 || !strings.HasSuffix(rest, "]:") || open > len(rest)-2 {
		return g, false
	}
	g.HeaderFields = strings.TrimSpace(rest[:open])
	inside := rest[open+1 : len(rest)-2]
	// Labels come last and may hold ", " themselves.
	if i := strings.Index(inside, " labels:{"); i >= 0 && strings.HasSuffix(inside, "}") {
		inside, g.Labels = inside[:i], inside[i+len(" labels:"):]
	}
	parts := strings.Split(inside, ", ")
	state := parts[0]
	for {
		if s, ok := strings.CutSuffix(state, " (scan)"); ok {
			state, g.Scan = s, true
		} else if s, ok := strings.CutSuffix(state, " (durable)"); ok {
			state, g.Durable = s, true
		} else if s, ok := strings.CutSuffix(state, " (leaked)"); ok {
			state, g.Leaked = s, true
		} else {
			break
		}
	}
	if state == "" {
		return g, false
	}
	g.State = state
	for _, p := range parts[1:] {
		if n, ok := strings.CutSuffix(p, " minutes"); ok {
			if m, err := strconv.Atoi(n); err == nil && m >= 0 {
				g.WaitMinutes = m
				continue
			}
		}
		if p == "locked to thread" {
			g.Locked = true
			continue
		}
		g.Extra = append(g.Extra, p)
	}
	return g, true
}

// parseCreatedBy reads "created by FUNC[ in goroutine N]".
func parseCreatedBy(line string) (fn string, goid int64, ok bool) {
	rest := strings.TrimSpace(strings.TrimPrefix(line, "created by "))
	if i := strings.LastIndex(rest, " in goroutine "); i >= 0 {
		n, err := strconv.ParseInt(rest[i+len(" in goroutine "):], 10, 64)
		if err != nil || n < 0 {
			return "", 0, false
		}
		rest, goid = rest[:i], n
	}
	if rest == "" || strings.ContainsAny(rest, " \t") {
		return "", 0, false
	}
	return rest, goid, true
}

// splitCall splits "FUNC(ARGS)" at the parenthesis that opens the
// argument list: the one matching the last byte. FUNC may hold parentheses
// and brackets of its own: "sync.(*Mutex).Lock", "main.f[...]".
func splitCall(line string) (fn, args string, ok bool) {
	if !strings.HasSuffix(line, ")") {
		return "", "", false
	}
	depth := 0
	for i := len(line) - 1; i >= 0; i-- {
		switch line[i] {
		case ')':
			depth++
		case '(':
			depth--
			if depth == 0 {
				fn, args = line[:i], line[i+1:len(line)-1]
				if fn == "" || strings.ContainsAny(fn, " \t") {
					return "", "", false
				}
				return fn, args, true
			}
		}
	}
	return "", "", false
}

// parsePosition reads "\tFILE:LINE[ +0xOFF][ EXTRA]" into f.
func parsePosition(line string, f *Frame) bool {
	pos, ok := strings.CutPrefix(line, "\t")
	if !ok {
		return false
	}
	// FILE may contain spaces and colons; LINE is the decimal number after
	// the last colon before the first " +0x" or the first space after it.
	rest := ""
	if i := strings.Index(pos, " +0x"); i >= 0 {
		pos, rest = pos[:i], pos[i+1:]
	}
	colon := strings.LastIndexByte(pos, ':')
	if colon < 0 {
		return false
	}
	num := pos[colon+1:]
	if sp := strings.IndexByte(num, ' '); sp >= 0 && rest == "" {
		num, rest = num[:sp], strings.TrimSpace(num[sp+1:])
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 0 || colon == 0 {
		return false
	}
	f.File, f.Line = pos[:colon], n
	if off, ok := strings.CutPrefix(rest, "+0x"); ok {
		hex, extra, _ := strings.Cut(off, " ")
		v, err := strconv.ParseUint(hex, 16, 64)
		if err != nil {
			return false
		}
		f.Offset, f.HasOffset = v, true
		rest = strings.TrimSpace(extra)
	}
	f.Extra = rest
	return true
}

// Format prints goroutines back in the runtime's format, blank lines
// between them: Parse(Format(gs)) gives gs again.
func Format(gs []Goroutine) string {
	var b strings.Builder
	for i, g := range gs {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(g.String())
	}
	return b.String()
}

// String prints one goroutine in the runtime's format, ending in a newline.
func (g Goroutine) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "goroutine %d ", g.ID)
	if g.HeaderFields != "" {
		b.WriteString(g.HeaderFields + " ")
	}
	b.WriteString("[" + g.State)
	if g.Leaked {
		b.WriteString(" (leaked)")
	}
	if g.Scan {
		b.WriteString(" (scan)")
	}
	if g.Durable {
		b.WriteString(" (durable)")
	}
	if g.WaitMinutes > 0 {
		fmt.Fprintf(&b, ", %d minutes", g.WaitMinutes)
	}
	if g.Locked {
		b.WriteString(", locked to thread")
	}
	for _, e := range g.Extra {
		b.WriteString(", " + e)
	}
	if g.Labels != "" {
		b.WriteString(" labels:" + g.Labels)
	}
	b.WriteString("]:\n")
	if g.Unavailable {
		b.WriteString("\t" + unavailable + "\n")
	}
	for i := 0; i <= len(g.Frames); i++ {
		if i == g.ElidedAt {
			switch {
			case g.Elided < 0:
				b.WriteString(elidedOld + "\n")
			case g.Elided > 0:
				fmt.Fprintf(&b, "...%d frames elided...\n", g.Elided)
			}
		}
		if i < len(g.Frames) {
			f := g.Frames[i]
			b.WriteString(f.Func + "(" + f.Args + ")\n" + f.position() + "\n")
		}
	}
	if c := g.CreatedBy; c != nil {
		b.WriteString("created by " + c.Func)
		if g.CreatorGoid != 0 {
			fmt.Fprintf(&b, " in goroutine %d", g.CreatorGoid)
		}
		b.WriteString("\n" + c.position() + "\n")
	}
	return b.String()
}

// position prints "\tFILE:LINE[ +0xOFF][ EXTRA]".
func (f Frame) position() string {
	s := "\t" + f.File + ":" + strconv.Itoa(f.Line)
	if f.HasOffset {
		s += " +0x" + strconv.FormatUint(f.Offset, 16)
	}
	if f.Extra != "" {
		s += " " + f.Extra
	}
	return s
}
