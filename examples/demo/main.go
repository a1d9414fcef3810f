// Command demo is the example program `make demo` runs taiji on: a few
// goroutines parked in different ways, one thread blocked in a read system
// call, and a function, Mix, called in a loop so `taiji trace` has
// something to show.
package main

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"
)

//go:noinline
func Mix(a int64, b uint8, ok bool, s string, bs []byte) (int64, string) {
	if ok {
		return a + int64(b) + int64(len(bs)), s + "!"
	}
	return a - int64(b), strings.ToUpper(s)
}

//go:noinline
func waitForInput(fd int) {
	var buf [1]byte
	syscall.Read(fd, buf[:]) // blocks: nobody writes
}

//go:noinline
func parkForever(ch chan int) int { return <-ch }

//go:noinline
func deep(n int) int {
	if n == 0 {
		return parkForever(make(chan int))
	}
	return deep(n-1) + 1
}

func main() {
	r, _, err := os.Pipe()
	if err != nil {
		panic(err)
	}
	go waitForInput(int(r.Fd()))
	go deep(8)
	go parkForever(make(chan int))
	fmt.Fprintln(os.Stderr, "demo: running, pid", os.Getpid())
	for i := int64(0); ; i++ {
		n, s := Mix(i, 2, i%2 == 0, "hello", []byte("cccccc"))
		_, _ = n, s
		time.Sleep(100 * time.Millisecond)
	}
}
