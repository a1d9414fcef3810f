// vdso keeps goroutines reading the clock: time.Now (time.now on amd64,
// runtime.walltime and runtime.nanotime1 elsewhere) and time.Since
// (runtime.nanotime1), which call clock_gettime in the vDSO, on the system
// stack. A thread caught there must unwind back into the goroutine, as Go's
// own traceback does from m.vdsoPC and m.vdsoSP.
package main

import (
	"fmt"
	"time"
)

var sink int64

//go:noinline
func clock() {
	for {
		sink += int64(time.Now().Nanosecond())
	}
}

//go:noinline
func since(t0 time.Time) {
	for {
		sink += int64(time.Since(t0))
	}
}

func main() {
	go clock()
	go since(time.Now())
	fmt.Println("ready")
	select {}
}
