/* Ring-3 workloads: they run natively even where kernel mode is emulated. */
#include "guest.h"

struct user_params {
	u64 dirty_mib;
	u64 dirty_rounds;
	u64 pio_count;
};
extern struct user_params uparams;

u64 dirty_checksum(u64 *p, u64 words)
{
	u64 s = 0xcbf29ce484222325UL;
	for (u64 i = 0; i < words; i++)
		s = (s ^ p[i]) * 0x100000001b3UL;
	return s;
}

/*
 * Write round r's pattern (word i = splitmix64(r << 40 ^ i)) over the
 * region, checksum it, publish round and sum in the mailbox and print them.
 * dirty_rounds 0 means forever (a load for migration tests).
 */
void user_dirty(u64 arg)
{
	(void)arg;
	u64 *p = (u64 *)DIRTY_BASE;
	u64 words = uparams.dirty_mib << 17;
	mailbox->dirty_mib = uparams.dirty_mib;
	for (u64 r = 1; uparams.dirty_rounds == 0 || r <= uparams.dirty_rounds; r++) {
		for (u64 i = 0; i < words; i++)
			p[i] = splitmix64((r << 40) ^ i);
		u64 sum = dirty_checksum(p, words);
		mailbox->dirty_sum = sum;
		barrier();
		mailbox->dirty_round = r;
		print("GVTEST dirty round %lu sum %016lx\n", r, sum);
	}
	user_exit(0);
}

/* Exits-per-second load with port I/O: one write to the POST port per
 * iteration. It runs in kernel mode: ring-3 port I/O faults under
 * kvm_pvm even with IOPL 3. */
void kernel_pio(u64 n)
{
	print("GVTEST pio start %lu\n", n);
	for (u64 i = 0; i < n; i++)
		outb(PORT_POST, (u8)i);
	mailbox->pio_count = n;
	print("GVTEST pio done %lu\n", n);
}

/* Exits-per-second load from ring 3 (natively executed everywhere): one
 * MMIO write to the debug register per iteration. */
void user_mmio(u64 arg)
{
	(void)arg;
	u64 n = uparams.pio_count;
	print("GVTEST mmio start %lu\n", n);
	for (u64 i = 0; i < n; i++)
		mmio_write32(DEBUG_MMIO, (u32)i);
	mailbox->pio_count = n;
	print("GVTEST mmio done %lu\n", n);
	user_exit(0);
}

static int skip_port(u32 port)
{
	/* Ports that would end the test (reset, poweroff) or garble our own
	 * console, and the in-kernel PIC/PIT whose state we rely on. */
	if (port >= 0x3F8 && port <= 0x3FF)
		return 1;
	if (port == PORT_RESET_CF9 || port == PORT_I8042_CMD)
		return 1;
	if (port >= acpi.pm1a_cnt && port < acpi.pm1a_cnt + 2u)
		return 1;
	if ((port >= 0x20 && port <= 0x21) || (port >= 0xA0 && port <= 0xA1) || (port >= 0x40 && port <= 0x43))
		return 1;
	return 0;
}

/*
 * Hostile-guest load, part 1 (kernel mode, as ring-3 port I/O may fault):
 * write pseudo-random values of every width to every port and read them
 * back.
 */
void kernel_port_garbage(void)
{
	u64 seed = 1, ports = 0;
	print("GVTEST garbage start\n");
	for (u32 port = 0; port < 0x10000; port++) {
		if (skip_port(port) || (port + 3 < 0x10000 && (skip_port(port + 1) || skip_port(port + 2) || skip_port(port + 3))))
			continue;
		u64 r = splitmix64(seed++);
		outb((u16)port, (u8)r);
		(void)inb((u16)port);
		if ((port & 1) == 0 && port + 1 < 0x10000) {
			outw((u16)port, (u16)(r >> 8));
			(void)inw((u16)port);
		}
		if ((port & 3) == 0 && port + 3 < 0x10000) {
			outl((u16)port, (u32)(r >> 24));
			(void)inl((u16)port);
		}
		ports++;
	}
	print("GVTEST garbage ports=%lu\n", ports);
}

/*
 * Part 2 (ring 3): poke the MMIO hole, stride 16 KiB outside the in-kernel
 * APICs, densely in the first 64 KiB of ECAM.
 */
void user_garbage(u64 arg)
{
	(void)arg;
	u64 seed = 7, mmio = 0;
	for (u64 a = 0xC0000000UL; a < 0x100000000UL; a += 0x4000) {
		if (a >= 0xFEC00000UL && a < 0xFF000000UL)
			continue; /* IOAPIC, LAPIC: in-kernel */
		if (a >= acpi.ecam_base && a < acpi.ecam_base + 0x10000)
			continue; /* done densely below */
		u64 r = splitmix64(seed++);
		mmio_write32(a + (r & 0xFFC), (u32)r);
		(void)mmio_read32(a + ((r >> 12) & 0xFFC));
		mmio++;
	}
	if (acpi.ecam_base) {
		for (u64 a = acpi.ecam_base; a < acpi.ecam_base + 0x10000; a += 4) {
			u64 r = splitmix64(seed++);
			switch (r & 3) {
			case 0: mmio_write8(a + ((r >> 2) & 3), (u8)(r >> 8)); break;
			case 1: mmio_write16(a + ((r >> 2) & 2), (u16)(r >> 8)); break;
			default: mmio_write32(a, (u32)(r >> 8)); break;
			}
			(void)mmio_read32(a);
			mmio++;
		}
	}
	print("GVTEST garbage done mmio=%lu\n", mmio);
	user_exit(0);
}
