// callers keeps goroutines in runtime.Callers, whose work runs on the
// system stack (runtime.systemstack): a thread caught there must unwind back
// into the goroutine, as Go's own traceback does.
package main

import (
	"fmt"
	"runtime"
)

//go:noinline
func callersLoop() {
	pcs := make([]uintptr, 64)
	for {
		runtime.Callers(0, pcs)
	}
}

func main() {
	for i := 0; i < 2; i++ {
		go callersLoop()
	}
	fmt.Println("ready")
	select {}
}
