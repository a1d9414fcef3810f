/*
 * native.c: a target process for taiji's stack tests.
 *
 * Every thread blocks forever in a system call reached through functions
 * with distinctive names, then the main thread prints "ready". Nothing in
 * the process wakes up afterwards (no timers, no polling), so two observers
 * (taiji and gdb) attaching one after the other see the same stacks.
 *
 * Threads, named with pthread_setname_np so tests can find them through
 * /proc/PID/task/TID/comm:
 *   "reader"    read() on a pipe nobody writes, under reader_level3..1
 *   "sleeper"   nanosleep() under sleeper_level1
 *   "signal"    read() inside a SIGUSR1 handler (handler_block) that
 *               interrupted pthread_kill under interrupted_level1..2
 *   "inline"    read() inside always_inline leaf_inline inside mid_inline,
 *               both inlined into inline_host
 *   "recurse"   read() at the bottom of recurse(depth); depth is argv[1],
 *               else $TESTPROG_DEPTH, else 1000
 *   main        pause() under main_wait
 *
 * Built with gcc -O2 -g -pthread. The noinline/noipa attributes and the
 * empty asm statements keep every named frame real: without them gcc would
 * inline, clone, or turn calls into jumps (sibling calls) and the frames
 * the tests look for would disappear.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline, noipa))
#define ALWAYS_INLINE static inline __attribute__((always_inline))
/* KEEP(x) makes x opaque to the optimiser, so work after a call stays
 * after the call and the call cannot become a tail call. */
#define KEEP(x) __asm__ volatile("" : "+r"(x) : : "memory")

enum { NTHREADS = 5 };

static int block_pipe[2];   /* read end: nobody ever writes */
static int handler_pipe[2]; /* read end: read by the signal handler */
static volatile long sink;

/* Threads announce themselves here just before their blocking call; main
 * then waits until the kernel shows every one of them asleep. */
static pthread_mutex_t ready_mu = PTHREAD_MUTEX_INITIALIZER;
static pid_t ready_tids[NTHREADS];
static int ready_count;

static void announce(void)
{
	pthread_mutex_lock(&ready_mu);
	ready_tids[ready_count++] = (pid_t)syscall(SYS_gettid);
	pthread_mutex_unlock(&ready_mu);
}

static void die(const char *what)
{
	fprintf(stderr, "native: %s: %s\n", what, strerror(errno));
	exit(2);
}

/* ---- reader: three named levels above read() ---- */

NOINLINE long reader_level1(int fd)
{
	char c;
	announce();
	long n = read(fd, &c, 1);
	KEEP(n);
	sink += n;
	return n;
}

NOINLINE long reader_level2(int fd)
{
	long n = reader_level1(fd);
	KEEP(n);
	return n + 1;
}

NOINLINE long reader_level3(int fd)
{
	long n = reader_level2(fd);
	KEEP(n);
	return n + 1;
}

static void *reader_thread(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "reader");
	sink += reader_level3(block_pipe[0]);
	return NULL;
}

/* ---- sleeper: nanosleep for ~30 years ---- */

NOINLINE int sleeper_level1(void)
{
	struct timespec ts = {.tv_sec = 1000000000, .tv_nsec = 0};
	announce();
	int r = nanosleep(&ts, NULL);
	KEEP(r);
	return r;
}

static void *sleeper_thread(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "sleeper");
	sink += sleeper_level1();
	return NULL;
}

/* ---- signal: blocked in read() inside a signal handler ---- */

NOINLINE long handler_block(void)
{
	char c;
	announce();
	long n = read(handler_pipe[0], &c, 1);
	KEEP(n);
	return n;
}

NOINLINE void usr1_handler(int sig, siginfo_t *si, void *uctx)
{
	(void)si;
	(void)uctx;
	long n = handler_block();
	KEEP(n);
	sink += n + sig;
}

NOINLINE int interrupted_level1(void)
{
	/* The handler runs when pthread_kill's tgkill returns to user space,
	 * so the signal frame sits on top of pthread_kill's frames. */
	int r = pthread_kill(pthread_self(), SIGUSR1);
	KEEP(r);
	return r;
}

