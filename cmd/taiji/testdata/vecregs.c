// vecregs: a thread that holds a known pattern in ymm8 (x86-64, AVX) while
// it sleeps in pause(2), for the test that a core keeps vector registers.
#include <stdio.h>
#include <unistd.h>

static const unsigned long long pattern[4] = {
	0x1111222233334444ull, 0x5555666677778888ull, 0x9999aaaabbbbccccull, 0xddddeeeeffff0001ull};

int main(void) {
	printf("ready\n");
	fflush(stdout);
	__asm__ volatile(
		"vmovdqu (%0), %%ymm8\n"
		"1: mov $34, %%eax\n" // pause
		"syscall\n"
		"jmp 1b\n"
		:
		: "r"(pattern)
		: "rax", "rcx", "r11", "memory");
	return 0;
}
