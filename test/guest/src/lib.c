/* Console output and small library functions. */
#include <stdarg.h>
#include "guest.h"

void *memset(void *d, int c, u64 n)
{
	u8 *p = d;
	while (n--)
		*p++ = (u8)c;
	return d;
}

void *memcpy(void *d, const void *s, u64 n)
{
	u8 *a = d;
	const u8 *b = s;
	while (n--)
		*a++ = *b++;
	return d;
}

int memcmp(const void *a, const void *b, u64 n)
{
	const u8 *x = a, *y = b;
	for (; n; n--, x++, y++)
		if (*x != *y)
			return *x - *y;
	return 0;
}

u64 strlen(const char *s)
{
	u64 n = 0;
	while (s[n])
		n++;
	return n;
}

int strncmp(const char *a, const char *b, u64 n)
{
	for (; n; n--, a++, b++) {
		if (*a != *b)
			return (u8)*a - (u8)*b;
		if (!*a)
			return 0;
	}
	return 0;
}

/* The UART of our VMM is always ready: no LSR polling, one exit a byte. */
void putc_raw(char c) { outb(PORT_COM1, (u8)c); }

void puts_raw(const char *s)
{
	while (*s)
		putc_raw(*s++);
}

static volatile u32 console_lock;

void lock_console(void)
{
	while (__atomic_exchange_n(&console_lock, 1, __ATOMIC_ACQUIRE))
		cpu_relax();
}

void unlock_console(void) { __atomic_store_n(&console_lock, 0, __ATOMIC_RELEASE); }

/* Output goes through a line buffer so ring-3 code can hand whole lines
 * to the kernel (port I/O from ring 3 faults on some hosts, e.g. kvm_pvm,
 * whatever IOPL says). */
struct linebuf {
	char b[256];
	u64 n;
};

static void buf_putc(struct linebuf *lb, char c)
{
	if (lb->n < sizeof(lb->b))
		lb->b[lb->n++] = c;
}

static int user_mode(void)
{
	u16 cs;
	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	return (cs & 3) == 3;
}

void console_write(const char *s, u64 n)
{
	lock_console();
	for (u64 i = 0; i < n; i++)
		putc_raw(s[i]);
	unlock_console();
}

static void put_uint(struct linebuf *lb, u64 v, int base, int width)
{
	char buf[24];
	int i = 0;
	do {
		int d = v % base;
		buf[i++] = d < 10 ? '0' + d : 'a' + d - 10;
		v /= base;
	} while (v);
	while (i < width)
		buf[i++] = '0';
	while (i)
		buf_putc(lb, buf[--i]);
}

/*
 * print: a small printf (%s %c %d %u %x %lx %lu %ld %016lx %%) that writes
 * the whole line at once: directly in kernel mode, through the console
 * system call (ud2 with rax 1, see head.S) in user mode.
 */
void print(const char *fmt, ...)
{
	va_list ap;
	struct linebuf lb;
	lb.n = 0;
	va_start(ap, fmt);
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			buf_putc(&lb, *fmt);
			continue;
		}
		fmt++;
		int width = 0, lng = 0;
		if (*fmt == '0')
			fmt++;
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		if (*fmt == 'l') {
			lng = 1;
			fmt++;
		}
		switch (*fmt) {
		case 's': {
			const char *q = va_arg(ap, const char *);
			for (q = q ? q : "(null)"; *q; q++)
				buf_putc(&lb, *q);
			break;
		}
		case 'c':
			buf_putc(&lb, (char)va_arg(ap, int));
			break;
		case 'd': {
			i64 v = lng ? va_arg(ap, i64) : va_arg(ap, int);
			if (v < 0) {
				buf_putc(&lb, '-');
				v = -v;
			}
			put_uint(&lb, (u64)v, 10, width);
			break;
		}
		case 'u':
			put_uint(&lb, lng ? va_arg(ap, u64) : va_arg(ap, u32), 10, width);
			break;
		case 'x':
			put_uint(&lb, lng ? va_arg(ap, u64) : va_arg(ap, u32), 16, width);
			break;
		case '%':
			buf_putc(&lb, '%');
			break;
		default:
			buf_putc(&lb, '?');
		}
		if (!*fmt)
			break;
	}
	va_end(ap);
	if (user_mode())
		__asm__ volatile("ud2" : : "a"(1UL), "D"(lb.b), "S"(lb.n) : "memory");
	else
		console_write(lb.b, lb.n);
}

u64 splitmix64(u64 x)
{
	x += 0x9E3779B97F4A7C15UL;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
	return x ^ (x >> 31);
}
