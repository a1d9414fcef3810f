// target is the process the proc tests freeze. Modes:
//   target threads   reader/sleeper/pauser/spinner threads, then
//                    "ready MAIN READER SLEEPER PAUSER SPINNER &counter &sigcount"
//   target idle N    N-1 threads blocked in nanosleep, then "ready"
//   target churn     creates short-lived threads forever, then "ready"
//   target leaderexit  "ready &counter", then the main thread exits
//   target vfork     "ready &counter", then vfork: blocked 1.5s, then spins
// Signal 40 (a real-time signal, so none is coalesced) increments sigcount.
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int pfd[2];
static volatile unsigned long counter;
static unsigned long sigcount;
static volatile pid_t tids[4];

static pid_t tid(void) { return (pid_t)syscall(SYS_gettid); }

static void *reader(void *a) {
	char c;
	tids[0] = tid();
	for (;;)
		if (read(pfd[0], &c, 1) <= 0)
			return 0;
}

static void *sleeper(void *a) {
	tids[1] = tid();
	for (;;) {
		struct timespec ts = {1000, 0};
		nanosleep(&ts, 0);
	}
}

static void *pauser(void *a) {
	tids[2] = tid();
	for (;;)
		pause();
}

static void *spinner(void *a) {
	tids[3] = tid();
	for (;;)
		counter++;
}

static void *brief(void *a) {
	volatile int x = 0;
	for (int i = 0; i < 10000; i++)
		x += i;
	return 0;
}

static void onsig(int s) { __atomic_fetch_add(&sigcount, 1, __ATOMIC_SEQ_CST); }

int main(int argc, char **argv) {
	pthread_t t;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = onsig;
	sa.sa_flags = SA_RESTART;
	sigaction(40, &sa, 0);
	setvbuf(stdout, 0, _IONBF, 0);

	const char *mode = argc > 1 ? argv[1] : "threads";
	if (strcmp(mode, "idle") == 0) {
		int n = argc > 2 ? atoi(argv[2]) : 10;
		for (int i = 1; i < n; i++)
			pthread_create(&t, 0, sleeper, 0);
		printf("ready\n");
		for (;;)
			pause();
	}
	if (strcmp(mode, "churn") == 0) {
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		printf("ready\n");
		for (;;) {
			for (int i = 0; i < 4; i++)
				pthread_create(&t, &attr, brief, 0);
			usleep(100);
		}
	}
	if (strcmp(mode, "vfork") == 0) {
		// The parent waits for the child in a killable sleep (state D)
		// that PTRACE_INTERRUPT cannot end; then it spins.
		printf("ready %p\n", (void *)&counter);
		if (vfork() == 0) {
			usleep(1500000);
			_exit(0);
		}
		for (;;)
			counter++;
	}
	if (strcmp(mode, "leaderexit") == 0) {
		// The leader exits and stays a zombie while its threads run.
		pthread_create(&t, 0, sleeper, 0);
		pthread_create(&t, 0, spinner, 0);
		while (tids[1] == 0 || tids[3] == 0)
			usleep(1000);
		printf("ready %p\n", (void *)&counter);
		pthread_exit(0);
	}
	if (pipe(pfd) != 0)
		return 1;
	pthread_create(&t, 0, reader, 0);
	pthread_create(&t, 0, sleeper, 0);
	pthread_create(&t, 0, pauser, 0);
	pthread_create(&t, 0, spinner, 0);
	for (int i = 0; i < 4; i++)
		while (tids[i] == 0)
			usleep(1000);
	printf("ready %d %d %d %d %d %p %p\n", tid(), tids[0], tids[1], tids[2], tids[3],
	       (void *)&counter, (void *)&sigcount);
	for (;;)
		pause();
}
