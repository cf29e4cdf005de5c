/*
 * Serve mode (govirt.test=serve): after the tests before it, the BSP idles
 * in hlt with interrupts on and services, interrupt-driven,
 *  - the ACPI power button (SCI, PM1 PWRBTN_STS): "GVTEST poweroff", S5;
 *  - virtio-balloon target changes (MSI-X configuration interrupt): inflate
 *    or deflate to the target, "GVTEST balloon actual N";
 *  - PCI hot-plug (SCI, GPE0 bit of \_GPE._Exx): read the up/down slot
 *    bitmaps as the DSDT's PCNT method does, print
 *    "GVTEST hotplug add 00:SS VVVV:DDDD" for a new device and, for an
 *    eject request, eject the slot as its _EJ0 method does and print
 *    "GVTEST hotplug remove 00:SS".
 * Interrupt handlers only record events and acknowledge them; the loop
 * does the work with interrupts on, and sleeps in hlt otherwise (kernel
 * code may be emulated instruction by instruction: no polling).
 */
#include "guest.h"

#define EV_POWER 1
#define EV_HOTPLUG 2
#define EV_BALLOON 4

#define HP_UP 0x0
#define HP_DOWN 0x4
#define HP_EJECT 0x8

static volatile u32 pending;
static int serving;

/* GPE0 status byte and bit of GPE n (enable bytes follow the status
 * bytes). */
static u16 gpe_port(int n, int enable) { return acpi.gpe0_blk + (enable ? acpi.gpe0_len / 2 : 0) + n / 8; }

/* serve_interrupt handles the vectors of serve mode; 0 if not ours. Runs
 * with interrupts off. */
int serve_interrupt(u64 vector)
{
	if (!serving)
		return 0;
	switch (vector) {
	case SCI_VECTOR: {
		u16 sts = inw(acpi.pm1a_evt);
		if (sts & 0x100) {
			outw(acpi.pm1a_evt, 0x100); /* write-1-to-clear */
			pending |= EV_POWER;
		}
		if (acpi.pcihp_gpe >= 0) {
			u8 bit = (u8)(1 << (acpi.pcihp_gpe % 8));
			if (inb(gpe_port(acpi.pcihp_gpe, 0)) & bit) {
				outb(gpe_port(acpi.pcihp_gpe, 0), bit);
				pending |= EV_HOTPLUG;
			}
		}
		lapic_eoi();
		return 1;
	}
	case BALLOON_VECTOR:
		pending |= EV_BALLOON;
		lapic_eoi();
		return 1;
	}
	return 0;
}

static void hotplug_event(void)
{
	u16 port = acpi.pcihp_port;
	u32 up = inl(port + HP_UP); /* reading consumes it */
	u32 down = inl(port + HP_DOWN);
	for (int slot = 1; slot < 32; slot++) {
		if (up & (1U << slot)) {
			u32 id = pci_id(slot);
			if ((id & 0xFFFF) == 0xFFFF)
				print("GVTEST hotplug add 00:%02x empty\n", slot);
			else
				print("GVTEST hotplug add 00:%02x %04x:%04x\n", slot, id & 0xFFFF, id >> 16);
		}
		if (down & (1U << slot)) {
			outl(port + HP_EJECT, 1U << slot);
			print("GVTEST hotplug remove 00:%02x\n", slot);
		}
	}
}

void serve(u64 balloon_first_pfn, u64 balloon_max_pages)
{
	sci_route();
	int balloon = balloon_serve_init(balloon_first_pfn, balloon_max_pages, BALLOON_VECTOR) == 0;
	serving = 1;
	outw(acpi.pm1a_evt + 2, 0x100); /* PWRBTN_EN */
	if (acpi.pcihp_port && acpi.pcihp_gpe >= 0 && acpi.gpe0_blk && acpi.pcihp_gpe < acpi.gpe0_len * 4)
		outb(gpe_port(acpi.pcihp_gpe, 1), (u8)(1 << (acpi.pcihp_gpe % 8)));
	else
		print("GVTEST FAIL serve: no pci hot-plug in the acpi tables\n");
	print("GVTEST serve ready balloon=%d hotplug=%x gpe=%d\n", balloon, acpi.pcihp_port, acpi.pcihp_gpe);
	pending |= EV_BALLOON; /* a target set before we listened */
	for (;;) {
		__asm__ volatile("cli");
		u32 ev = pending;
		pending = 0;
		if (!ev) {
			/* sti's shadow covers hlt: an interrupt that became
			 * pending since cli wakes it. */
			__asm__ volatile("sti; hlt" ::: "memory");
			continue;
		}
		__asm__ volatile("sti" ::: "memory");
		if (ev & EV_POWER)
			power_off();
		if (ev & EV_HOTPLUG)
			hotplug_event();
		if (ev & EV_BALLOON)
			balloon_serve_update();
	}
}
