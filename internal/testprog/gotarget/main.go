// Command gotarget is a Go target process for taiji's stack tests.
//
// It parks goroutines in distinct, stable states, prints "ready" once the
// runtime shows all of them parked, and then blocks forever:
//
//   - chanRecvHost: a goroutine blocked receiving from a channel;
//   - selectHost: a goroutine blocked in select {};
//   - syscallHost: a goroutine (and so an OS thread) blocked in read(2) on a
//     pipe nobody writes, called through the inlined chain
//     syscallOuterInline -> syscallLeafInline, so the thread's stack, which
//     gdb can see, contains inlined frames;
//   - recurse: 200 levels of non-inlined recursion, then a channel receive;
//   - inlineHost: a channel receive inside inlined outerInline -> leafInline.
//
// The garbage collector is switched off so that nothing runs after "ready".
//
// With GOTARGET_TRACEBACK=1 in its environment it first prints the Go
// runtime's own traceback of every goroutine (runtime.Stack) between the
// lines "traceback" and "end traceback": an oracle for the goroutine
// stacks that no debugger has to agree with.
package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"
)

var (
	never  = make(chan int) // nobody ever sends
	sink   int
	readFD int
)

//go:noinline
func chanRecvHost() {
	sink += <-never
}

//go:noinline
func selectHost() {
	select {}
}

// syscallLeafInline and syscallOuterInline are small enough to be inlined
// into syscallHost.
func syscallLeafInline(fd int) int {
	var b [1]byte
	n, _ := syscall.Read(fd, b[:])
	return n + 1
}

func syscallOuterInline(fd int) int {
	return syscallLeafInline(fd) * 2
}

//go:noinline
func syscallHost(fd int) {
	sink += syscallOuterInline(fd)
}

//go:noinline
func recurse(n int) int {
	if n == 0 {
		return <-never
	}
	return recurse(n-1) + n
}

func leafInline() int {
	return <-never + 3
}

func outerInline() int {
	return leafInline() * 5
}

//go:noinline
func inlineHost() {
	sink += outerInline()
}

// parked reports whether runtime.Stack shows every goroutine state the tests
// rely on.
func parked() bool {
	buf := make([]byte, 1<<20)
	s := string(buf[:runtime.Stack(buf, true)])
	for _, want := range []string{
		"main.chanRecvHost", "main.selectHost", "main.syscallHost",
		"main.recurse", "main.inlineHost", "[select (no cases)]", "[syscall",
	} {
		if !strings.Contains(s, want) {
			return false
		}
	}
	// The syscall goroutine must really be inside read(2): the runtime marks
	// it "[syscall]" on entering, a moment before the kernel blocks it.
	return threadInRead()
}

// threadInRead reports whether some thread of this process is asleep in
// read(2), as /proc/self/task/*/syscall shows.
func threadInRead() bool {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return false
	}
	for _, t := range tasks {
		b, err := os.ReadFile("/proc/self/task/" + t.Name() + "/syscall")
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		if len(f) > 0 && f[0] == fmt.Sprint(syscall.SYS_READ) {
			st, err := os.ReadFile("/proc/self/task/" + t.Name() + "/stat")
			if err == nil {
				s := string(st)
				if i := strings.LastIndexByte(s, ')'); i >= 0 && strings.HasPrefix(s[i:], ") S") {
					return true
				}
			}
		}
	}
	return false
}

func main() {
	debug.SetGCPercent(-1)
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil { // blocking fds, unlike os.Pipe
		fmt.Fprintln(os.Stderr, "gotarget:", err)
		os.Exit(2)
	}
	readFD = p[0]

	go chanRecvHost()
	go selectHost()
	go syscallHost(readFD)
	go func() { sink += recurse(200) }()
	go inlineHost()

	for !parked() {
		time.Sleep(time.Millisecond)
	}
	if os.Getenv("GOTARGET_TRACEBACK") == "1" {
		buf := make([]byte, 1<<20)
		fmt.Printf("traceback\n%s\nend traceback\n", buf[:runtime.Stack(buf, true)])
		// Stopping the world for runtime.Stack can wake or start threads:
		// let them settle before saying ready.
		time.Sleep(100 * time.Millisecond)
		for !parked() {
			time.Sleep(time.Millisecond)
		}
	}
	fmt.Println("ready")
	sink += <-never
}
