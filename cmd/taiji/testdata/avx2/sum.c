/* sum: a loop gcc -O3 -mavx2 vectorises with 256-bit registers, so its
 * vector path ends "vzeroupper; ret" (the RET taiji used to miss). */
#include <stdio.h>
#include <stdlib.h>

__attribute__((noipa)) long sum(const int *a, int n) {
	long s = 0;
	for (int i = 0; i < n; i++)
		s += a[i];
	return s;
}

int main(int argc, char **argv) {
	int calls = argc > 1 ? atoi(argv[1]) : 30;
	static int a[1000];
	for (int i = 0; i < 1000; i++)
		a[i] = i;
	long t = 0;
	for (int i = 0; i < calls; i++)
		t += sum(a, (i * 37) % 1000); /* 0, short and long: every path */
	printf("%ld\n", t);
	return 0;
}
