//go:build cgo

// The cgo variant (CGO_ENABLED=1): one more goroutine, cgoHost, blocked
// inside the C function c_block, which reads a pipe nobody writes. The
// runtime shows it in state syscall, from the cgo call's frames down to
// main.cgoHost.

package main

/*
#cgo CFLAGS: -O2 -g
#include <unistd.h>

static int c_pipe[2];

__attribute__((noinline)) static long c_block(void) {
	char c;
	if (c_pipe[0] == 0 && pipe(c_pipe) != 0)
		return -1;
	return read(c_pipe[0], &c, 1);
}
*/
import "C"

//go:noinline
func cgoHost() {
	sink += int(C.c_block())
}

func init() {
	extraHosts = append(extraHosts, cgoHost)
	extraFuncs = append(extraFuncs, "main.cgoHost")
	extraInRead++
}
