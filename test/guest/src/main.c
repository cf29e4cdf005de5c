/* Test guest main: parse the command line, run the requested tests. */
#include "guest.h"

volatile struct mailbox *mailbox = (struct mailbox *)MAILBOX_ADDR;

struct user_params {
	u64 dirty_mib;
	u64 dirty_rounds;
	u64 pio_count;
};
struct user_params uparams = {16, 3, 100000};

extern u64 gdt_tss[2];
extern u8 tss[104];
extern u8 trap_stack[];
extern u64 idt[512];
extern void isr0(void), isr1(void), isr2(void), isr3(void), isr4(void), isr5(void), isr6(void), isr7(void),
	isr8(void), isr10(void), isr11(void), isr12(void), isr13(void), isr14(void), isr16(void), isr17(void),
	isr18(void), isr19(void), isr48(void), isr49(void), isr255(void);
extern void do_int3(void);
extern __attribute__((noreturn)) void user_return(u64 value);
extern char int3_return[];

static const char *cmdline;
static u64 ram_top; /* end of the RAM range holding DIRTY_BASE */

void set_idt_gate(int vec, void (*handler)(void), int dpl)
{
	u64 off = (u64)handler;
	idt[2 * vec] = (off & 0xFFFF) | ((u64)KCODE << 16) | ((u64)(0x8E | (dpl << 5)) << 40) |
		       ((off >> 16) & 0xFFFF) << 48;
	idt[2 * vec + 1] = off >> 32;
}

static void setup_cpu_tables(void)
{
	u64 base = (u64)tss;
	gdt_tss[0] = 103 | (base & 0xFFFFFF) << 16 | 0x89UL << 40 | ((base >> 24) & 0xFF) << 56;
	gdt_tss[1] = base >> 32;
	*(u64 *)(tss + 4) = (u64)trap_stack + STACK_SIZE; /* rsp0 */
	*(u16 *)(tss + 102) = 104;                         /* no I/O bitmap */
	static void (*const exc[])(void) = {isr0, isr1, isr2, isr3, isr4, isr5, isr6, isr7, isr8, NULL,
					    isr10, isr11, isr12, isr13, isr14, NULL, isr16, isr17, isr18, isr19};
	for (int v = 0; v < 20; v++)
		if (exc[v])
			set_idt_gate(v, exc[v], v == 3 ? 3 : 0);
	set_idt_gate(SCI_VECTOR, isr48, 0);
	set_idt_gate(BALLOON_VECTOR, isr49, 0);
	set_idt_gate(255, isr255, 0);

	__asm__ volatile("ltr %w0" : : "r"(TSS_SEL));
}

/* Value of "key=" on the command line (up to a space), or NULL. */
static const char *param(const char *key, u64 *len)
{
	u64 kl = strlen(key);
	for (const char *p = cmdline; p && *p; p++) {
		if ((p == cmdline || p[-1] == ' ') && !strncmp(p, key, kl)) {
			const char *v = p + kl;
			u64 n = 0;
			while (v[n] && v[n] != ' ')
				n++;
			*len = n;
			return v;
		}
	}
	return NULL;
}

static u64 param_u64(const char *key, u64 def)
{
	u64 n;
	const char *v = param(key, &n);
	if (!v)
		return def;
	u64 x = 0;
	for (u64 i = 0; i < n && v[i] >= '0' && v[i] <= '9'; i++)
		x = x * 10 + (v[i] - '0');
	return x;
}

static int token_is(const char *t, u64 n, const char *name)
{
	return strlen(name) == n && !strncmp(t, name, n);
}

/* Whether govirt.test= lists name. */
static int test_listed(const char *name)
{
	u64 len;
	const char *t = param("govirt.test=", &len);
	while (t && len) {
		u64 n = 0;
		while (n < len && t[n] != ',')
			n++;
		if (token_is(t, n, name))
			return 1;
		if (n == len)
			break;
		t += n + 1;
		len -= n + 1;
	}
	return 0;
}

/* The ring-3 dirty workload on the first AP (dirty-ap), so that the BSP
 * stays free to serve. */
void (*volatile ap_job)(void);
static int dirty_ap_started;

static void ap_dirty(void)
{
	/* The TSS is shared with the BSP, which no longer enters ring 3:
	 * clear its busy bit so that this CPU can load it too. */
	gdt_tss[0] &= ~(1UL << 41);
	__asm__ volatile("ltr %w0" : : "r"(TSS_SEL));
	run_user(user_dirty, 0);
}

