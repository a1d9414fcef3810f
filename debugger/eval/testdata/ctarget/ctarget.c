/* The C target of debugger/eval's tests: each line read from stdin runs
 * inspect(), which prints its values and stops on the line marked BREAK
 * (the test plants a breakpoint there), then prints what set changed. */
#include <stdio.h>
#include <string.h>
#include <stdint.h>

enum color { RED, GREEN = 5, BLUE };

struct point {
	int x, y;
};

union word {
	uint32_t u;
	unsigned char b[4];
};

struct node {
	int id;
	const char *name;
	struct point pt;
	struct node *next;
	enum color c;
	double d;
	short arr[4];
};

struct flags {
	unsigned a : 3;
	int b : 5;
	unsigned c : 20;
	unsigned d : 10;
	long long e : 40;
};

long counter = 42;
struct flags gflags = {5, -3, 1000000, 777, -123456789012LL};
const char *greeting = "hello, world";
struct node gnode = {7, "global", {3, 4}, 0, BLUE, 1.5, {1, -2, 3, -4}};

__attribute__((noinline)) int stop(struct node *n) {
	__asm__ volatile("" ::: "memory");
	return n->id;
}

__attribute__((noinline)) int inspect(int a, long b) {
	struct node second = {2, "second", {5, 6}, 0, GREEN, -0.5, {9, 8, 7, 6}};
	struct node first = {1, "first", {1, 2}, &second, RED, 2.5, {1, 2, 3, 4}};
	union word w;
	signed char c8 = -8;
	short s16 = -1600;
	unsigned int u32 = 4000000000u;
	long long i64 = -64000000000LL;
	int local = a * 2;
	w.u = 0x01020304;
	printf("addr first=%p counter=%p local=%p\n", (void *)&first, (void *)&counter, (void *)&local);
	fflush(stdout);
	int r = stop(&first); /* BREAK */
	printf("after counter=%ld local=%d first.id=%d\n", counter, local, first.id);
	fflush(stdout);
	return r + a + (int)b + c8 + s16 + (int)u32 + (int)i64 + local + w.b[0] + second.id;
}

int main(void) {
	char line[64];
	printf("ready\n");
	fflush(stdout);
	while (fgets(line, sizeof line, stdin))
		inspect(3, 1000000000000L);
	return 0;
}
