// oneret calls report N times (0: forever), GAP apart: report's whole body
// is one RET, so its entry and its return are one instruction.
// Usage: oneret N GAP (a time.Duration).
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

//go:noinline
func report(id int, a, b string) int { return id }

func main() {
	n, _ := strconv.Atoi(os.Args[1])
	gap, _ := time.ParseDuration(os.Args[2])
	s := 0
	for i := 0; n == 0 || i < n; i++ {
		s += report(i, "a", "b")
		time.Sleep(gap)
	}
	fmt.Println(s)
}
