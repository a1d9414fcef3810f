// Command cgotarget is a cgo target process for taiji's stack tests.
//
// Two threads block in read(2) on pipes nobody writes:
//
//   - a Go goroutine calls goCallsC, which calls the C function
//     c_blocking_read (through the cgo trampolines) that blocks in read;
//   - a C thread created with pthread_create runs c_thread_main ->
//     c_thread_level1 -> read.
//
// "ready" is printed once /proc shows both threads asleep in read(2).
package main

/*
#cgo CFLAGS: -O2 -g
#cgo LDFLAGS: -pthread
#define _GNU_SOURCE
#include <pthread.h>
#include <unistd.h>

static int c_pipe[2];
static volatile long c_sink;

__attribute__((noinline, noipa)) long c_blocking_read(int fd) {
	char c;
	long n = read(fd, &c, 1);
	__asm__ volatile("" : "+r"(n) : : "memory");
	return n + 1;
}

__attribute__((noinline, noipa)) static long c_thread_level1(int fd) {
	char c;
	long n = read(fd, &c, 1);
	__asm__ volatile("" : "+r"(n) : : "memory");
	return n + 2;
}

static void *c_thread_main(void *arg) {
	(void)arg;
	pthread_setname_np(pthread_self(), "cthread");
	c_sink += c_thread_level1(c_pipe[0]);
	return 0;
}

static int c_start_thread(void) {
	pthread_t th;
	if (pipe(c_pipe) != 0)
		return -1;
	return pthread_create(&th, 0, c_thread_main, 0);
}
*/
import "C"

import (
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"syscall"
	"time"
)

var sink int

//go:noinline
func goCallsC(fd int) {
	sink += int(C.c_blocking_read(C.int(fd)))
}

// threadsInRead counts the threads of this process asleep in read(2).
func threadsInRead() int {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return 0
	}
	n := 0
	for _, t := range tasks {
		b, err := os.ReadFile("/proc/self/task/" + t.Name() + "/syscall")
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		if len(f) == 0 || f[0] != fmt.Sprint(syscall.SYS_READ) {
			continue
		}
		st, err := os.ReadFile("/proc/self/task/" + t.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(st)
		if i := strings.LastIndexByte(s, ')'); i >= 0 && strings.HasPrefix(s[i:], ") S") {
			n++
		}
	}
	return n
}

func main() {
	debug.SetGCPercent(-1)
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		fmt.Fprintln(os.Stderr, "cgotarget:", err)
		os.Exit(2)
	}
	if C.c_start_thread() != 0 {
		fmt.Fprintln(os.Stderr, "cgotarget: cannot start C thread")
		os.Exit(2)
	}
	go goCallsC(p[0])
	for threadsInRead() < 2 {
		time.Sleep(time.Millisecond)
	}
	fmt.Println("ready")
	select {}
}
