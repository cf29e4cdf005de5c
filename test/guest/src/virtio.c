/*
 * Minimal virtio 1.0 (modern) PCI driver: ECAM enumeration, one split
 * virtqueue per use, polled used rings (no interrupts needed).
 */
#include "guest.h"

#define VIRTIO_VENDOR 0x1AF4
#define VIRTIO_DEV_NET 0x1041
#define VIRTIO_DEV_BLK 0x1042
#define VIRTIO_DEV_BALLOON 0x1045

#define PCI_CAP_VENDOR 0x09
#define CAP_COMMON 1
#define CAP_NOTIFY 2
#define CAP_ISR 3
#define CAP_DEVICE 4

#define ST_ACK 1
#define ST_DRIVER 2
#define ST_DRIVER_OK 4
#define ST_FEATURES_OK 8
#define ST_FAILED 0x80

#define VQ_DESC_F_NEXT 1
#define VQ_DESC_F_WRITE 2
#define VQ_AVAIL_F_NO_INTERRUPT 1

#define QSIZE 8
#define PCI_MMIO_BASE 0xC0000000UL
#define PCI_MMIO_END 0xE0000000UL

struct vq_desc {
	u64 addr;
	u32 len;
	u16 flags;
	u16 next;
};

struct vq {
	struct vq_desc desc[QSIZE] __attribute__((aligned(4096)));
	struct {
		u16 flags, idx, ring[QSIZE], used_event;
	} avail __attribute__((aligned(4096)));
	struct {
		u16 flags, idx;
		struct {
			u32 id, len;
		} ring[QSIZE];
		u16 avail_event;
	} used __attribute__((aligned(4096)));
	u16 last_used;
	u16 qidx;
	u64 notify;
};

struct vdev {
	u64 cfg;      /* ECAM address of the function */
	u64 common;   /* common configuration */
	u64 device;   /* device-specific configuration */
	u64 notify_base;
	u32 notify_mult;
};

static u64 next_bar = PCI_MMIO_BASE;

static u64 ecam_base(void) { return acpi.ecam_base ? acpi.ecam_base : 0xE0000000UL; }

/* The memory address of BAR bar, assigning one if firmware left it zero. */
static u64 bar_addr(u64 cfg, int bar)
{
	u64 reg = cfg + 0x10 + 4 * bar;
	u32 lo = mmio_read32(reg);
	if (lo & 1)
		return 0; /* I/O BAR */
	int is64 = ((lo >> 1) & 3) == 2;
	u64 addr = lo & ~0xFUL;
	if (is64)
		addr |= (u64)mmio_read32(reg + 4) << 32;
	if (addr)
		return addr;
	mmio_write32(reg, 0xFFFFFFFF);
	u32 mask = mmio_read32(reg) & ~0xFU;
	if (!mask)
		return 0;
	u64 size = (u64)(~mask) + 1;
	u64 a = (next_bar + size - 1) & ~(size - 1);
	if (a + size > PCI_MMIO_END)
		return 0;
	next_bar = a + size;
	mmio_write32(reg, (u32)a);
	if (is64)
		mmio_write32(reg + 4, 0);
	return a;
}