static int dirty_params(void)
{
	uparams.dirty_mib = param_u64("govirt.dirty_mib=", 16);
	uparams.dirty_rounds = param_u64("govirt.dirty_rounds=", 3);
	if (DIRTY_BASE + (uparams.dirty_mib << 20) > ram_top || !uparams.dirty_mib) {
		print("GVTEST FAIL dirty: %lu MiB at %lx do not fit ram ending at %lx\n", uparams.dirty_mib, DIRTY_BASE,
		      ram_top);
		return -1;
	}
	return 0;
}

static void start_dirty_ap(void)
{
	if (dirty_ap_started)
		return;
	dirty_ap_started = 1;
	if (acpi.ncpus < 2) {
		print("GVTEST FAIL dirty-ap: needs a second cpu\n");
		return;
	}
	if (dirty_params() < 0)
		return;
	ap_job = ap_dirty;
	smp_start();
}

/* Command register and BARs 0-1 of every function on bus 0. */
static void pci_regs(void)
{
	u64 base = acpi.ecam_base ? acpi.ecam_base : 0xE0000000UL;
	for (int dev = 0; dev < 32; dev++) {
		u64 cfg = base + ((u64)dev << 15);
		if ((mmio_read32(cfg) & 0xFFFF) == 0xFFFF)
			continue;
		print("GVTEST pcireg 00:%02x cmd=%04x bar0=%08x bar1=%08x\n", dev, mmio_read16(cfg + 4), mmio_read32(cfg + 0x10),
		      mmio_read32(cfg + 0x14));
	}
}

void power_off(void)
{
	print("GVTEST poweroff\n");
	outw(acpi.pm1a_cnt, (u16)(acpi.slp_typ_s5 << 10 | 1 << 13));
	halt_forever();
}

static void ioapic_write(u32 reg, u32 v)
{
	mmio_write32(IOAPIC_BASE, reg);
	mmio_write32(IOAPIC_BASE + 0x10, v);
}

/* Route the SCI through the IOAPIC to this CPU (the PICs masked, the
 * local APIC enabled). */
void sci_route(void)
{
	outb(0x21, 0xFF); /* mask the PICs */
	outb(0xA1, 0xFF);
	mmio_write32(LAPIC_BASE + 0xF0, mmio_read32(LAPIC_BASE + 0xF0) | 0x100 | 0xFF);
	/* level-triggered, active high, fixed, physical destination */
	ioapic_write(0x10 + 2 * acpi.sci_irq + 1, lapic_id() << 24);
	ioapic_write(0x10 + 2 * acpi.sci_irq, SCI_VECTOR | 1 << 15);
}

/* Enable the power button event and wait in hlt; the SCI handler powers
 * off. */
static void wait_power(void)
{
	sci_route();
	outw(acpi.pm1a_evt + 2, 0x100); /* PWRBTN_EN */
	print("GVTEST wait-power\n");
	for (;;)
		__asm__ volatile("sti; hlt; cli");
}

static void sci(void)
{
	u16 sts = inw(acpi.pm1a_evt);
	outw(acpi.pm1a_evt, sts); /* write-1-to-clear */
	lapic_eoi();
	if (sts & 0x100) {
		print("GVTEST power button\n");
		power_off();
	}
	print("GVTEST sci sts=%x\n", sts);
}

void trap(struct trap_frame *f)
{
	if (serve_interrupt(f->vector))
		return;
	switch (f->vector) {
	case 3:
		if (f->rip == (u64)int3_return)
			print("GVTEST int3 ok\n");
		else
			print("GVTEST FAIL int3 returns to %lx, want %lx\n", f->rip, (u64)int3_return);
		return;
	case SCI_VECTOR:
		sci();
		return;
	case 255:
		return;
	case 6: /* ud2 from ring 3 is a system call (rax: 0 exit, 1 console write) */
		if ((f->cs & 3) == 3 && *(volatile u16 *)f->rip == 0x0B0F) {
			if (f->rax == 0)
				user_return(f->rdi);
			if (f->rax == 1 && f->rsi <= 256)
				console_write((const char *)f->rdi, f->rsi);
			f->rip += 2;
			return;
		}
		break;
	}
	if ((f->cs & 3) == 3)
		unlock_console(); /* user code may have died holding it */
	print("GVTEST FAIL exception vec=%lu err=%lx rip=%lx cs=%lx\n", f->vector, f->error, f->rip, f->cs);
	halt_forever();
}

