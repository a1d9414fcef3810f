// Command tracecases is what taiji trace's tests trace on every Go
// release: generic functions and methods (a hidden dictionary argument),
// results with defers and recover (two DWARF entries per result), closures
// (for globs), a chain of twelve struct types linked by pointers (a
// parameter type nested deeper than taiji decodes), and a net/http server.
// Each call prints, as one JSON line on stdout, what it passed and what
// came back, with type arguments left out of the function's name:
//
//	{"function":"main.F","args":{"v":3},"results":{"~r0":3}}
//
// Modes (first argument): values, http (serves on 127.0.0.1, prints
// "listening ADDR" on stderr, and shuts down when stdin closes).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
	"unsafe"
)

func report(fn string, args, results map[string]any) {
	b, _ := json.Marshal(map[string]any{"function": fn, "args": args, "results": results})
	fmt.Println(string(b))
}

//go:noinline
func F[T any](v T) T { return v }

// Pair has two type parameters, so its shaped functions have two.
//
//go:noinline
func Pair[K comparable, V any](k K, v V, n int) int { return n + 1 }

type Box[T any] struct{ V T }

//go:noinline
func (b *Box[T]) Get(x int) T { return b.V }

//go:noinline
func (b Box[T]) Val(x int) int { return x * 2 }

//go:noinline
func safe(n int) (r int) {
	defer func() {
		if recover() != nil {
			r = -1
		}
	}()
	if n < 0 {
		panic("negative")
	}
	return n * 10
}

var sink int

//go:noinline
func unnamed(n int) int {
	defer func() { sink++ }()
	return n * 10
}

//go:noinline
func named(a, b int) (sum int, diff int) {
	sum, diff = a+b, a-b
	return
}

//go:noinline
func twoDefer(s string) (n int, err error) {
	defer func() { n++ }()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	if s == "" {
		panic("empty")
	}
	return len(s), nil
}

// T0 .. T11: each links to the next by a pointer.
type (
	T0 struct {
		V int
		P *T1
	}
	T1 struct {
		V int
		P *T2
	}
	T2 struct {
		V int
		P *T3
	}
	T3 struct {
		V int
		P *T4
	}
	T4 struct {
		V int
		P *T5
	}
	T5 struct {
		V int
		P *T6
	}
	T6 struct {
		V int
		P *T7
	}
	T7 struct {
		V int
		P *T8
	}
	T8 struct {
		V int
		P *T9
	}
	T9 struct {
		V int
		P *T10
	}
	T10 struct {
		V int
		P *T11
	}
	T11 struct {
		V int
		P *T0
	}
)

//go:noinline
func Deep(t T0, n int) int { return t.V + n }

//go:noinline
func call(f func(int) int, n int) int { return f(n) }

func values() {
	report("main.F", map[string]any{"v": 3}, map[string]any{"~r0": F(3)})
	report("main.F", map[string]any{"v": "test"}, map[string]any{"~r0": F("test")})
	// Every pointer type argument shares one shape (go.shape.*uint8): the
	// value is shown as an address, not as what a *uint8 would point to.
	pb := &Box[int]{V: 9}
	report("main.F", map[string]any{"v": ptr(unsafe.Pointer(pb))}, map[string]any{"~r0": ptr(unsafe.Pointer(F(pb)))})
	report("main.Pair", map[string]any{"k": "key", "v": 7, "n": 4}, map[string]any{"~r0": Pair("key", 7, 4)})
	b := &Box[string]{V: "boxed"}
	report("main.(*Box).Get", map[string]any{"b": object(b, map[string]any{"V": "boxed"}), "x": 7}, map[string]any{"~r0": b.Get(7)})
	report("main.Box.Val", map[string]any{"b": map[string]any{"V": 1}, "x": 5}, map[string]any{"~r0": Box[int]{V: 1}.Val(5)})
	report("main.safe", map[string]any{"n": 1}, map[string]any{"r": safe(1)})
	report("main.safe", map[string]any{"n": -3}, map[string]any{"r": safe(-3)})
	report("main.unnamed", map[string]any{"n": 2}, map[string]any{"~r0": unnamed(2)})
	s, d := named(9, 4)
	report("main.named", map[string]any{"a": 9, "b": 4}, map[string]any{"sum": s, "diff": d})
	n, err := twoDefer("abc")
	report("main.twoDefer", map[string]any{"s": "abc"}, map[string]any{"n": n, "err": errString(err)})
	n, err = twoDefer("") // panics, and a defer recovers
	report("main.twoDefer", map[string]any{"s": ""}, map[string]any{"n": n, "err": errString(err)})
	t := T0{V: 40, P: &T1{V: 1, P: &T2{V: 2}}}
	// taiji shows a pointer's target one level down, then its address.
	tv := map[string]any{"V": 40, "P": object(t.P, map[string]any{"V": 1, "P": ptr(unsafe.Pointer(t.P.P))})}
	report("main.Deep", map[string]any{"t": tv, "n": 2}, map[string]any{"~r0": Deep(t, 2)})
	k := 5
	f := func(x int) int { return x + k }
	report("main.values.func1", map[string]any{"x": 6}, map[string]any{"~r0": call(f, 6)})
}

// ptr and object are how taiji shows a pointer: its address, and with the
// value it points to.
func ptr(p unsafe.Pointer) string { return fmt.Sprintf("%#x", uintptr(p)) }

func object[T any](p *T, v any) map[string]any {
	return map[string]any{"ptr": ptr(unsafe.Pointer(p)), "value": v}
}

// errString is how taiji shows an error made by errors.New (or fmt.Errorf
// without %w): its dynamic type and the fields of what it points to.
func errString(err error) any {
	if err == nil {
		return nil
	}
	return map[string]any{"type": fmt.Sprintf("%T", err), "value": map[string]any{"s": err.Error()}}
}

func serveHTTP() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s\n", r.URL.Path)
	})}
	go srv.Serve(ln)
	fmt.Fprintln(os.Stderr, "listening", ln.Addr())
	bufio.NewReader(os.Stdin).ReadString('\n') // until stdin closes
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
	// Shutdown returns once every connection is closed, a moment before
	// the goroutines that served them return.
	time.Sleep(200 * time.Millisecond)
}

func main() {
	switch os.Args[1] {
	case "values":
		values()
	case "http":
		serveHTTP()
	}
}
