/* Just enough ACPI table parsing to find CPUs, PM ports, \_S5 and ECAM. */
#include "guest.h"

struct acpi_info acpi;

static int sum_ok(const void *p, u64 n)
{
	const u8 *b = p;
	u8 s = 0;
	while (n--)
		s += *b++;
	return s == 0;
}

static const u8 *find_rsdp(u64 hint)
{
	if (hint && !memcmp((void *)hint, "RSD PTR ", 8))
		return (const u8 *)hint;
	for (u64 a = 0xE0000; a < 0x100000; a += 16)
		if (!memcmp((void *)a, "RSD PTR ", 8))
			return (const u8 *)a;
	return NULL;
}

static void parse_madt(const u8 *t, u32 len)
{
	for (u32 off = 44; off + 2 <= len;) {
		u8 type = t[off], l = t[off + 1];
		if (l < 2)
			break;
		if (type == 0 && (*(u32 *)(t + off + 4) & 1) && acpi.ncpus < MAX_CPUS)
			acpi.apic_ids[acpi.ncpus++] = t[off + 3];
		off += l;
	}
}

/* Find Name(_S5_, Package(){a, ...}) in the DSDT and take SLP_TYPa. */
static void parse_dsdt(const u8 *t, u32 len)
{
	for (u32 i = 36; i + 8 < len; i++) {
		if (memcmp(t + i, "_S5_", 4))
			continue;
		u32 j = i + 4;
		if (t[j] != 0x12) /* PackageOp */
			continue;
		j++;
		j += ((t[j] >> 6) & 3) + 1; /* PkgLength */
		j++;                        /* NumElements */
		if (t[j] == 0x0A) {         /* BytePrefix */
			acpi.slp_typ_s5 = t[j + 1];
		} else if (t[j] == 0x00 || t[j] == 0x01) { /* Zero/One */
			acpi.slp_typ_s5 = t[j];
		} else {
			continue;
		}
		acpi.have_s5 = 1;
		return;
	}
}

/* The PCI hot-plug interface the DSDT describes: the I/O port of
 * OperationRegion (PHPR, SystemIO, port, len) and the GPE number of the
 * \_GPE._Exx method (what a guest without an AML interpreter can read). */
static void parse_hotplug(const u8 *t, u32 len)
{
	static const u8 region[] = {0x5B, 0x80, 'P', 'H', 'P', 'R', 0x01};
	for (u32 i = 36; i + sizeof(region) + 3 < len; i++) {
		if (memcmp(t + i, region, sizeof(region)))
			continue;
		const u8 *v = t + i + sizeof(region);
		if (v[0] == 0x0B) /* WordPrefix */
			acpi.pcihp_port = (u16)(v[1] | v[2] << 8);
		else if (v[0] == 0x0A) /* BytePrefix */
			acpi.pcihp_port = v[1];
		break;
	}
	acpi.pcihp_gpe = -1;
	for (u32 i = 38; i + 4 < len; i++) {
		/* MethodOp, a one-byte PkgLength, "_Exx" */
		if (t[i - 2] != 0x14 || t[i] != '_' || t[i + 1] != 'E')
			continue;
		int gpe = 0, ok = 1;
		for (int k = 2; k < 4; k++) {
			u8 c = t[i + k];
			if (c >= '0' && c <= '9')
				gpe = gpe * 16 + (c - '0');
			else if (c >= 'A' && c <= 'F')
				gpe = gpe * 16 + (c - 'A' + 10);
			else
				ok = 0;
		}
		if (ok) {
			acpi.pcihp_gpe = gpe;
			break;
		}
	}
}

static void parse_fadt(const u8 *t, u32 len)
{
	if (len < 116)
		return;
	acpi.sci_irq = *(u16 *)(t + 46);
	acpi.pm1a_evt = (u16)*(u32 *)(t + 56);
	acpi.pm1a_cnt = (u16)*(u32 *)(t + 64);
	acpi.gpe0_blk = (u16)*(u32 *)(t + 80);
	acpi.gpe0_len = t[92];
	u64 dsdt = *(u32 *)(t + 40);
	if (len >= 148 && *(u64 *)(t + 140))
		dsdt = *(u64 *)(t + 140);
	if (dsdt && !memcmp((void *)dsdt, "DSDT", 4)) {
		u32 dl = *(u32 *)(dsdt + 4);
		if (sum_ok((void *)dsdt, dl)) {
			parse_dsdt((const u8 *)dsdt, dl);
			parse_hotplug((const u8 *)dsdt, dl);
		} else
			print("GVTEST FAIL dsdt checksum\n");
	}
}

static void parse_table(const u8 *t)
{
	u32 len = *(u32 *)(t + 4);
	if (!sum_ok(t, len)) {
		print("GVTEST FAIL acpi checksum %c%c%c%c\n", t[0], t[1], t[2], t[3]);
		return;
	}
	if (!memcmp(t, "APIC", 4))
		parse_madt(t, len);
	else if (!memcmp(t, "FACP", 4))
		parse_fadt(t, len);
	else if (!memcmp(t, "MCFG", 4) && len >= 60) {
		acpi.ecam_base = *(u64 *)(t + 44);
		acpi.ecam_end_bus = t[55];
	}
}

int acpi_init(u64 hint)
{
	const u8 *rsdp = find_rsdp(hint);
	if (!rsdp || !sum_ok(rsdp, 20) || rsdp[15] < 2 || !sum_ok(rsdp, 36)) {
		print("GVTEST FAIL no valid rsdp\n");
		return -1;
	}
	const u8 *xsdt = (const u8 *)*(u64 *)(rsdp + 24);
	if (memcmp(xsdt, "XSDT", 4) || !sum_ok(xsdt, *(u32 *)(xsdt + 4))) {
		print("GVTEST FAIL bad xsdt\n");
		return -1;
	}
	u32 n = (*(u32 *)(xsdt + 4) - 36) / 8;
	for (u32 i = 0; i < n; i++)
		parse_table((const u8 *)*(u64 *)(xsdt + 36 + 8 * i));
	print("GVTEST acpi cpus=%d sci=%d pm1a_evt=%x pm1a_cnt=%x s5=%d ecam=%lx\n", acpi.ncpus, acpi.sci_irq,
	      acpi.pm1a_evt, acpi.pm1a_cnt, acpi.slp_typ_s5, acpi.ecam_base);
	if (!acpi.ncpus || !acpi.pm1a_cnt || !acpi.have_s5) {
		print("GVTEST FAIL incomplete acpi tables\n");
		return -1;
	}
	return 0;
}
