// debug.c is the C target of taiji debug's tests. Its first argument
// picks what it does; lines the tests stop on are marked with a comment
// "// LINE name", which the tests look up in this source.
//
//	lines            calls add() three times, prints "sum N"
//	threads N M      N threads call hit() M times each, prints "hits N*M"
//	sigill           runs an illegal instruction (fault_ill) whose SIGILL
//	                 handler moves the ucontext PC past it, prints "handled 1"
//	segv             the same with a load from address 0 (fault_segv)
//	loop             prints "ready", then calls add() forever, checking
//	                 add's code against a copy taken at start ("corrupt"
//	                 and exit 3 if a byte changed while it ran)
//	spin             prints "ready", then two threads call hit() without
//	                 end while the main thread prints "tick N" every 10 ms
//	inline           calls twice(), which -O2 inlines, twice; prints "sum N"
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

volatile long counter;

__attribute__((noinline)) int add(int a, int b) {
	int s = a + b; // LINE add_body
	counter += s;  // LINE add_second
	return s;
}

// ATOMIC_INC is a load-reserved/store-conditional loop where the arch has
// one (TestDebugInVM steps it as a unit): riscv64's gcc makes a fetch-add
// one amoadd.d, and its compare-and-swap an lr.d/sc.d loop.
#if defined(__riscv)
#define ATOMIC_INC(p) \
	do { \
		long o_ = *(p); \
		while (!__atomic_compare_exchange_n((p), &o_, o_ + 1, 1, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) { \
		} \
	} while (0)
#else
#define ATOMIC_INC(p) __atomic_fetch_add((p), 1, __ATOMIC_SEQ_CST)
#endif

__attribute__((noinline)) void hit(int i) {
	ATOMIC_INC(&counter); // LINE hit_body
}

// twice is inlined into main by -O2 (an out-of-line copy is kept too).
int twice(int a) {
	int t = a * 2; // LINE twice_body
	counter += t;  // LINE twice_second
	return t;
}

__attribute__((noinline)) void never_called(void) { counter = -1; }

static int per_thread;

static void *worker(void *arg) {
	for (int i = 0; i < per_thread; i++) {
		hit(i);
	}
	return NULL;
}

static void *spinner(void *arg) {
	for (int i = 0;; i++) {
		hit(i);
	}
	return NULL;
}

// The faulting instructions, each in a function of its own, and the
// address after each, where the handlers resume.
#if defined(__x86_64__)
__asm__(".text\n.globl fault_ill\n.type fault_ill,@function\nfault_ill:\n\tud2\n.globl fault_ill_end\nfault_ill_end:\n\tret\n.size fault_ill,.-fault_ill\n"
        ".globl fault_segv\n.type fault_segv,@function\nfault_segv:\n\tmovl 0, %eax\n.globl fault_segv_end\nfault_segv_end:\n\tret\n.size fault_segv,.-fault_segv\n");
#define UC_PC(uc) ((uc)->uc_mcontext.gregs[REG_RIP])
#elif defined(__aarch64__)
__asm__(".text\n.globl fault_ill\n.type fault_ill,%function\nfault_ill:\n\tudf #0\n.globl fault_ill_end\nfault_ill_end:\n\tret\n.size fault_ill,.-fault_ill\n"
        ".globl fault_segv\n.type fault_segv,%function\nfault_segv:\n\tmov x0, #0\n\tldr w0, [x0]\n.globl fault_segv_end\nfault_segv_end:\n\tret\n.size fault_segv,.-fault_segv\n");
#define UC_PC(uc) ((uc)->uc_mcontext.pc)
#elif defined(__mips__)
// Opcode 0x3b is reserved before release 6 (Debian's mips64el is R2):
// the CPU raises a Reserved Instruction exception, SIGILL. Only the amd64
// flow has run here; the lead's VMs run the others.
__asm__(".text\n.set noreorder\n.globl fault_ill\n.type fault_ill,@function\nfault_ill:\n\t.word 0xec000000\n.globl fault_ill_end\nfault_ill_end:\n\tjr $ra\n\tnop\n.size fault_ill,.-fault_ill\n"
        ".globl fault_segv\n.type fault_segv,@function\nfault_segv:\n\tlw $2, 0($0)\n.globl fault_segv_end\nfault_segv_end:\n\tjr $ra\n\tnop\n.size fault_segv,.-fault_segv\n.set reorder\n");
#define UC_PC(uc) ((uc)->uc_mcontext.pc)
#elif defined(__powerpc64__)
// The all-zero word is no Power instruction: SIGILL. The PC is gp_regs[32]
// (PT_NIP).
__asm__(".text\n.globl fault_ill\n.type fault_ill,@function\nfault_ill:\n\t.long 0\n.globl fault_ill_end\nfault_ill_end:\n\tblr\n.size fault_ill,.-fault_ill\n"
        ".globl fault_segv\n.type fault_segv,@function\nfault_segv:\n\tli 3,0\n\tlwz 3,0(3)\n.globl fault_segv_end\nfault_segv_end:\n\tblr\n.size fault_segv,.-fault_segv\n");
#define UC_PC(uc) ((uc)->uc_mcontext.gp_regs[32])
#elif defined(__s390x__)
// Opcode 0x00 is no s390x instruction: an operation exception, SIGILL.
__asm__(".text\n.globl fault_ill\n.type fault_ill,@function\nfault_ill:\n\t.short 0\n.globl fault_ill_end\nfault_ill_end:\n\tbr %r14\n.size fault_ill,.-fault_ill\n"
        ".globl fault_segv\n.type fault_segv,@function\nfault_segv:\n\tlghi %r1,0\n\tlg %r2,0(%r1)\n.globl fault_segv_end\nfault_segv_end:\n\tbr %r14\n.size fault_segv,.-fault_segv\n");
#define UC_PC(uc) ((uc)->uc_mcontext.psw.addr)
#elif defined(__riscv)
// The all-zero halfword is defined illegal (c.unimp): SIGILL. __gregs[0]
// is the PC (REG_PC).
__asm__(".text\n.globl fault_ill\n.type fault_ill,@function\nfault_ill:\n\t.2byte 0\n.globl fault_ill_end\nfault_ill_end:\n\tret\n.size fault_ill,.-fault_ill\n"
        ".globl fault_segv\n.type fault_segv,@function\nfault_segv:\n\tli a0,0\n\tlw a0,0(a0)\n.globl fault_segv_end\nfault_segv_end:\n\tret\n.size fault_segv,.-fault_segv\n");
#define UC_PC(uc) ((uc)->uc_mcontext.__gregs[REG_PC])
#elif defined(__loongarch64)
// The all-zero word is no LoongArch instruction: an instruction-not-exist
// exception, SIGILL. glibc names the PC __pc.
__asm__(".text\n.globl fault_ill\n.type fault_ill,@function\nfault_ill:\n\t.word 0\n.globl fault_ill_end\nfault_ill_end:\n\tjr $ra\n.size fault_ill,.-fault_ill\n"
        ".globl fault_segv\n.type fault_segv,@function\nfault_segv:\n\tld.w $a0, $zero, 0\n.globl fault_segv_end\nfault_segv_end:\n\tjr $ra\n.size fault_segv,.-fault_segv\n");
#define UC_PC(uc) ((uc)->uc_mcontext.__pc)
#else
#error "debug.c: no faulting instructions for this architecture"
#endif

void fault_ill(void);
void fault_segv(void);
extern char fault_ill_end[], fault_segv_end[];

volatile int handled;

static void on_fault(int sig, siginfo_t *si, void *ucv) {
	ucontext_t *uc = ucv;
	handled++; // LINE handler_body
	UC_PC(uc) = (unsigned long)(sig == SIGILL ? fault_ill_end : fault_segv_end);
}

static int faulting(void (*fault)(void), int sig) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO;
	sigaction(sig, &sa, NULL);
	fault();
	printf("handled %d\n", handled);
	return 0;
}

