/* Bring up the APs with INIT-SIPI-SIPI through the local APIC. */
#include "guest.h"

extern char trampoline_start[], trampoline_end[];

#define LAPIC_ID 0x20
#define LAPIC_EOI 0xB0
#define LAPIC_SVR 0xF0
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310

static volatile u32 aps_up;

u32 lapic_id(void) { return mmio_read32(LAPIC_BASE + LAPIC_ID) >> 24; }
void lapic_eoi(void) { mmio_write32(LAPIC_BASE + LAPIC_EOI, 0); }

static int cpu_index(u32 apic)
{
	for (int i = 0; i < acpi.ncpus; i++)
		if (acpi.apic_ids[i] == apic)
			return i;
	return -1;
}

void ap_main(u64 slot)
{
	u32 id = lapic_id();
	print("GVTEST cpu %d apic %u\n", cpu_index(id), id);
	__atomic_add_fetch(&aps_up, 1, __ATOMIC_SEQ_CST);
	if (slot == 1 && ap_job)
		ap_job();
}

static void send_ipi(u32 dest, u32 low)
{
	mmio_write32(LAPIC_BASE + LAPIC_ICR_HI, dest << 24);
	mmio_write32(LAPIC_BASE + LAPIC_ICR_LO, low);
}

int smp_start(void)
{
	u32 me = lapic_id();
	print("GVTEST cpu %d apic %u\n", cpu_index(me), me);
	int want = acpi.ncpus - 1;
	if (want <= 0) {
		print("GVTEST smp ok cpus=1\n");
		mailbox->cpus_up = 1;
		return 0;
	}
	memcpy((void *)TRAMPOLINE_ADDR, trampoline_start, trampoline_end - trampoline_start);
	/* Software-enable the local APIC. */
	mmio_write32(LAPIC_BASE + LAPIC_SVR, mmio_read32(LAPIC_BASE + LAPIC_SVR) | 0x100 | 0xFF);
	for (int i = 0; i < acpi.ncpus; i++) {
		u32 id = acpi.apic_ids[i];
		if (id == me)
			continue;
		send_ipi(id, 0x4500);                           /* INIT */
		send_ipi(id, 0x4600 | (TRAMPOLINE_ADDR >> 12)); /* SIPI */
		send_ipi(id, 0x4600 | (TRAMPOLINE_ADDR >> 12)); /* SIPI */
	}
	u64 start = rdtsc();
	while (aps_up < (u32)want) {
		cpu_relax();
		/* give up after ~60 s of a >= 1 GHz TSC */
		if (rdtsc() - start > 60000000000UL) {
			print("GVTEST FAIL smp: %u of %d aps up\n", aps_up, want);
			return -1;
		}
	}
	mailbox->cpus_up = aps_up + 1;
	print("GVTEST smp ok cpus=%u\n", aps_up + 1);
	return 0;
}
