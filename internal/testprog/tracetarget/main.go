// Command tracetarget is the program taiji trace's tests trace. Each mode
// calls traced functions with known values and prints, as one JSON object
// per call, what it passed and what came back, so a test can compare taiji's
// decoding with the truth:
//
//	{"function":"main.Mix","args":{"a":40,...},"results":{"~r0":48,...}}
//
// Modes (first argument): types N, grow N, recurse N, goroutines N, spin N,
// pace RATE SECONDS (about RATE calls of Spin per second for SECONDS seconds,
// paced every millisecond), chain N (main.main -> main.A -> main.B ->
// main.Mix, N times).
// With -wait, it prints "ready" and waits for a line on stdin before starting,
// so a tracer can attach to it by PID.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

//go:noinline
func Mix(a int64, b uint8, ok bool, s string, bs []byte) (int64, string) {
	if ok {
		return a + int64(b) + int64(len(bs)), s + "!"
	}
	return a - int64(b), s + "?"
}

//go:noinline
func Ints(a int8, b int16, c int32, d int64, e uint, f uint16, g uint32, h uint64, u uintptr, i int) int {
	return int(a) + int(b) + int(c) + int(d) + int(e) + int(f) + int(g) + int(h) + int(u) + i
}

// Point is passed in registers (it fits) and by pointer.
type Point struct {
	X, Y int32
	Name string
}

//go:noinline
func Move(p Point, dx int32) Point {
	p.X += dx
	return p
}

//go:noinline
func Fail(n int) error {
	switch n % 3 {
	case 0:
		return nil
	case 1:
		return errors.New("boom " + strconv.Itoa(n))
	}
	return &MyError{Code: n}
}

// MyError is an error type of the target's own.
type MyError struct{ Code int }

func (e *MyError) Error() string { return fmt.Sprint("code ", e.Code) }

// Many has more arguments than registers, and an array, so some go on the stack.
//
//go:noinline
func Many(a, b, c, d, e, f, g, h, i, j, k int64, arr [3]int32, tail string) (int64, [2]int64) {
	return a + b + c + d + e + f + g + h + i + j + k + int64(arr[0]+arr[1]+arr[2]) + int64(len(tail)), [2]int64{a, k}
}

//go:noinline
func Slices(xs []int64, names []string, p *Point, m map[string]int, ch chan int) int {
	return len(xs) + len(names) + len(m) + cap(ch)
}

//go:noinline
func Recurse(n int) int {
	if n <= 0 {
		return 0
	}
	return Recurse(n-1) + 1
}

// Grow uses a big frame and recursion, so goroutines calling it grow (and
// the runtime copies) their stacks again and again.
//
//go:noinline
func Grow(n int) int {
	var buf [512]byte
	buf[n%512] = byte(n)
	if n <= 0 {
		return int(buf[0])
	}
	return Grow(n-1) + int(buf[n%512]&1)
}

//go:noinline
func Spin(i int) int { return i*2 + 1 }

// A and B make a known call chain above Mix for --stack.
//
//go:noinline
func A(i int) int64 { return B(i) + 1 }

//go:noinline
func B(i int) int64 {
	r, _ := Mix(int64(i), 1, true, "chain", nil)
	return r
}

var out = bufio.NewWriter(os.Stdout)
var mu sync.Mutex