volatile int usr1s;

// on_usr1 counts SIGUSR1s: the tests send them to a stopped thread.
static void on_usr1(int sig) { usr1s++; }

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IONBF, 0);
	signal(SIGUSR1, on_usr1);
	const char *mode = argc > 1 ? argv[1] : "lines";
	if (strcmp(mode, "lines") == 0) {
		int sum = 0;
		sum += add(1, 2); // LINE call1
		sum += add(3, 4); // LINE call2
		sum += add(5, 6); // LINE call3
		printf("sum %d\n", sum);
		if (usr1s > 0) {
			printf("usr1 %d\n", usr1s);
		}
		return 0;
	}
	if (strcmp(mode, "threads") == 0 && argc > 3) {
		int n = atoi(argv[2]);
		per_thread = atoi(argv[3]);
		pthread_t t[64];
		for (int i = 0; i < n && i < 64; i++) {
			pthread_create(&t[i], NULL, worker, NULL);
		}
		for (int i = 0; i < n && i < 64; i++) {
			pthread_join(t[i], NULL);
		}
		printf("hits %ld\n", counter);
		return 0;
	}
	if (strcmp(mode, "spin") == 0) {
		pthread_t t[2];
		for (int i = 0; i < 2; i++) {
			pthread_create(&t[i], NULL, spinner, NULL);
		}
		setvbuf(stdout, NULL, _IOLBF, 0);
		printf("ready\n");
		for (long i = 0;; i++) {
			usleep(10000);
			printf("tick %ld\n", i);
		}
	}
	if (strcmp(mode, "inline") == 0) {
		int sum = add(1, 2);        // LINE inl_before
		sum += twice(sum);          // LINE inl_call1
		sum += twice((int)counter); // LINE inl_call2
		printf("sum %d\n", sum);    // LINE inl_after
		return 0;
	}
	if (strcmp(mode, "sigill") == 0) {
		return faulting(fault_ill, SIGILL);
	}
	if (strcmp(mode, "segv") == 0) {
		return faulting(fault_segv, SIGSEGV);
	}
	if (strcmp(mode, "loop") == 0) {
		unsigned char orig[32];
		memcpy(orig, (void *)add, sizeof orig);
		printf("ready\n");
		for (long i = 0;; i++) {
			add((int)i, 1);
			if (memcmp(orig, (void *)add, sizeof orig) != 0) {
				// Not while a debugger holds a breakpoint there: this
				// runs only while the process runs on its own.
				static int seen;
				if (++seen > 1000) {
					printf("corrupt\n");
					return 3;
				}
			} else {
				usleep(1000);
			}
		}
	}
	fprintf(stderr, "usage: debug lines | threads N M | sigill | segv | loop | spin | inline\n");
	return 2;
}
