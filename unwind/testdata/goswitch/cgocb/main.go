// cgocb calls C, which calls back into Go, which blocks in a raw system
// call: the thread's stack runs goroutine -> C (system stack) -> goroutine.
package main

/*
extern void goCB(void);
static volatile int calls;
// Not inlined, and with work after each call, so neither call is a tail
// call: both C frames stay on the stack.
__attribute__((noinline)) static void c_call(void) { goCB(); calls++; }
__attribute__((noinline)) static void c_outer(void) { c_call(); calls++; }
*/
import "C"

import (
	"fmt"
	"syscall"
)

//export goCB
func goCB() {
	fmt.Println("ready")
	for {
		syscall.RawSyscall(syscall.SYS_PAUSE, 0, 0, 0)
	}
}

//go:noinline
func callC() { C.c_outer() }

func main() { callC() }
