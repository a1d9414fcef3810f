package goabi

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"unicode"
)

// Sig is a function signature written by a user, for binaries without
// DWARF: `main.Mix(a int64, s string, bs []byte) (int64, error)`.
type Sig struct {
	Func    string
	Args    []Param
	Results []Param
}

// A SyntaxError reports a signature that does not parse.
type SyntaxError struct {
	Sig string
	Pos int
	Msg string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("--sig %q: at offset %d: %s", e.Sig, e.Pos, e.Msg)
}

// ParseSig parses a Go function signature. Types are Go's predeclared
// types, pointers, slices, arrays, maps and chans of them, error and any;
// parameter names are optional, and `a, b int` shares a type as in Go.
// Unnamed results are called ~r0, ~r1, ... as the compiler does.
func ParseSig(s string, ptr int64) (*Sig, error) {
	p := &sigParser{src: s, ptr: ptr}
	sig, err := p.parse()
	if err != nil {
		return nil, err
	}
	return sig, nil
}

type sigParser struct {
	src string
	pos int
	ptr int64
}

func (p *sigParser) fail(format string, args ...any) error {
	return &SyntaxError{Sig: p.src, Pos: p.pos, Msg: fmt.Sprintf(format, args...)}
}

func (p *sigParser) skip() {
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t') {
		p.pos++
	}
}

func (p *sigParser) peek() byte {
	p.skip()
	if p.pos < len(p.src) {
		return p.src[p.pos]
	}
	return 0
}

func (p *sigParser) accept(c byte) bool {
	if p.peek() == c {
		p.pos++
		return true
	}
	return false
}

func (p *sigParser) parse() (*Sig, error) {
	p.skip()
	start := p.pos
	// Function names contain dots, slashes, parens and stars:
	// net/http.(*conn).serve. The parameter list is the last "(" whose
	// matching ")" is followed by nothing or a result list.
	depth := 0
	open := -1
	for i := start; i < len(p.src); i++ {
		switch p.src[i] {
		case '(':
			if depth == 0 && i > start && p.src[i-1] != '.' {
				open = i
			}
			depth++
		case ')':
			depth--
		}
		if open >= 0 {
			break
		}
	}
	if open < 0 {
		return nil, p.fail("want NAME(PARAMS) RESULTS")
	}
	sig := &Sig{Func: strings.TrimSpace(p.src[start:open])}
	if sig.Func == "" {
		return nil, p.fail("missing function name")
	}
	p.pos = open + 1
	var err error
	if sig.Args, err = p.params(); err != nil {
		return nil, err
	}
	switch p.peek() {
	case 0:
	case '(':
		p.pos++
		if sig.Results, err = p.params(); err != nil {
			return nil, err
		}
	default:
		t, err := p.typ(0)
		if err != nil {
			return nil, err
		}
		sig.Results = []Param{{Type: t}}
	}
	if p.peek() != 0 {
		return nil, p.fail("unexpected %q after the signature", p.src[p.pos:])
	}
	for i := range sig.Results {
		if sig.Results[i].Name == "" {
			sig.Results[i].Name = "~r" + strconv.Itoa(i)
		}
	}
	for i := range sig.Args {
		if sig.Args[i].Name == "" {
			sig.Args[i].Name = "~p" + strconv.Itoa(i)
		}
	}
	return sig, nil
}

