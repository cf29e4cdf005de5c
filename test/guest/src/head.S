/*
 * Entry points, descriptor tables, page tables and interrupt stubs.
 */
#include "guest.h"

	.section .text.head, "ax"
	.code32
	.globl startup_32
startup_32:
	/* Only the 64-bit entry is supported. */
1:	cli
	hlt
	jmp 1b

	.org 0x200
	.code64
	.globl startup_64
startup_64:
	/* First console bytes as early as possible: "GVTEST start\n". */
	cli
	mov $PORT_COM1, %dx
	lea banner(%rip), %rcx
2:	movb (%rcx), %al
	test %al, %al
	jz 3f
	outb %al, %dx
	inc %rcx
	jmp 2b
3:
	mov %rsi, %r12			/* boot_params */
	mov $(bsp_stack + STACK_SIZE), %rsp
	call load_cpu_tables
	mov %r12, %rdi
	call kmain
	jmp halt_forever

/*
 * load_cpu_tables: our GDT, segments, page tables and IDT (every CPU).
 * Clobbers rax.
 */
	.globl load_cpu_tables
load_cpu_tables:
	lgdt gdt_desc
	pushq $KCODE
	lea 4f(%rip), %rax
	pushq %rax
	lretq
4:	mov $KDATA, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	xor %eax, %eax
	mov %ax, %fs
	mov %ax, %gs
	mov $pml4, %rax
	mov %rax, %cr3
	lidt idt_desc
	ret

/*
 * AP 64-bit entry from the trampoline: take a CPU slot and a stack.
 */
	.globl ap_entry64
ap_entry64:
	mov $1, %eax
	lock xaddl %eax, ap_next
	cmp $MAX_CPUS, %eax
	jae halt_forever		/* no stack slot left */
	mov %rax, %rdi			/* AP index (1..) */
	inc %rax
	shl $14, %rax			/* STACK_SIZE */
	lea ap_stacks(%rax), %rsp
	call load_cpu_tables
	call ap_main
	jmp halt_forever

/*
 * Interrupt stubs: push a dummy error code where the CPU pushes none, the
 * vector, then the registers, and call trap(frame).
 */
.macro ISR vec, has_err
	.globl isr\vec
isr\vec:
	.if \has_err == 0
	pushq $0
	.endif
	pushq $\vec
	jmp isr_common
.endm

ISR 0, 0
ISR 1, 0
ISR 2, 0
ISR 3, 0
ISR 4, 0
ISR 5, 0
ISR 6, 0
ISR 7, 0
ISR 8, 1
ISR 10, 1
ISR 11, 1
ISR 12, 1
ISR 13, 1
ISR 14, 1
ISR 16, 0
ISR 17, 1
ISR 18, 0
ISR 19, 0
ISR 48, 0
ISR 49, 0
ISR 255, 0

isr_common:
	push %rax
	push %rbx
	push %rcx
	push %rdx
	push %rsi
	push %rdi
	push %rbp
	push %r8
	push %r9
	push %r10
	push %r11
	push %r12
	push %r13
	push %r14
	push %r15
	mov %rsp, %rdi
	call trap
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %r11
	pop %r10
	pop %r9
	pop %r8
	pop %rbp
	pop %rdi
	pop %rsi
	pop %rdx
	pop %rcx
	pop %rbx
	pop %rax
	add $16, %rsp
	iretq

/*
 * run_user(fn, arg): run fn(arg) in ring 3 with IOPL 3 on the user stack
 * until it executes int $0x80 (user_exit), whose rdi becomes the return
 * value. Interrupts stay off in ring 3.
 */
	.globl run_user
run_user:
	push %rbx
	push %rbp
	push %r12
	push %r13
	push %r14
	push %r15
	mov %rsp, user_saved_rsp
	mov %rdi, %rax			/* fn */
	mov %rsi, %rdi			/* arg */
	pushq $(UDATA | 3)		/* ss */
	pushq $(user_stack + STACK_SIZE)	/* rsp */
	pushq $0x3002			/* rflags: IOPL 3, IF 0 */
	pushq $(UCODE | 3)		/* cs */
	pushq %rax			/* rip */
	iretq

	/*
	 * isr_user_exit(value): ring 3 finished (user_exit); drop the trap
	 * frame and return value from run_user.
	 */
	.globl user_return
