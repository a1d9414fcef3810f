/* oneret calls empty N times (0: forever), GAP microseconds apart. At -O2
 * empty is one RET: its entry and its return are one instruction, and
 * noipa keeps the calls. Usage: oneret N GAP [ignore-sigterm] */
#include <signal.h>
#include <stdlib.h>
#include <time.h>
__attribute__((noipa)) void empty(long x) {}
int main(int argc, char **argv) {
	long n = atol(argv[1]);
	if (argc > 3)
		signal(SIGTERM, SIG_IGN);
	struct timespec gap = {0, atol(argv[2]) * 1000};
	for (long i = 0; n == 0 || i < n; i++) {
		empty(i);
		nanosleep(&gap, 0);
	}
	return 0;
}
