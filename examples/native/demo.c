/* The native example `make demo` runs taiji on: threads blocked in read(),
 * inside a signal handler, inside inlined code and at the bottom of a deep
 * recursion. Build: gcc -O2 -g -pthread demo.c -o demo */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int quiet[2], handler_pipe[2];

__attribute__((noinline)) static void block_in_read(int fd) {
	char c;
	if (read(fd, &c, 1) < 0)
		perror("read");
	__asm__ volatile("" ::: "memory"); /* keep the call from being a tail call */
}

static inline __attribute__((always_inline)) void leaf_inline(void) { block_in_read(quiet[0]); }
static inline __attribute__((always_inline)) void mid_inline(void) { leaf_inline(); __asm__ volatile(""); }
__attribute__((noinline)) static void *inline_host(void *arg) { mid_inline(); return arg; }

__attribute__((noinline, noipa)) static int recurse(int n) {
	if (n == 0) {
		block_in_read(quiet[0]);
		return 0;
	}
	int r = recurse(n - 1);
	__asm__ volatile("" : "+r"(r)); /* keeps gcc from turning the recursion into a loop */
	return r + n;
}
static void *deep(void *arg) { return (void *)(long)recurse(50); }

static void handler(int sig) { block_in_read(handler_pipe[0]); (void)sig; }
__attribute__((noinline)) static void *interrupted(void *arg) {
	pthread_kill(pthread_self(), SIGUSR1);
	return arg;
}

int main(void) {
	pthread_t t[3];
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = handler;
	sigaction(SIGUSR1, &sa, NULL);
	if (pipe(quiet) || pipe(handler_pipe))
		return 1;
	pthread_create(&t[0], NULL, inline_host, NULL);
	pthread_create(&t[1], NULL, deep, NULL);
	pthread_create(&t[2], NULL, interrupted, NULL);
	fprintf(stderr, "native demo: running, pid %d\n", getpid());
	pause();
	return 0;
}