NOINLINE int interrupted_level2(void)
{
	int r = interrupted_level1();
	KEEP(r);
	return r + 1;
}

static void *signal_thread(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "signal");
	sink += interrupted_level2();
	return NULL;
}

/* ---- inline: the return address of read() lies in inlined code ---- */

ALWAYS_INLINE long leaf_inline(int fd)
{
	char c;
	announce();
	long n = read(fd, &c, 1);
	KEEP(n);
	return n * 3;
}

ALWAYS_INLINE long mid_inline(int fd)
{
	long n = leaf_inline(fd);
	KEEP(n);
	return n + 7;
}

NOINLINE long inline_host(int fd)
{
	long n = mid_inline(fd);
	KEEP(n);
	return n + 11;
}

static void *inline_thread(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "inline");
	sink += inline_host(block_pipe[0]);
	return NULL;
}

/* ---- recurse: depth frames of recurse(), then read() ---- */

NOINLINE long recurse(int n)
{
	if (n <= 0) {
		char c;
		announce();
		long r = read(block_pipe[0], &c, 1);
		KEEP(r);
		return r;
	}
	long r = recurse(n - 1);
	KEEP(r); /* defeats tail-recursion-with-accumulator elimination */
	return r + n;
}

static int depth = 1000;

static void *recurse_thread(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "recurse");
	sink += recurse(depth);
	return NULL;
}

/* ---- main ---- */

/* all_asleep reports whether every announced thread is in state S inside
 * a system call, as the kernel sees it. */
static int all_asleep(void)
{
	char path[64], buf[512];
	for (int i = 0; i < NTHREADS; i++) {
		snprintf(path, sizeof path, "/proc/self/task/%d/stat", ready_tids[i]);
		FILE *f = fopen(path, "r");
		if (!f)
			return 0;
		size_t n = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
		buf[n] = 0;
		/* The state follows the last ')' (comm may contain one). */
		char *p = strrchr(buf, ')');
		if (!p || p[1] != ' ' || p[2] != 'S')
			return 0;
		/* /proc/.../syscall reads "running" or "-1 ..." unless the task
		 * is blocked inside a system call. */
		snprintf(path, sizeof path, "/proc/self/task/%d/syscall", ready_tids[i]);
		f = fopen(path, "r");
		if (!f)
			return 0;
		n = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
		buf[n] = 0;
		if (buf[0] < '0' || buf[0] > '9')
			return 0;
	}
	return 1;
}

NOINLINE void main_wait(void)
{
	for (;;) {
		int r = pause();
		KEEP(r);
	}
}

int main(int argc, char **argv)
{
	const char *d = argc > 1 ? argv[1] : getenv("TESTPROG_DEPTH");
	if (d && *d)
		depth = atoi(d);

	if (pipe(block_pipe) != 0 || pipe(handler_pipe) != 0)
		die("pipe");

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = usr1_handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL) != 0)
		die("sigaction");

	void *(*fns[NTHREADS])(void *) = {reader_thread, sleeper_thread, signal_thread,
	                                  inline_thread, recurse_thread};
	for (int i = 0; i < NTHREADS; i++) {
		pthread_t th;
		int err = pthread_create(&th, NULL, fns[i], NULL);
		if (err) {
			errno = err;
			die("pthread_create");
		}
	}

	/* Wait for every thread to announce, then for the kernel to show it
	 * asleep in its system call. 1ms polls; no deadline: the test that
	 * starts us has one. */
	struct timespec ms = {.tv_sec = 0, .tv_nsec = 1000000};
	for (;;) {
		pthread_mutex_lock(&ready_mu);
		int c = ready_count;
		pthread_mutex_unlock(&ready_mu);
		if (c == NTHREADS && all_asleep())
			break;
		nanosleep(&ms, NULL);
	}
	printf("ready\n");
	fflush(stdout);
	main_wait();
	return 0;
}