// params parses a parameter list after its "(" up to and including ")".
func (p *sigParser) params() ([]Param, error) {
	var out []Param
	var pendingNames []string // `a, b int`: names waiting for a type
	for {
		if p.accept(')') {
			if len(pendingNames) > 0 {
				// They were types after all: `(int, string)`.
				for _, n := range pendingNames {
					t := Builtin(n, p.ptr)
					if t == nil {
						return nil, p.fail("unknown type %q", n)
					}
					out = append(out, Param{Type: t})
				}
			}
			return out, nil
		}
		save := p.pos
		name := p.ident()
		var t *Type
		var err error
		switch c := p.peek(); {
		case name != "" && (c == ',' || c == ')'):
			// A lone identifier: a name sharing the next type, or a type.
			pendingNames = append(pendingNames, name)
			if c == ',' {
				p.pos++
			}
			continue
		case name != "" && c != 0 && c != '.':
			if t, err = p.typ(0); err != nil {
				return nil, err
			}
			for _, n := range pendingNames {
				out = append(out, Param{Name: n, Type: t})
			}
			pendingNames = nil
			out = append(out, Param{Name: name, Type: t})
		default:
			p.pos = save
			// Lone identifiers before an unnamed type were types too:
			// `(int64, [2]int64)`.
			for _, n := range pendingNames {
				pt := Builtin(n, p.ptr)
				if pt == nil {
					return nil, p.fail("unknown type %q", n)
				}
				out = append(out, Param{Type: pt})
			}
			pendingNames = nil
			if t, err = p.typ(0); err != nil {
				return nil, err
			}
			out = append(out, Param{Type: t})
		}
		if !p.accept(',') && p.peek() != ')' {
			return nil, p.fail("want , or )")
		}
		if len(out) > 256 {
			return nil, p.fail("too many parameters")
		}
	}
}

func (p *sigParser) ident() string {
	p.skip()
	start := p.pos
	for p.pos < len(p.src) {
		r := rune(p.src[p.pos])
		if r == '_' || r == '~' || unicode.IsLetter(r) || (p.pos > start && unicode.IsDigit(r)) {
			p.pos++
			continue
		}
		break
	}
	return p.src[start:p.pos]
}

func (p *sigParser) typ(depth int) (*Type, error) {
	if depth > 16 {
		return nil, p.fail("type nests too deeply")
	}
	switch {
	case p.accept('*'):
		e, err := p.typ(depth + 1)
		if err != nil {
			return nil, err
		}
		return &Type{Name: "*" + e.Name, Kind: reflect.Pointer, Size: p.ptr, Align: p.ptr, Elem: e}, nil
	case p.accept('['):
		if p.accept(']') {
			e, err := p.typ(depth + 1)
			if err != nil {
				return nil, err
			}
			return &Type{Name: "[]" + e.Name, Kind: reflect.Slice, Size: 3 * p.ptr, Align: p.ptr, Elem: e}, nil
		}
		p.skip()
		start := p.pos
		for p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '9' {
			p.pos++
		}
		n, err := strconv.ParseInt(p.src[start:p.pos], 10, 32)
		if err != nil || !p.accept(']') {
			return nil, p.fail("bad array length")
		}
		e, err := p.typ(depth + 1)
		if err != nil {
			return nil, err
		}
		if e.Size > 0 && n > (1<<40)/e.Size {
			return nil, p.fail("array too large")
		}
		return &Type{Name: fmt.Sprintf("[%d]%s", n, e.Name), Kind: reflect.Array, Size: n * e.Size, Align: e.Align, Elem: e, Len: n}, nil
	}
	name := p.ident()
	switch name {
	case "":
		return nil, p.fail("want a type")
	case "map":
		if !p.accept('[') {
			return nil, p.fail("want map[")
		}
		k, err := p.typ(depth + 1)
		if err != nil {
			return nil, err
		}
		if !p.accept(']') {
			return nil, p.fail("want ]")
		}
		v, err := p.typ(depth + 1)
		if err != nil {
			return nil, err
		}
		return &Type{Name: "map[" + k.Name + "]" + v.Name, Kind: reflect.Map, Size: p.ptr, Align: p.ptr, Elem: v}, nil
	case "chan":
		e, err := p.typ(depth + 1)
		if err != nil {
			return nil, err
		}
		return &Type{Name: "chan " + e.Name, Kind: reflect.Chan, Size: p.ptr, Align: p.ptr, Elem: e}, nil
	case "unsafe":
		if p.accept('.') && p.ident() == "Pointer" {
			return Builtin("unsafe.Pointer", p.ptr), nil
		}
		return nil, p.fail("want unsafe.Pointer")
	case "interface":
		if p.accept('{') && p.accept('}') {
			return Builtin("any", p.ptr), nil
		}
		return nil, p.fail("only interface{} is supported")
	}
	if t := Builtin(name, p.ptr); t != nil {
		return t, nil
	}
	return nil, p.fail("unknown type %q (use predeclared types, pointers, slices, arrays, maps, chans)", name)
}
