/* f_bad holds bytes taiji cannot decode (a VEX prefix selecting opcode map
 * 7, which holds instructions with other immediates); f_good is plain. */
__attribute__((noipa)) int f_good(int x) { return x + 1; }

__attribute__((noipa)) int f_bad(int x) {
	if (x > 1000)
		__asm__ volatile(".byte 0xc4, 0xe7, 0x78, 0x00, 0x00");
	return x * 2;
}

int main(void) { return f_good(1) + f_bad(2) == 6 ? 0 : 1; }
