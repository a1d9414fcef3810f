// A process with a thread that cannot be stopped: the main thread calls
// vfork(), and the parent of a vfork waits in uninterruptible sleep (state
// D) until the child execs or exits, which this child never does. Another
// thread, "worker", blocks in read() and can be stopped as usual; with the
// argument "alone" there is no such thread.
//
// Stacks: main: vfork <- vfork_level1 <- vfork_level2 <- main
//         worker: read <- worker_level1 <- worker_thread <- start_thread
//
// The child prints "ready" once the parent is in vfork, and dies with it
// (PR_SET_PDEATHSIG). It only makes raw system calls: a vfork child shares
// the parent's memory and stack.
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static int pipefd[2];

__attribute__((noinline)) static void worker_level1(void) {
	char c;
	read(pipefd[0], &c, 1);
}

static void *worker_thread(void *arg) {
	(void)arg;
	worker_level1();
	return NULL;
}

__attribute__((noinline)) void vfork_level1(void) {
	if (vfork() == 0) {
		syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		syscall(SYS_write, 1, "ready\n", 6);
		for (;;)
			syscall(SYS_pause);
	}
	__asm__ volatile("" ::: "memory"); // not a tail call
}

__attribute__((noinline)) void vfork_level2(void) {
	vfork_level1();
	__asm__ volatile("" ::: "memory");
}

int main(int argc, char **argv) {
	if (argc < 2 || strcmp(argv[1], "alone") != 0) {
		pthread_t t;
		if (pipe(pipefd) != 0 || pthread_create(&t, NULL, worker_thread, NULL) != 0)
			return 1;
		pthread_setname_np(t, "worker");
	}
	vfork_level2();
	return 0;
}
