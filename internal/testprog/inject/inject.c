/*
 * inject: the target of taiji inject's tests. Three threads:
 *   spinner  increments `counter` forever (never makes a system call)
 *   sleeper  loops on nanosleep(SLEEP seconds) and reports, from inside,
 *            how long each sleep took and what nanosleep returned
 *   main     blocks in pause()
 * It prints "counter ADDR", "spinner TID", "sleeper TID", then "ready".
 * The sleep length is argv[1] in milliseconds (default 2000).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

volatile unsigned long counter;
static long sleep_ms = 2000;
static pthread_mutex_t out = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t started;

static long now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000L + t.tv_nsec / 1000000L;
}

static void *spinner(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&out);
	printf("spinner %ld\n", (long)syscall(SYS_gettid));
	pthread_mutex_unlock(&out);
	pthread_barrier_wait(&started);
	for (;;)
		counter++;
	return NULL;
}

static void *sleeper(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&out);
	printf("sleeper %ld\n", (long)syscall(SYS_gettid));
	pthread_mutex_unlock(&out);
	pthread_barrier_wait(&started);
	for (;;) {
		struct timespec req = {sleep_ms / 1000, (sleep_ms % 1000) * 1000000L};
		long t0 = now_ms();
		int r = nanosleep(&req, NULL);
		int e = r ? errno : 0;
		long t1 = now_ms();
		pthread_mutex_lock(&out);
		printf("slept %ld ms ret %d errno %d\n", t1 - t0, r, e);
		fflush(stdout);
		pthread_mutex_unlock(&out);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t a, b;
	if (argc > 1)
		sleep_ms = atol(argv[1]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	pthread_barrier_init(&started, NULL, 3);
	printf("counter %p\n", (void *)&counter);
	pthread_create(&a, NULL, spinner, NULL);
	pthread_create(&b, NULL, sleeper, NULL);
	pthread_barrier_wait(&started);
	usleep(20000); /* let the sleeper reach nanosleep */
	printf("ready\n");
	for (;;)
		pause();
}
