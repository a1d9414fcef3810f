// Command debuggo is the Go target of taiji debug's tests. Its first
// argument picks what it does; lines the tests stop on are marked with a
// comment "// LINE name", which the tests look up in this source.
//
//	lines            calls add three times, prints "sum N"
//	threads N M      N goroutines call hit M times each, prints "hits N*M"
//	grow             next over a call that grows (copies) the goroutine's
//	                 stack (deep recursion) and over a sleep after which
//	                 the goroutine may run on another thread, in stepper
//	inline           calls Sum, which the compiler inlines, for ints and
//	                 for floats, and triple twice; prints "sum N F T"
package main

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

var counter atomic.Int64

//go:noinline
func add(a, b int) int {
	s := a + b // LINE add_body
	counter.Add(int64(s))
	return s // LINE add_return
}

//go:noinline
func hit(i int) {
	counter.Add(1) // LINE hit_body
}

//go:noinline
func deep(n int) int {
	var pad [256]byte
	pad[n%256] = byte(n)
	if n == 0 {
		return int(pad[0])
	}
	return deep(n-1) + int(pad[n%256])
}

// r1, r2, r3 are globals so that each result is stored on its own line:
// the lines of stepper run in order, which a next on a stripped binary
// (pclntab has no is_stmt marks) follows as they are.
var r1, r2, r3 int

//go:noinline
func stepper() int {
	r1 = add(1, 2)                   // LINE grow_before
	r2 = deep(2000)                  // LINE grow_call
	time.Sleep(5 * time.Millisecond) // LINE grow_sleep
	r3 = add(3, 4)                   // LINE grow_after
	return r1 + r2 + r3
}

// Sum is small: the compiler inlines each instantiation where it is
// called.
func Sum[T int | float64](xs []T) T {
	var s T
	for _, x := range xs {
		s += x // LINE sum_body
	}
	return s
}

// triple is small: the compiler inlines it where it is called.
func triple(x int) int {
	counter.Add(int64(x)) // LINE triple_body
	return x * 3
}

func main() {
	mode := "lines"
	if len(os.Args) > 1 {
		mode = os.Args[1]
	}
	switch mode {
	case "lines":
		sum := 0
		sum += add(1, 2) // LINE call1
		sum += add(3, 4) // LINE call2
		sum += add(5, 6) // LINE call3
		fmt.Printf("sum %d\n", sum)
	case "threads":
		n, _ := strconv.Atoi(os.Args[2])
		m, _ := strconv.Atoi(os.Args[3])
		var wg sync.WaitGroup
		for g := 0; g < n; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < m; i++ {
					hit(i)
				}
			}()
		}
		wg.Wait()
		fmt.Printf("hits %d\n", counter.Load())
	case "grow":
		// Its own goroutine, so it starts on a small stack; busy
		// goroutines make it likely to resume on another thread after
		// its sleep.
		for range 3 {
			go func() {
				for {
					counter.Add(1)
				}
			}()
		}
		done := make(chan int)
		go func() { done <- stepper() }()
		fmt.Printf("grow %d\n", <-done)
	case "inline":
		n := Sum([]int{1, 2, int(counter.Load())})      // LINE inl_call
		f := Sum([]float64{1.5, float64(len(os.Args))}) // LINE inl_call2
		fmt.Printf("sum %d %g %d\n", n, f, triple(n)+triple(int(f)))
	default:
		fmt.Fprintln(os.Stderr, "usage: debuggo lines | threads N M | grow | inline")
		os.Exit(2)
	}
}
