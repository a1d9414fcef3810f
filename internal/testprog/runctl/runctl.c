/*
 * runctl: the target of proc's run-control tests.
 *   runctl spin N    N workers call hit() in a loop forever
 *   runctl churn     as spin 2, and main creates and joins a short-lived
 *                    thread (which calls hit() once) every millisecond
 *   runctl exit MS   as spin 2, and main exits with status 7 after MS ms
 * hit() counts its calls in `hits`; a SIGUSR1 handler counts in `usr1`.
 * It prints "hit ADDR", "hits ADDR", "usr1 ADDR", "worker TID" per worker,
 * then "ready".
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

volatile unsigned long hits;
volatile unsigned long usr1;
static pthread_mutex_t out = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t started;

__attribute__((noinline)) void hit(void)
{
	__atomic_fetch_add(&hits, 1, __ATOMIC_SEQ_CST);
	__asm__ volatile("" ::: "memory");
}

/* Calls go through a pointer: on ppc64le a direct call enters hit() at its
 * local entry point (after the TOC setup), so a breakpoint at the address
 * printed, the global entry, would never be hit; a call through a pointer
 * enters at the global entry on every arch. */
static void (*volatile call_hit)(void) = hit;

static void on_usr1(int sig)
{
	(void)sig;
	__atomic_fetch_add(&usr1, 1, __ATOMIC_SEQ_CST);
}

static void *worker(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&out);
	printf("worker %ld\n", (long)syscall(SYS_gettid));
	pthread_mutex_unlock(&out);
	pthread_barrier_wait(&started);
	for (;;)
		call_hit();
	return NULL;
}

static void *brief(void *arg)
{
	(void)arg;
	call_hit();
	return NULL;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "spin";
	int n = 2;
	long ms = 0;
	if (strcmp(mode, "spin") == 0 && argc > 2)
		n = atoi(argv[2]);
	if (strcmp(mode, "exit") == 0 && argc > 2)
		ms = atol(argv[2]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGUSR1, on_usr1);
	printf("hit %p\n", (void *)hit);
	printf("hits %p\n", (void *)&hits);
	printf("usr1 %p\n", (void *)&usr1);
	pthread_barrier_init(&started, NULL, n + 1);
	for (int i = 0; i < n; i++) {
		pthread_t t;
		pthread_create(&t, NULL, worker, NULL);
	}
	pthread_barrier_wait(&started);
	printf("ready\n");
	if (strcmp(mode, "exit") == 0) {
		struct timespec req = {ms / 1000, (ms % 1000) * 1000000L};
		nanosleep(&req, NULL);
		exit(7);
	}
	if (strcmp(mode, "churn") == 0) {
		for (;;) {
			pthread_t t;
			struct timespec req = {0, 1000000L};
			pthread_create(&t, NULL, brief, NULL);
			pthread_join(t, NULL);
			nanosleep(&req, NULL);
		}
	}
	for (;;)
		pause();
}
