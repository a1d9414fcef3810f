// Command gotarget is the Go target of debugger/eval's tests. Each line
// read from stdin runs inspect once; inspect prints the values the tests
// compare with (the oracle is the program itself) and stops on the line
// marked BREAK, where the test has planted a breakpoint. After the
// breakpoint it prints "after counter=N local=N" so the test sees what
// set wrote.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
)

type U struct {
	X uint16
	Y bool
}

type T struct {
	A   int
	S   string
	P   *T
	U   U
	Arr [3]int8
	F   float64
}

var counter int64 = 42

var gerr error = errors.New("boom")

var giface any = T{A: 7, S: "in iface"}

var gmap = map[string]int{"a": 1, "b": 2, "c": 3}

var gbig = map[int]int{}

var gch = make(chan int, 10)

var gslice = []string{"x", "yy", "zzz"}

//go:noinline
func stop(t *T) int { return t.A }

//go:noinline
func inspect(n int, s string) int {
	i8, i16, i32, i64 := int8(-8), int16(-1600), int32(-320000), int64(-64000000000)
	u8, u16, u32, u64 := uint8(200), uint16(65000), uint32(4000000000), uint64(1<<63+5)
	f := 3.5
	sl := []int{10, 20, 30, 40}
	t := &T{A: 1, S: "hello", P: &T{A: 2, S: "child"}, U: U{X: 9, Y: true}, Arr: [3]int8{1, -2, 3}, F: 2.25}
	var e error = errors.New("boom")
	var ifc any = T{A: 7, S: "in iface"}
	local := 5
	fmt.Printf("addr t=%p counter=%p sl0=%p local=%p\n", t, &counter, &sl[0], &local)
	fmt.Printf("values n=%d s=%s len(gmap)=%d cap(gch)=%d\n", n, s, len(gmap), cap(gch))
	r := stop(t) // BREAK
	fmt.Printf("after counter=%d local=%d t.A=%d\n", counter, local, t.A)
	return r + n + len(s) + int(i8) + int(i16) + int(i32) + int(i64) + int(u8) + int(u16) + int(u32) + int(u64) +
		int(f) + len(sl) + len(e.Error()) + len(ifc.(T).S) + local
}

func main() {
	for i := 0; i < 100; i++ {
		gbig[i] = i * i
	}
	gch <- 1
	gch <- 2
	fmt.Println("ready", len(gslice), gerr != nil, giface != nil)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		inspect(5, "arg")
	}
}