user_return:
	mov $KDATA, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %rdi, %rax			/* return value */
	mov user_saved_rsp, %rsp
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %rbp
	pop %rbx
	ret

	/*
	 * System calls from ring 3 are ud2 with the call number in rax: the
	 * #UD handler serves them. int n and syscall are not used because
	 * hosts like kvm_pvm do not deliver them to an unmodified kernel.
	 */
	.globl user_exit
user_exit:
	xor %eax, %eax
	ud2
	jmp user_exit

	.globl halt_forever
halt_forever:
	cli
5:	hlt
	jmp 5b

	/* The kernel-mode int3 the host turns into #BP (int3 test). */
	.globl do_int3
	.globl int3_return
do_int3:
	int3
int3_return:
	ret

/*
 * AP trampoline, copied to TRAMPOLINE_ADDR: real mode -> protected mode ->
 * long mode -> ap_entry64.
 */
#define TR(x) (TRAMPOLINE_ADDR + (x) - trampoline_start)
	.globl trampoline_start
	.globl trampoline_end
	.code16
trampoline_start:
	cli
	mov %cs, %ax
	mov %ax, %ds
	lgdtl (tramp_gdt_desc - trampoline_start)
	mov %cr0, %eax
	or $1, %eax
	mov %eax, %cr0
	ljmpl $0x08, $TR(tramp_pm32)
	.code32
tramp_pm32:
	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov %cr4, %eax
	or $0x20, %eax			/* PAE */
	mov %eax, %cr4
	mov $pml4, %eax
	mov %eax, %cr3
	mov $0xC0000080, %ecx		/* EFER */
	rdmsr
	or $0x100, %eax			/* LME */
	wrmsr
	mov %cr0, %eax
	or $0x80000000, %eax		/* PG */
	mov %eax, %cr0
	ljmp $0x18, $TR(tramp_lm64)
	.code64
tramp_lm64:
	movabs $ap_entry64, %rax
	jmp *%rax
	.balign 8
tramp_gdt:
	.quad 0
	.quad 0x00CF9A000000FFFF	/* 0x08 code32 */
	.quad 0x00CF92000000FFFF	/* 0x10 data */
	.quad 0x00AF9A000000FFFF	/* 0x18 code64 */
tramp_gdt_desc:
	.word 31
	.long TR(tramp_gdt)
trampoline_end:

	.section .rodata
banner:
	.asciz "GVTEST start\n"

	.data
	.balign 16
	.globl gdt
gdt:
	.quad 0
	.quad 0x00AF9A000000FFFF	/* 0x08 kernel code64 */
	.quad 0x00CF92000000FFFF	/* 0x10 kernel data */
	.quad 0x00CFF2000000FFFF	/* 0x18 user data, DPL 3 */
	.quad 0x00AFFA000000FFFF	/* 0x20 user code64, DPL 3 */
	.globl gdt_tss
gdt_tss:
	.quad 0				/* 0x28 TSS, filled by kmain */
	.quad 0
gdt_end:
gdt_desc:
	.word gdt_end - gdt - 1
	.quad gdt
idt_desc:
	.word 256 * 16 - 1
	.quad idt
ap_next:
	.long 1

	/* Identity map of 0-4 GiB, 2 MiB pages, user-accessible. */
	.balign 4096
	.globl pml4
pml4:
	.quad pdpt + 0x7
	.fill 511, 8, 0
pdpt:
	.quad pd0 + 0x7
	.quad pd0 + 0x1007
	.quad pd0 + 0x2007
	.quad pd0 + 0x3007
	.fill 508, 8, 0
pd0:
	.set i, 0
	.rept 2048
	.quad (i << 21) | 0x87
	.set i, i + 1
	.endr

	.bss
	.balign 4096
	.globl idt
idt:
	.fill 256 * 16, 1, 0
	.globl tss
tss:
	.fill 104, 1, 0
	.balign 16
bsp_stack:
	.fill STACK_SIZE, 1, 0
	.globl trap_stack
trap_stack:
	.fill STACK_SIZE, 1, 0
user_stack:
	.fill STACK_SIZE, 1, 0
ap_stacks:
	.fill STACK_SIZE * MAX_CPUS, 1, 0
user_saved_rsp:
	.quad 0