func report(fn string, args, results map[string]any) {
	b, _ := json.Marshal(map[string]any{"function": fn, "args": args, "results": results})
	mu.Lock()
	out.Write(append(b, '\n'))
	mu.Unlock()
}

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "-wait" {
		fmt.Println("ready")
		bufio.NewReader(os.Stdin).ReadString('\n')
		args = args[1:]
	}
	mode, n := "types", 3
	if len(args) > 0 {
		mode = args[0]
	}
	if len(args) > 1 {
		n, _ = strconv.Atoi(args[1])
	}
	defer out.Flush()
	switch mode {
	case "types":
		for i := 0; i < n; i++ {
			a, s, bs := int64(40+i), "hello", []byte("cccccc"[:i%7])
			r0, r1 := Mix(a, 2, i%2 == 0, s, bs)
			report("main.Mix", map[string]any{"a": a, "b": 2, "ok": i%2 == 0, "s": s, "bs": string(bs)},
				map[string]any{"~r0": r0, "~r1": r1})
			r := Ints(int8(-i-1), -300, -70000, -1<<40, uint(i), 65535, 1<<31, 1<<63+5, 0xdead, i)
			report("main.Ints", map[string]any{"a": -i - 1, "b": -300, "c": -70000, "d": -1 << 40, "e": i, "f": 65535,
				"g": 1 << 31, "h": uint64(1<<63 + 5), "u": 0xdead, "i": i}, map[string]any{"~r0": r})
			p := Point{X: int32(i), Y: -7, Name: "pt" + strconv.Itoa(i)}
			q := Move(p, 3)
			report("main.Move", map[string]any{"p": map[string]any{"X": p.X, "Y": p.Y, "Name": p.Name}, "dx": 3},
				map[string]any{"~r0": map[string]any{"X": q.X, "Y": q.Y, "Name": q.Name}})
			err := Fail(i)
			var ev any
			switch e := err.(type) {
			case nil:
			case *MyError:
				ev = map[string]any{"type": "*main.MyError", "value": map[string]any{"Code": e.Code}}
			default:
				ev = map[string]any{"type": "*errors.errorString", "value": map[string]any{"s": e.Error()}}
			}
			report("main.Fail", map[string]any{"n": i}, map[string]any{"~r0": ev})
			tail := "tail" + strconv.Itoa(i)
			m0, m1 := Many(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, int64(11+i), [3]int32{int32(i), 2, 3}, tail)
			report("main.Many", map[string]any{"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6, "g": 7, "h": 8, "i": 9, "j": 10,
				"k": 11 + i, "arr": []any{i, 2, 3}, "tail": tail}, map[string]any{"~r0": m0, "~r1": []any{m1[0], m1[1]}})
		}
	case "grow":
		// n calls of Grow from fresh goroutines, each growing its stack.
		var wg sync.WaitGroup
		total := 0
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < n/8/64; i++ {
					done := make(chan int)
					go func() { done <- Grow(63) }() // 64 calls on a new, small stack
					<-done
				}
			}()
			total += n / 8 / 64 * 64
		}
		wg.Wait()
		fmt.Fprintf(out, "grow done calls=%d\n", total)
	case "recurse":
		r := Recurse(n)
		fmt.Fprintf(out, "recurse done %d\n", r)
	case "goroutines":
		var wg sync.WaitGroup
		for g := 0; g < n; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := "g" + strconv.Itoa(g)
				a, r1 := Mix(int64(g), 1, true, s, []byte(s))
				report("main.Mix", map[string]any{"a": g, "b": 1, "ok": true, "s": s, "bs": s}, map[string]any{"~r0": a, "~r1": r1})
			}()
		}
		wg.Wait()
	case "spin":
		s := 0
		for i := 0; i < n; i++ {
			s += Spin(i)
		}
		fmt.Fprintf(out, "spin done calls=%d sum=%d\n", n, s)
	case "pace":
		// Hold a steady rate so per-event mode can be judged at a known
		// load: catch up to rate*elapsed every millisecond.
		secs := 3.0
		if len(args) > 2 {
			secs, _ = strconv.ParseFloat(args[2], 64)
		}
		start, calls, s := time.Now(), 0, 0
		for {
			el := time.Since(start).Seconds()
			if el >= secs {
				break
			}
			for want := int(float64(n) * el); calls < want; calls++ {
				s += Spin(calls)
			}
			time.Sleep(time.Millisecond)
		}
		el := time.Since(start).Seconds()
		fmt.Fprintf(out, "pace done calls=%d rate=%.0f/s sum=%d\n", calls, float64(calls)/el, s)
	case "chain":
		var s int64
		for i := 0; i < n; i++ {
			s += A(i)
		}
		fmt.Fprintf(out, "chain done calls=%d sum=%d\n", n, s)
	}
}
