// crash: a multi-threaded program that dies of SIGSEGV in one thread while
// the others are blocked, for the kernel-written core tests.
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static int fds[2];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static pthread_barrier_t started;

__attribute__((noinline)) static void blocked_read(void) {
	char c;
	read(fds[0], &c, 1);
}

static void *reader(void *arg) {
	(void)arg;
	pthread_barrier_wait(&started);
	blocked_read();
	return NULL;
}

__attribute__((noinline)) static void blocked_wait(void) {
	pthread_mutex_lock(&mu);
	pthread_cond_wait(&cond, &mu);
	pthread_mutex_unlock(&mu);
}

static void *waiter(void *arg) {
	(void)arg;
	pthread_barrier_wait(&started);
	blocked_wait();
	return NULL;
}

volatile int *bad;

__attribute__((noinline)) static int crash_leaf(int x) {
	return *bad + x; // SIGSEGV: bad is NULL
}

__attribute__((noinline)) static int crash_mid(int x) {
	return crash_leaf(x + 1) * 3;
}

static void *crasher(void *arg) {
	(void)arg;
	pthread_barrier_wait(&started);
	usleep(200 * 1000); // let the others block
	return (void *)(long)crash_mid(1);
}

int main(void) {
	pthread_t t[3];
	pipe(fds);
	pthread_barrier_init(&started, NULL, 3);
	pthread_create(&t[0], NULL, reader, NULL);
	pthread_create(&t[1], NULL, waiter, NULL);
	pthread_create(&t[2], NULL, crasher, NULL);
	pthread_join(t[2], NULL);
	return 0;
}
