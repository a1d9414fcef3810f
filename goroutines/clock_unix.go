//go:build unix

package goroutines

import "golang.org/x/sys/unix"

// nanotime is the Go runtime's nanotime() on Linux, CLOCK_MONOTONIC in
// nanoseconds: the clock g.waitsince is read from, the same for every
// process on the machine.
func nanotime() int64 {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) != nil {
		return 0
	}
	return ts.Nano()
}
