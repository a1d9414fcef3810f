//go:build cgo

// The cgo variant (CGO_ENABLED=1): two more goroutines. cgoHost is blocked
// inside the C function c_block, which reads a pipe nobody writes: the
// runtime shows it in state syscall, from the cgo call's frames down to
// main.cgoHost. cgoCallbackHost calls C (c_callback), which calls back into
// Go (goCallbackBlock, cgocb.go), which blocks on a channel: the runtime
// shows the callback, then the Go frames that called C.

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

extern void goCallbackBlock(void);

__attribute__((noinline)) static void c_callback(void) {
	goCallbackBlock();
}
*/
import "C"

//go:noinline
func cgoHost() {
	sink += int(C.c_block())
}

//go:noinline
func cgoCallbackHost() {
	C.c_callback()
}

func init() {
	extraHosts = append(extraHosts, cgoHost, cgoCallbackHost)
	extraFuncs = append(extraFuncs, "main.cgoHost", "main.goCallbackBlock")
	extraInRead++
}