static int vdev_find(u16 devid, struct vdev *d)
{
	u64 base = ecam_base();
	int buses = acpi.ecam_base ? acpi.ecam_end_bus + 1 : 1;
	for (int bus = 0; bus < buses; bus++) {
		for (int dev = 0; dev < 32; dev++) {
			u64 cfg = base + ((u64)bus << 20) + ((u64)dev << 15);
			u32 id = mmio_read32(cfg);
			if ((id & 0xFFFF) != VIRTIO_VENDOR || (id >> 16) != devid)
				continue;
			memset(d, 0, sizeof(*d));
			d->cfg = cfg;
			if (!(mmio_read16(cfg + 6) & 0x10))
				return -1; /* no capability list */
			for (u8 p = mmio_read8(cfg + 0x34) & 0xFC, n = 0; p && n < 48; p = mmio_read8(cfg + p + 1) & 0xFC, n++) {
				if (mmio_read8(cfg + p) != PCI_CAP_VENDOR)
					continue;
				u8 type = mmio_read8(cfg + p + 3);
				u64 b = bar_addr(cfg, mmio_read8(cfg + p + 4));
				u64 addr = b + mmio_read32(cfg + p + 8);
				if (!b)
					continue;
				if (type == CAP_COMMON && !d->common)
					d->common = addr;
				else if (type == CAP_DEVICE && !d->device)
					d->device = addr;
				else if (type == CAP_NOTIFY && !d->notify_base) {
					d->notify_base = addr;
					d->notify_mult = mmio_read32(cfg + p + 16);
				}
			}
			/* memory space + bus master */
			mmio_write16(cfg + 4, mmio_read16(cfg + 4) | 0x6);
			print("GVTEST virtio %x at %02x:%02x common=%lx device=%lx notify=%lx\n", devid, bus, dev, d->common,
			      d->device, d->notify_base);
			return d->common && d->notify_base ? 0 : -1;
		}
	}
	return -1;
}

static int vdev_init(struct vdev *d)
{
	u64 c = d->common;
	mmio_write8(c + 0x14, 0);
	for (int i = 0; mmio_read8(c + 0x14) != 0; i++)
		if (i > 1000000)
			return -1;
	mmio_write8(c + 0x14, ST_ACK);
	mmio_write8(c + 0x14, ST_ACK | ST_DRIVER);
	mmio_write32(c + 0x00, 1);
	u32 hi = mmio_read32(c + 0x04);
	if (!(hi & 1)) {
		print("GVTEST FAIL virtio: device lacks VIRTIO_F_VERSION_1\n");
		return -1;
	}
	mmio_write32(c + 0x08, 0);
	mmio_write32(c + 0x0C, 0);
	mmio_write32(c + 0x08, 1);
	mmio_write32(c + 0x0C, 1); /* VERSION_1 only */
	mmio_write8(c + 0x14, ST_ACK | ST_DRIVER | ST_FEATURES_OK);
	if (!(mmio_read8(c + 0x14) & ST_FEATURES_OK)) {
		print("GVTEST FAIL virtio: features not accepted\n");
		return -1;
	}
	return 0;
}

static int vq_setup(struct vdev *d, struct vq *q, u16 idx)
{
	u64 c = d->common;
	mmio_write16(c + 0x16, idx);
	u16 max = mmio_read16(c + 0x18);
	if (max == 0) {
		print("GVTEST FAIL virtio: queue %u missing\n", idx);
		return -1;
	}
	u16 size = max < QSIZE ? max : QSIZE;
	if (size != QSIZE) {
		print("GVTEST FAIL virtio: queue %u max size %u < %u\n", idx, max, QSIZE);
		return -1;
	}
	memset(q, 0, sizeof(*q));
	q->qidx = idx;
	q->avail.flags = VQ_AVAIL_F_NO_INTERRUPT;
	mmio_write16(c + 0x18, size);
	mmio_write16(c + 0x1A, 0xFFFF); /* no MSI-X vector */
	mmio_write64(c + 0x20, (u64)q->desc);
	mmio_write64(c + 0x28, (u64)&q->avail);
	mmio_write64(c + 0x30, (u64)&q->used);
	q->notify = d->notify_base + (u64)mmio_read16(c + 0x1E) * d->notify_mult;
	mmio_write16(c + 0x1C, 1);
	return 0;
}

static void vdev_ready(struct vdev *d)
{
	mmio_write8(d->common + 0x14, ST_ACK | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK);
}

/* Make descriptor chain head available and kick the device. */
static void vq_submit(struct vq *q, u16 head)
{
	q->avail.ring[q->avail.idx % QSIZE] = head;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	q->avail.idx++;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	mmio_write16(q->notify, q->qidx);
}

