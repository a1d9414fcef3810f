// morestack starts goroutines that recurse deep at once, so their stacks
// grow again and again: a thread caught in runtime.newstack, on the system
// stack under runtime.morestack, must unwind into the growing goroutine.
// The stack stays under the 128 KiB a snapshot copies (100 frames of about
// 600 bytes), so each goroutine grows it from 8 KiB four times.
package main

import "fmt"

//go:noinline
func grow(n int) int {
	var buf [512]byte
	buf[n%len(buf)] = byte(n)
	if n == 0 {
		return int(buf[0])
	}
	return grow(n-1) + int(buf[n%len(buf)])
}

//go:noinline
func growLoop() {
	for {
		done := make(chan int)
		go func() { done <- grow(100) }()
		<-done
	}
}

func main() {
	for i := 0; i < 2; i++ {
		go growLoop()
	}
	fmt.Println("ready")
	select {}
}
