// Command manyg is the target of scripts/bench-goroutines: it parks -n
// goroutines and, on each SIGUSR1, times its own runtime.Stack(buf, true),
// the stop-the-world dump taiji goroutines is measured against.
//
// Goroutine i first recurses 8*(i%4) frames deep (0, 8, 16 or 24 frames of
// main.level), then parks: in a chan receive (i%3 == 0), a select (1) or a
// sync.Mutex.Lock (2). "ready" is printed once every goroutine has parked.
// Each SIGUSR1 prints one line
//
//	stack_ns=N bytes=B
//
// where N is the wall time of the one runtime.Stack(buf, true) call that
// returned the whole dump (buf is grown beforehand until the dump fits, so
// the timed call is not a retry) and B the dump's size. The garbage
// collector is off so that it never runs between two measurements.
//
// The source builds with every Go release from go1.19 on.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

var (
	never   = make(chan int)
	never2  = make(chan int)
	held    sync.Mutex
	parking int64 // goroutines about to park
	sink    int
)

//go:noinline
func level(depth, kind int) int {
	if depth > 0 {
		return level(depth-1, kind) + 1
	}
	atomic.AddInt64(&parking, 1)
	switch kind {
	case 0:
		return <-never
	case 1:
		select {
		case v := <-never:
			return v
		case v := <-never2:
			return v
		}
	default:
		held.Lock()
		return 0
	}
}

func park(i int) {
	sink += level(8*(i%4), i%3)
}

func main() {
	n := flag.Int("n", 10000, "goroutines to park")
	flag.Parse()
	debug.SetGCPercent(-1)
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGUSR1)
	held.Lock()
	for i := 0; i < *n; i++ {
		go park(i)
	}
	for atomic.LoadInt64(&parking) < int64(*n) {
		time.Sleep(10 * time.Millisecond)
	}
	// The last ones counted themselves a moment before parking.
	time.Sleep(200 * time.Millisecond)
	fmt.Println("ready")

	// About 900 bytes a goroutine: one call usually fits.
	buf := make([]byte, 1<<20+1024*(*n))
	for range sigc {
		for runtime.Stack(buf, true) == len(buf) {
			buf = make([]byte, 2*len(buf))
		}
		t0 := time.Now()
		size := runtime.Stack(buf, true)
		d := time.Since(t0)
		if size == len(buf) { // grew between the calls: report it, don't time a partial dump
			fmt.Fprintln(os.Stderr, "manyg: the dump outgrew its buffer")
			os.Exit(2)
		}
		fmt.Printf("stack_ns=%d bytes=%d\n", d.Nanoseconds(), size)
	}
}
