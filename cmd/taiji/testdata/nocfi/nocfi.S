/* Functions without CFI (no .cfi_* directives), each blocking in pause(2)
   by a raw syscall so that a thread stays inside it. None of them makes
   %rbp a frame pointer except nocfi_fp; the frame-pointer chain read in
   the others skips their caller (whose frame %rbp still describes). */
	.text

/* A leaf that never saves %rbp: pushes and a constant frame. */
	.globl	nocfi_keep
	.type	nocfi_keep, @function
nocfi_keep:
	push	%rbx
	push	%r12
	sub	$40, %rsp
	mov	$0x1234, %rbx
1:	mov	$34, %eax	/* pause */
	syscall
	jmp	1b
	.size	nocfi_keep, .-nocfi_keep

/* An early return before the blocking path: the epilogue on the way must
   not be taken for the state of the code after it. */
	.globl	nocfi_branchy
	.type	nocfi_branchy, @function
nocfi_branchy:
	push	%rbx
	test	%rdi, %rdi
	jnz	2f
	pop	%rbx
	ret
2:	lea	-24(%rsp), %rsp
1:	mov	$34, %eax
	syscall
	jmp	1b
	.size	nocfi_branchy, .-nocfi_branchy

/* A frame pointer set up, then the stack realigned: only %rbp locates
   the frame. It calls a C function that blocks. */
	.globl	nocfi_fp
	.type	nocfi_fp, @function
nocfi_fp:
	push	%rbp
	mov	%rsp, %rbp
	and	$-32, %rsp
	sub	$64, %rsp
	call	block_in_c
	leave
	ret
	.size	nocfi_fp, .-nocfi_fp

/* A realigned stack and no frame pointer: the code cannot be followed, so
   the walk can only guess, and must say so. */
	.globl	nocfi_guess
	.type	nocfi_guess, @function
nocfi_guess:
	push	%rbx
	mov	%rsp, %rbx
	and	$-32, %rsp
1:	mov	$34, %eax
	syscall
	jmp	1b
	.size	nocfi_guess, .-nocfi_guess

	.section	.note.GNU-stack,"",@progbits
