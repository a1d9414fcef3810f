// bigheap: a process with 256 MiB of written heap and a few threads, for
// the tests that interrupt taiji dump mid-copy.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void *idle(void *a) { (void)a; for (;;) pause(); }

int main(void) {
	size_t n = 256u << 20;
	char *heap = malloc(n);
	for (size_t i = 0; i < n; i++) heap[i] = (char)(i * 31 + 7);
	pthread_t t;
	for (int i = 0; i < 3; i++) pthread_create(&t, NULL, idle, NULL);
	printf("ready\n");
	fflush(stdout);
	for (;;) pause();
}