static void find_ram_top(const u8 *bp)
{
	u8 n = bp[0x1E8];
	for (int i = 0; i < n && i < 128; i++) {
		const u8 *e = bp + 0x2D0 + 20 * i;
		u64 addr = *(u64 *)e, size = *(u64 *)(e + 8);
		u32 type = *(u32 *)(e + 16);
		if (type == 1 && addr <= DIRTY_BASE && addr + size > DIRTY_BASE)
			ram_top = addr + size;
	}
}

static void run_test(const char *t, u64 n)
{
	if (token_is(t, n, "smp")) {
		smp_start();
	} else if (token_is(t, n, "int3")) {
		print("GVTEST int3 start\n");
		do_int3();
		print("GVTEST int3 returned\n");
	} else if (token_is(t, n, "dirty")) {
		if (dirty_params() < 0)
			return;
		run_user(user_dirty, 0);
	} else if (token_is(t, n, "dirty-ap")) {
		start_dirty_ap();
	} else if (token_is(t, n, "serve")) {
		u64 first = DIRTY_BASE;
		if (test_listed("dirty-ap")) {
			start_dirty_ap();
			first += uparams.dirty_mib << 20;
		}
		serve(first >> 12, ram_top > first ? (ram_top - first) >> 12 : 0);
	} else if (token_is(t, n, "pci-regs")) {
		pci_regs();
	} else if (token_is(t, n, "pio")) {
		kernel_pio(param_u64("govirt.pio_count=", 100000));
	} else if (token_is(t, n, "mmio")) {
		uparams.pio_count = param_u64("govirt.mmio_count=", 100000);
		run_user(user_mmio, 0);
	} else if (token_is(t, n, "garbage")) {
		kernel_port_garbage();
		run_user(user_garbage, 0);
	} else if (token_is(t, n, "pci")) {
		pci_list();
	} else if (token_is(t, n, "blk")) {
		virtio_blk_test();
	} else if (token_is(t, n, "net")) {
		virtio_net_test();
	} else if (token_is(t, n, "balloon")) {
		virtio_balloon_test(ram_top > DIRTY_BASE ? (ram_top - DIRTY_BASE) >> 12 : 0);
	} else if (token_is(t, n, "triple")) {
		static const struct {
			u16 limit;
			u64 base;
		} __attribute__((packed)) noidt = {0, 0};
		print("GVTEST triple\n");
		__asm__ volatile("lidt %0; ud2" : : "m"(noidt));
	} else if (token_is(t, n, "crash")) {
		/* Execute from a hole in the physical address space: nothing can
		 * fetch the instruction, so the vCPU fails (a crash for the VMM). */
		print("GVTEST crash\n");
		((void (*)(void))0xFD000000UL)();
		print("GVTEST FAIL crash returned\n");
	} else if (token_is(t, n, "wait-power")) {
		wait_power();
	} else if (token_is(t, n, "poweroff")) {
		power_off();
	} else if (token_is(t, n, "reboot")) {
		print("GVTEST reboot\n");
		outb(PORT_RESET_CF9, 0x06);
		halt_forever();
	} else if (token_is(t, n, "reboot-kbd")) {
		print("GVTEST reboot\n");
		outb(PORT_I8042_CMD, 0xFE);
		halt_forever();
	} else if (token_is(t, n, "halt")) {
		print("GVTEST halt\n");
		halt_forever();
	} else {
		print("GVTEST FAIL unknown test ");
		lock_console();
		for (u64 i = 0; i < n; i++)
			putc_raw(t[i]);
		putc_raw('\n');
		unlock_console();
	}
}

void kmain(u8 *bp)
{
	setup_cpu_tables();
	mailbox->magic = MAILBOX_MAGIC;
	cmdline = (const char *)(u64) * (u32 *)(bp + 0x228);
	find_ram_top(bp);
	print("GVTEST cmdline %s\n", cmdline);
	if (acpi_init(*(u64 *)(bp + 0x70)) < 0)
		halt_forever();
	outb(PORT_BOOT_MARKER, 1);
	print("GVTEST ready\n");
	u64 len;
	const char *tests = param("govirt.test=", &len);
	while (tests && len) {
		u64 n = 0;
		while (n < len && tests[n] != ',')
			n++;
		if (n)
			run_test(tests, n);
		if (n == len)
			break;
		tests += n + 1;
		len -= n + 1;
	}
	print("GVTEST done\n");
	halt_forever();
}
