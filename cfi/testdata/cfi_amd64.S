// Hand-written CFI covering the DW_CFA instructions and CIE augmentations
// that compilers rarely emit. The code is never run: only its CFI is read,
// and readelf is the oracle. Raw .cfi_escape bytes are commented.
	.cfi_sections .eh_frame, .debug_frame
	.text

	.globl rules
	.type rules, @function
rules:
	.cfi_startproc
	.cfi_personality 0x9b, pers_ref      // indirect pcrel sdata4
	.cfi_lsda 0x1b, lsda                 // pcrel sdata4
	nop
	push %rbx
	.cfi_adjust_cfa_offset 8
	.cfi_offset %rbx, -16
	nop
	.cfi_remember_state
	.cfi_register %rbp, %rax
	.cfi_val_offset %r12, -8
	.cfi_undefined %r13
	.cfi_same_value %r14
	.cfi_def_cfa_register %rbp
	nop
	.cfi_restore_state
	nop
	.cfi_escape 0x2e, 0x10               // DW_CFA_GNU_args_size 16
	.cfi_escape 0x2f, 0x0f, 0x03         // DW_CFA_GNU_negative_offset_extended r15, 3 (c+24)
	.cfi_escape 0x16, 0x0c, 0x02, 0x77, 0x08 // DW_CFA_val_expression r12 {breg7 +8}
	nop
	.cfi_escape 0x10, 0x0d, 0x02, 0x77, 0x10 // DW_CFA_expression r13 {breg7 +16}
	.cfi_escape 0x15, 0x0e, 0x7e         // DW_CFA_val_offset_sf r14, -2 (v+16)
	.cfi_escape 0x11, 0x06, 0x7c         // DW_CFA_offset_extended_sf rbp, -4 (c+32)
	.cfi_escape 0x05, 0x03, 0x03         // DW_CFA_offset_extended rbx, 3 (c-24)
	nop
	.cfi_escape 0x0c, 0x06, 0x10         // DW_CFA_def_cfa rbp, 16
	.cfi_escape 0x13, 0x7d               // DW_CFA_def_cfa_offset_sf -3 (24)
	nop
	.cfi_escape 0x12, 0x07, 0x7f         // DW_CFA_def_cfa_sf rsp, -1 (8)
	.cfi_escape 0x0e, 0x28               // DW_CFA_def_cfa_offset 40
	nop
	.cfi_restore %rbx
	.cfi_escape 0x06, 0x0f               // DW_CFA_restore_extended r15
	.cfi_escape 0x00                     // DW_CFA_nop
	.cfi_escape 0x02, 0x01               // DW_CFA_advance_loc1 1
	.cfi_escape 0x07, 0x0c               // DW_CFA_undefined r12
	.cfi_escape 0x03, 0x01, 0x00         // DW_CFA_advance_loc2 1
	.cfi_escape 0x08, 0x0c               // DW_CFA_same_value r12
	.cfi_escape 0x04, 0x01, 0x00, 0x00, 0x00 // DW_CFA_advance_loc4 1
	.cfi_escape 0x0f, 0x03, 0x77, 0x08, 0x06 // DW_CFA_def_cfa_expression {breg7 +8; deref}
	.cfi_escape 0x14, 0x0f, 0x02         // DW_CFA_val_offset r15, 2 (v-16)
	nop
	nop
	nop
	nop
	nop
	nop
	ret
	.cfi_endproc
	.size rules, .-rules

	// A signal trampoline's CFI: augmentation "zRS".
	.globl sigtramp
	.type sigtramp, @function
sigtramp:
	.cfi_startproc
	.cfi_signal_frame
	.cfi_escape 0x0f, 0x03, 0x77, 0xa0, 0x01 // DW_CFA_def_cfa_expression {breg7 +160}
	.cfi_escape 0x10, 0x10, 0x03, 0x77, 0xa8, 0x01 // DW_CFA_expression rip {breg7 +168}
	nop
	mov $15, %rax
	syscall
	.cfi_endproc
	.size sigtramp, .-sigtramp

	// The outermost frame: the return address is undefined, as in _start.
	.globl outermost
	.type outermost, @function
outermost:
	.cfi_startproc
	.cfi_undefined %rip
	xor %ebp, %ebp
	hlt
	.cfi_endproc
	.size outermost, .-outermost

	// A return column other than 16.
	.globl retcol
	.type retcol, @function
retcol:
	.cfi_startproc
	.cfi_return_column %rbx
	.cfi_register %rbx, %rax
	nop
	ret
	.cfi_endproc
	.size retcol, .-retcol

	.section .rodata
lsda:	.long 0
	.data
pers_ref: .quad pers
pers:	.quad 0
	.section .note.GNU-stack,"",@progbits
