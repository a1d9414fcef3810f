/* hello.c is the C target program testdata/xarch/build cross-compiles into
 * /targets; TestTargets runs it inside the VM. */
#include <stdio.h>
#include <sys/utsname.h>

int main(void) {
	struct utsname u;
	if (uname(&u) != 0)
		return 1;
	printf("hello-c machine=%s\n", u.machine);
	return 0;
}