/* Wait for the next used element; returns its length or -1 on timeout. */
static i64 vq_wait(struct vq *q, u64 seconds)
{
	u64 start = rdtsc();
	while (*(volatile u16 *)&q->used.idx == q->last_used) {
		cpu_relax();
		if (rdtsc() - start > seconds * 1000000000UL)
			return -1;
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	u32 len = q->used.ring[q->last_used % QSIZE].len;
	q->last_used++;
	return len;
}

static void print_hex(const char *label, const u8 *p, int n)
{
	lock_console();
	puts_raw(label);
	for (int i = 0; i < n; i++) {
		const char *h = "0123456789abcdef";
		putc_raw(h[p[i] >> 4]);
		putc_raw(h[p[i] & 15]);
	}
	putc_raw('\n');
	unlock_console();
}

static struct vq blkq;
static struct {
	u32 type, reserved;
	u64 sector;
} blk_hdr;
static u8 blk_data[512] __attribute__((aligned(512)));
static volatile u8 blk_status;

static int blk_rw(struct vdev *d, u32 type, u64 sector)
{
	(void)d;
	blk_hdr.type = type;
	blk_hdr.reserved = 0;
	blk_hdr.sector = sector;
	blk_status = 0xFF;
	blkq.desc[0] = (struct vq_desc){(u64)&blk_hdr, sizeof(blk_hdr), VQ_DESC_F_NEXT, 1};
	blkq.desc[1] = (struct vq_desc){(u64)blk_data, 512, (u16)(VQ_DESC_F_NEXT | (type == 0 ? VQ_DESC_F_WRITE : 0)), 2};
	blkq.desc[2] = (struct vq_desc){(u64)&blk_status, 1, VQ_DESC_F_WRITE, 0};
	vq_submit(&blkq, 0);
	if (vq_wait(&blkq, 30) < 0) {
		print("GVTEST FAIL blk: request type %u timed out\n", type);
		return -1;
	}
	if (blk_status != 0) {
		print("GVTEST FAIL blk: request type %u status %u\n", type, blk_status);
		return -1;
	}
	return 0;
}

int virtio_blk_test(void)
{
	struct vdev d;
	if (vdev_find(VIRTIO_DEV_BLK, &d) < 0 || vdev_init(&d) < 0 || vq_setup(&d, &blkq, 0) < 0) {
		print("GVTEST FAIL blk: no usable virtio-blk device\n");
		return -1;
	}
	vdev_ready(&d);
	if (d.device)
		print("GVTEST blk capacity %lu\n", *(volatile u64 *)d.device);
	if (blk_rw(&d, 0, 0) < 0)
		return -1;
	print_hex("GVTEST blk sector0 ", blk_data, 32);
	static const char msg[] = "GVTEST-BLK-SECTOR1";
	for (int i = 0; i < 512; i++)
		blk_data[i] = (u8)i;
	memcpy(blk_data, msg, sizeof(msg) - 1);
	if (blk_rw(&d, 1, 1) < 0)
		return -1;
	print("GVTEST blk write ok\n");
	return 0;
}

#define NET_HDR 12
#define NET_BUF 2048
#define NET_RX 4

static struct vq rxq, txq;
static u8 rx_bufs[NET_RX][NET_BUF] __attribute__((aligned(64)));
static u8 tx_buf[NET_HDR + 64] __attribute__((aligned(64)));

int virtio_net_test(void)
{
	struct vdev d;
	if (vdev_find(VIRTIO_DEV_NET, &d) < 0 || vdev_init(&d) < 0 || vq_setup(&d, &rxq, 0) < 0 ||
	    vq_setup(&d, &txq, 1) < 0) {
		print("GVTEST FAIL net: no usable virtio-net device\n");
		return -1;
	}
	vdev_ready(&d);
	u8 mac[6] = {0x02, 0, 0, 0, 0, 0x01};
	if (d.device) {
		for (int i = 0; i < 6; i++)
			mac[i] = *(volatile u8 *)(d.device + i);
	}
	for (int i = 0; i < NET_RX; i++) {
		rxq.desc[i] = (struct vq_desc){(u64)rx_bufs[i], NET_BUF, VQ_DESC_F_WRITE, 0};
		rxq.avail.ring[i] = (u16)i;
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	rxq.avail.idx = NET_RX;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	mmio_write16(rxq.notify, 0);

	memset(tx_buf, 0, sizeof(tx_buf));
	u8 *f = tx_buf + NET_HDR;
	memset(f, 0xFF, 6);
	memcpy(f + 6, mac, 6);
	f[12] = 0x88;
	f[13] = 0xB5;
	static const char payload[] = "GVTEST-NET-PAYLOAD";
	memcpy(f + 14, payload, sizeof(payload) - 1);
	txq.desc[0] = (struct vq_desc){(u64)tx_buf, NET_HDR + 60, 0, 0};
	vq_submit(&txq, 0);
	if (vq_wait(&txq, 30) < 0) {
		print("GVTEST FAIL net: transmit timed out\n");
		return -1;
	}
	print("GVTEST net sent\n");
	/* Take the first frame of our test ether type; hand anything else the
	 * host's stack sends (IPv6 neighbour discovery, ...) back to the device. */
	for (int tries = 0; tries < 64; tries++) {
		i64 len = vq_wait(&rxq, 60);
		if (len < 0) {
			print("GVTEST FAIL net: nothing received\n");
			return -1;
		}
		u32 id = rxq.used.ring[(u16)(rxq.last_used - 1) % QSIZE].id;
		if (id >= NET_RX || len <= NET_HDR) {
			print("GVTEST FAIL net: bad rx element id %u len %ld\n", id, len);
			return -1;
		}
		const u8 *fr = rx_bufs[id] + NET_HDR;
		if (len - NET_HDR >= 14 && fr[12] == 0x88 && fr[13] == 0xB5) {
			print("GVTEST net recv len=%ld\n", len - NET_HDR);
			print_hex("GVTEST net frame ", fr, len - NET_HDR < 32 ? (int)(len - NET_HDR) : 32);
			return 0;
		}
		rxq.avail.ring[rxq.avail.idx % QSIZE] = (u16)id;
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		rxq.avail.idx++;
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		mmio_write16(rxq.notify, 0);
	}
	print("GVTEST FAIL net: no frame of ether type 88b5 among 64\n");
	return -1;
}

/*
 * Minimal balloon driver: wait for the host to set a target (num_pages),
 * hand that many pages over from the dirty region (which the guest does not
 * touch again), report them in actual, and follow later targets up or
 * down until the target returns to zero.
 */
#define BALLOON_BATCH 1024
static struct vq inflq, deflq;
static u32 balloon_pfns[BALLOON_BATCH] __attribute__((aligned(4096)));

static void delay_ms(u64 ms)
{
	u64 start = rdtsc();
	while (rdtsc() - start < ms * 1000000UL)
		cpu_relax();
}

/* Send pfns [first, first+n) on q, in batches. */
static int balloon_move(struct vq *q, u64 first, u64 n)
{
	while (n) {
		u64 k = n < BALLOON_BATCH ? n : BALLOON_BATCH;
		for (u64 i = 0; i < k; i++)
			balloon_pfns[i] = (u32)(first + i);
		q->desc[0] = (struct vq_desc){(u64)balloon_pfns, (u32)(4 * k), 0, 0};
		vq_submit(q, 0);
		if (vq_wait(q, 30) < 0) {
			print("GVTEST FAIL balloon: queue %u timed out\n", q->qidx);
			return -1;
		}
		first += k;
		n -= k;
	}
	return 0;
}

int virtio_balloon_test(u64 max_pages)
{
	struct vdev d;
	if (vdev_find(VIRTIO_DEV_BALLOON, &d) < 0 || !d.device || vdev_init(&d) < 0 || vq_setup(&d, &inflq, 0) < 0 ||
	    vq_setup(&d, &deflq, 1) < 0) {
		print("GVTEST FAIL balloon: no usable virtio-balloon device\n");
		return -1;
	}
	vdev_ready(&d);
	u64 first = DIRTY_BASE >> 12, have = 0, seen = 0;
	print("GVTEST balloon waiting max=%lu\n", max_pages);
	for (u64 waited = 0; waited < 600000; waited += 2) {
		u64 target = mmio_read32(d.device);
		if (target > max_pages)
			target = max_pages;
		if (target == have) {
			if (seen && !target)
				break;
			delay_ms(2);
			continue;
		}
		seen = 1;
		if (target > have && balloon_move(&inflq, first + have, target - have) < 0)
			return -1;
		if (target < have && balloon_move(&deflq, first + target, have - target) < 0)
			return -1;
		have = target;
		mmio_write32(d.device + 4, (u32)have);
		print("GVTEST balloon actual %lu\n", have);
	}
	print("GVTEST balloon done\n");
	return 0;
}

/*
 * Balloon for serve mode: the configuration-change interrupt (MSI-X entry
 * 0, to BALLOON_VECTOR on this CPU) tells when the target moved;
 * balloon_serve_update follows it.
 */
static struct vdev serve_balloon;
static u64 serve_first, serve_max, serve_have;

/* Route the device's configuration interrupt through MSI-X entry 0. */
static int vdev_msix_config(struct vdev *d, u8 vector)
{
	u64 cfg = d->cfg;
	u8 p = mmio_read8(cfg + 0x34) & 0xFC;
	for (int n = 0; p && n < 48 && mmio_read8(cfg + p) != 0x11; n++)
		p = mmio_read8(cfg + p + 1) & 0xFC;
	if (!p) {
		print("GVTEST FAIL virtio: no msi-x capability\n");
		return -1;
	}
	u32 table = mmio_read32(cfg + p + 4);
	u64 base = bar_addr(cfg, table & 7);
	if (!base)
		return -1;
	u64 e = base + (table & ~7U);
	mmio_write32(e + 0, 0xFEE00000U | lapic_id() << 12);
	mmio_write32(e + 4, 0);
	mmio_write32(e + 8, vector); /* fixed, edge */
	mmio_write32(e + 12, 0);     /* unmasked */
	mmio_write16(cfg + p + 2, mmio_read16(cfg + p + 2) | 0x8000);
	mmio_write16(d->common + 0x10, 0);
	if (mmio_read16(d->common + 0x10) != 0) {
		print("GVTEST FAIL virtio: config vector refused\n");
		return -1;
	}
	return 0;
}

int balloon_serve_init(u64 first_pfn, u64 max_pages, u8 vector)
{
	struct vdev *d = &serve_balloon;
	if (vdev_find(VIRTIO_DEV_BALLOON, d) < 0 || !d->device || vdev_init(d) < 0 || vq_setup(d, &inflq, 0) < 0 ||
	    vq_setup(d, &deflq, 1) < 0 || vdev_msix_config(d, vector) < 0) {
		d->common = 0;
		return -1;
	}
	vdev_ready(d);
	serve_first = first_pfn;
	serve_max = max_pages;
	serve_have = 0;
	return 0;
}

void balloon_serve_update(void)
{
	struct vdev *d = &serve_balloon;
	if (!d->common)
		return;
	u64 target = mmio_read32(d->device);
	if (target > serve_max)
		target = serve_max;
	if (target == serve_have)
		return;
	if (target > serve_have && balloon_move(&inflq, serve_first + serve_have, target - serve_have) < 0)
		return;
	if (target < serve_have && balloon_move(&deflq, serve_first + target, serve_have - target) < 0)
		return;
	serve_have = target;
	mmio_write32(d->device + 4, (u32)serve_have);
	print("GVTEST balloon actual %lu\n", serve_have);
}

/* Vendor and device id of bus 0's slot (all ones when empty). */
u32 pci_id(int slot) { return mmio_read32(ecam_base() + ((u64)slot << 15)); }

/* List the functions present on bus 0 (through ECAM). */
void pci_list(void)
{
	u64 base = ecam_base();
	int found = 0;
	for (int dev = 0; dev < 32; dev++) {
		u32 id = mmio_read32(base + ((u64)dev << 15));
		if ((id & 0xFFFF) == 0xFFFF)
			continue;
		print("GVTEST pci 00:%02x %04x:%04x\n", dev, id & 0xFFFF, id >> 16);
		found++;
	}
	print("GVTEST pci done %d\n", found);
}
