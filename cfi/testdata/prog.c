// Target program for the cfi tests: functions whose CFI exercises
// register-based and expression-based CFAs, callee-saved registers,
// alloca/VLA frames and a noreturn function.
#include <alloca.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

volatile long sink;

__attribute__((noinline)) void stop_here(long x) {
	sink = x;
	__asm__ volatile("nop" ::: "memory");
}

// Uses many callee-saved registers across a call.
__attribute__((noinline)) long deep(long a, long b, long c, long d, long e) {
	long s1 = a * 3, s2 = b * 5, s3 = c * 7, s4 = d * 11, s5 = e * 13;
	stop_here(a + b);
	return s1 + s2 + s3 + s4 + s5 + sink;
}

// A over-aligned local next to a VLA makes GCC realign the stack through
// a DRAP register: the CFA is then r10, and later an expression
// (DW_CFA_def_cfa_expression), and callee-saved registers get
// DW_CFA_expression rules.
__attribute__((noinline)) long realign(long n) {
	char buf[256] __attribute__((aligned(64)));
	char v[n];
	memset(buf, (int)n, sizeof buf);
	memset(v, 1, n);
	__asm__ volatile("" : : "r"(buf), "r"(v) : "memory");
	return deep(n, n + 1, n + 2, n + 3, n + 4) + buf[3] + v[2];
}

__attribute__((noinline)) long vla(int n) {
	char buf[n];
	memset(buf, n, n);
	__asm__ volatile("" : : "r"(buf) : "memory");
	return realign(buf[n / 2]) + n;
}

__attribute__((noinline)) long use_alloca(int n) {
	char *p = alloca(n);
	memset(p, 1, n);
	__asm__ volatile("" : : "r"(p) : "memory");
	return vla(n) + p[0];
}

__attribute__((noreturn, noinline)) void die(int code) {
	fprintf(stderr, "die %d\n", code);
	exit(code);
}

int main(int argc, char **argv) {
	long r = use_alloca(argc + 40);
	if (r == 12345)
		die(3);
	printf("%ld\n", r);
	return 0;
}
