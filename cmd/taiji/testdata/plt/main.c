/* A thread spinning inside a PLT stub: main points f's GOT slot back at
   f's own stub, so `call f@plt` jumps to itself for ever. The stub's CFI
   (ld's .eh_frame for .plt) computes the CFA from rip. */
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
void f(void);
/* Points f's GOT slot at f's own PLT stub's jmp, so that calling f spins in the stub. */
static void loop_plt(void) {
	unsigned char *stub;
	/* The stub's address without taking f's: that would make the stub
	   canonical and move it to .plt.got. */
	__asm__("lea f@PLT(%%rip), %0" : "=r"(stub));
	for (int i = 0; i < 16; i++) {
		if (stub[i] == 0xff && stub[i + 1] == 0x25) {
			int32_t disp;
			memcpy(&disp, stub + i + 2, 4);
			uintptr_t *slot = (uintptr_t *)(stub + i + 6 + disp);
			long pg = sysconf(_SC_PAGESIZE);
			mprotect((void *)((uintptr_t)slot & ~(pg - 1)), pg, PROT_READ | PROT_WRITE);
			/* At the jmp itself (after endbr64, with its bnd
			   prefix), so the thread stays on one instruction. */
			*slot = (uintptr_t)(stub + i - (i > 0 && stub[i - 1] == 0xf2));
			return;
		}
	}
	fprintf(stderr, "no jmp *GOT in f's stub\n");
}
__attribute__((noinline)) void call_f(void) { f(); __asm__ volatile(""); }
__attribute__((noinline)) void via(void) { call_f(); __asm__ volatile(""); }
int main(void) {
	loop_plt();
	printf("ready\n");
	fflush(stdout);
	via();
	return 0;
}
