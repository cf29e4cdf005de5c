/*
 * Linux boot protocol 2.15 setup header, so the guest also boots through the
 * bzImage loader. Only the 64-bit entry (+0x200 of the protected-mode part)
 * is supported; the real-mode setup code is absent. syssize_paras and
 * init_size_bytes come from bzimage.ld.
 */
	.section .setup, "a"
	.code16
	.globl _setup
_setup:
	.fill 0x1F1, 1, 0
setup_sects:		.byte 4
root_flags:		.word 0
syssize:		.long syssize_paras
ram_size:		.word 0
vid_mode:		.word 0xFFFF
root_dev:		.word 0
boot_flag:		.word 0xAA55
jump:			.byte 0xEB, hdr_end - header
header:			.ascii "HdrS"
version:		.word 0x020F
realmode_swtch:		.long 0
start_sys_seg:		.word 0x1000
kernel_version:		.word 0
type_of_loader:		.byte 0
loadflags:		.byte 1			/* LOADED_HIGH */
setup_move_size:	.word 0x8000
code32_start:		.long 0x100000
ramdisk_image:		.long 0
ramdisk_size:		.long 0
bootsect_kludge:	.long 0
heap_end_ptr:		.word 0
ext_loader_ver:		.byte 0
ext_loader_type:	.byte 0
cmd_line_ptr:		.long 0
initrd_addr_max:	.long 0x7FFFFFFF
kernel_alignment:	.long 0x200000
relocatable_kernel:	.byte 0
min_alignment:		.byte 21
xloadflags:		.word 1			/* XLF_KERNEL_64 */
cmdline_size:		.long 2047
hardware_subarch:	.long 0
hardware_subarch_data:	.quad 0
payload_offset:		.long 0
payload_length:		.long 0
setup_data:		.quad 0
pref_address:		.quad 0x100000
init_size:		.long init_size_bytes
handover_offset:	.long 0
kernel_info_offset:	.long 0
hdr_end:
	.org 5 * 512
