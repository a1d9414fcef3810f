// Command injectgo is the Go target of taiji inject's tests: a goroutine
// spins on a counter, a goroutine locked to its thread loops on
// nanosleep(2) and reports from inside how long each sleep took and what it
// returned, and main blocks on a channel. It prints "counter ADDR",
// "sleeper TID", then "ready". argv[1] is the sleep length in milliseconds.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

var counter atomic.Uint64

func main() {
	// The sleeper reports how long nanosleep took, measured once it runs
	// Go code again, which needs a P. With one CPU (the mips VM) the only P
	// belongs to the spinner and the report would include the wait for it:
	// extra Ps make it measure the system call, not the scheduler.
	runtime.GOMAXPROCS(max(4, runtime.NumCPU()))
	ms := int64(2000)
	if len(os.Args) > 1 {
		ms, _ = strconv.ParseInt(os.Args[1], 10, 64)
	}
	fmt.Printf("counter %#x\n", uintptr(unsafe.Pointer(&counter)))
	started := make(chan int)
	go func() {
		for {
			counter.Add(1)
		}
	}()
	go func() {
		runtime.LockOSThread()
		started <- syscall.Gettid()
		for {
			req := syscall.NsecToTimespec(ms * int64(time.Millisecond))
			t0 := time.Now()
			// Raw nanosleep, not time.Sleep: the test interrupts a thread
			// blocked in this very system call.
			_, _, e := syscall.Syscall(syscall.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&req)), 0, 0)
			r := 0
			if e != 0 {
				r = -1
			}
			fmt.Printf("slept %d ms ret %d errno %d\n", time.Since(t0).Milliseconds(), r, int(e))
		}
	}()
	fmt.Printf("sleeper %d\n", <-started)
	time.Sleep(20 * time.Millisecond)
	fmt.Println("ready")
	select {}
}
