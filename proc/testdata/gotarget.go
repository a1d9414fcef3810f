//go:build ignore

// gotarget is the Go process the proc tests freeze.
package main

import (
	"fmt"
	"os"
	"sync/atomic"
	"time"
)

var counter atomic.Uint64

func main() {
	go func() {
		for {
			counter.Add(1)
		}
	}()
	go func() {
		for {
			time.Sleep(time.Hour)
		}
	}()
	go func() {
		b := make([]byte, 1)
		os.Stdin.Read(b)
	}()
	block := make(chan int)
	go func() { <-block }()
	fmt.Println("ready")
	select {}
}
