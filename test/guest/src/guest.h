/*
 * govirt test guest: shared definitions.
 *
 * The guest is booted by govirt's loaders (ELF and bzImage, 64-bit entry)
 * and proves machine features by printing "GVTEST ..." marker lines on
 * COM1. Kernel-mode code is kept short (KVM may emulate it instruction by
 * instruction); heavy loops run in ring 3.
 *
 * Keep the constants marked "host" in sync with guest.go.
 */
#ifndef GUEST_H
#define GUEST_H

/* Memory map (guest physical = virtual, identity mapped). */
#define MAILBOX_ADDR 0x1000UL       /* host: MailboxGPA */
#define TRAMPOLINE_ADDR 0x8000      /* AP real-mode entry (SIPI vector 8) */
#define DIRTY_BASE (32UL << 20)     /* host: DirtyBase */

#define MAILBOX_MAGIC 0x5453455454564721UL /* host: MailboxMagic ("!GVTTEST") */


/* Ports. */
#define PORT_COM1 0x3F8
#define PORT_BOOT_MARKER 0x3F0
#define PORT_POST 0x80
#define DEBUG_MMIO 0xFEB00000UL /* host: layout.DebugMMIOBase */
#define PORT_RESET_CF9 0xCF9
#define PORT_I8042_CMD 0x64

#define MAX_CPUS 64
#define STACK_SIZE 16384

#define LAPIC_BASE 0xFEE00000UL
#define IOAPIC_BASE 0xFEC00000UL

#define SCI_VECTOR 0x30
#define BALLOON_VECTOR 0x31 /* virtio-balloon configuration changes (MSI-X) */

/* GDT selectors */
#define KCODE 0x08
#define KDATA 0x10
#define UDATA 0x18
#define UCODE 0x20
#define TSS_SEL 0x28

#ifndef __ASSEMBLER__

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long u64;
typedef long i64;

#define NULL ((void *)0)

/* The mailbox the host reads from guest memory. host: Mailbox layout. */
struct mailbox {
	u64 magic;
	u64 dirty_round;
	u64 dirty_sum;
	u64 dirty_mib;
	u64 pio_count;
	u64 cpus_up;
};


static inline void outb(u16 port, u8 v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outw(u16 port, u16 v) { __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outl(u16 port, u32 v) { __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port)); }
static inline u8 inb(u16 port) { u8 v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline u16 inw(u16 port) { u16 v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline u32 inl(u16 port) { u32 v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }

static inline u32 mmio_read32(u64 addr) { return *(volatile u32 *)addr; }
static inline void mmio_write32(u64 addr, u32 v) { *(volatile u32 *)addr = v; }
static inline u16 mmio_read16(u64 addr) { return *(volatile u16 *)addr; }
static inline void mmio_write16(u64 addr, u16 v) { *(volatile u16 *)addr = v; }
static inline u8 mmio_read8(u64 addr) { return *(volatile u8 *)addr; }
static inline void mmio_write8(u64 addr, u8 v) { *(volatile u8 *)addr = v; }
static inline void mmio_write64(u64 addr, u64 v) { *(volatile u64 *)addr = v; }

static inline u64 rdtsc(void)
{
	u32 lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((u64)hi << 32) | lo;
}

static inline u64 rdmsr(u32 msr)
{
	u32 lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((u64)hi << 32) | lo;
}

static inline void wrmsr(u32 msr, u64 v)
{
	__asm__ volatile("wrmsr" : : "c"(msr), "a"((u32)v), "d"((u32)(v >> 32)));
}

static inline void cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }
static inline void barrier(void) { __asm__ volatile("" ::: "memory"); }

/* lib.c */
void *memset(void *d, int c, u64 n);
void *memcpy(void *d, const void *s, u64 n);
int memcmp(const void *a, const void *b, u64 n);
u64 strlen(const char *s);
int strncmp(const char *a, const char *b, u64 n);
void putc_raw(char c);
void puts_raw(const char *s);
void print(const char *fmt, ...);
void console_write(const char *s, u64 n);
void lock_console(void);
void unlock_console(void);
u64 splitmix64(u64 x);
__attribute__((noreturn)) void halt_forever(void);

/* acpi.c */
struct acpi_info {
	int ncpus;
	u8 apic_ids[MAX_CPUS];
	u16 pm1a_evt;
	u16 pm1a_cnt;
	u16 sci_irq;
	u8 slp_typ_s5;
	int have_s5;
	u64 ecam_base;
	u8 ecam_end_bus;
	u16 gpe0_blk;
	u8 gpe0_len;
	u16 pcihp_port; /* PCI hot-plug registers (DSDT PHPR), 0 if none */
	int pcihp_gpe;  /* its GPE (DSDT \_GPE._Exx), -1 if none */
};
extern struct acpi_info acpi;
int acpi_init(u64 rsdp_hint);

/* smp.c */
int smp_start(void);
u32 lapic_id(void);
void lapic_eoi(void);

/* user.c */
u64 run_user(void (*fn)(u64), u64 arg);
void user_dirty(u64 arg);
void kernel_pio(u64 count);
void user_mmio(u64 arg);
void kernel_port_garbage(void);
void user_garbage(u64 arg);
void user_exit(u64 code);
u64 dirty_checksum(u64 *p, u64 words);

/* virtio.c */
int virtio_blk_test(void);
int virtio_net_test(void);
int virtio_balloon_test(u64 max_pages);
int balloon_serve_init(u64 first_pfn, u64 max_pages, u8 vector);
void balloon_serve_update(void);
void pci_list(void);
u32 pci_id(int slot);

/* serve.c */
void serve(u64 balloon_first_pfn, u64 balloon_max_pages);
int serve_interrupt(u64 vector);

/* main.c */
extern volatile struct mailbox *mailbox;
struct trap_frame {
	u64 r15, r14, r13, r12, r11, r10, r9, r8;
	u64 rbp, rdi, rsi, rdx, rcx, rbx, rax;
	u64 vector, error;
	u64 rip, cs, rflags, rsp, ss;
};
void trap(struct trap_frame *f);
void set_idt_gate(int vec, void (*handler)(void), int dpl);
void power_off(void);
void sci_route(void);
extern void (*volatile ap_job)(void);

#endif
#endif
