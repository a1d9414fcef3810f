/* Threads blocked inside functions without CFI (nocfi.S), each called from
   a C function with a frame pointer, as in a program mixing hand-written
   assembly with C built with -fno-omit-frame-pointer. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

void nocfi_keep(void);
void nocfi_branchy(long);
void nocfi_fp(void);
void nocfi_guess(void);

__attribute__((noinline)) void block_in_c(void) {
	for (;;)
		pause();
}

#define CALLER(name, call)                                                     \
	__attribute__((noinline)) void outer_##name(void) {                    \
		call;                                                          \
		__asm__ volatile("");                                          \
	}                                                                      \
	static void *thread_##name(void *arg) {                                \
		(void)arg;                                                     \
		pthread_setname_np(pthread_self(), #name);                     \
		outer_##name();                                                \
		return NULL;                                                   \
	}
CALLER(keep, nocfi_keep())
CALLER(branchy, nocfi_branchy(1))
CALLER(fp, nocfi_fp())
CALLER(guess, nocfi_guess())

int main(void) {
	void *(*fns[])(void *) = {thread_keep, thread_branchy, thread_fp, thread_guess};
	pthread_t t;
	for (unsigned i = 0; i < sizeof fns / sizeof fns[0]; i++)
		pthread_create(&t, NULL, fns[i], NULL);
	usleep(200000);
	printf("ready\n");
	fflush(stdout);
	for (;;)
		pause();
}
