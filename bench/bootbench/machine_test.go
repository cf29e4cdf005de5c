package bootbench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/govirt/govirt/kvm"
	"github.com/govirt/govirt/kvm/cpuid"
	"github.com/govirt/govirt/test/guest"
)

func requireKVM(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for /dev/kvm")
	}
	if _, err := os.Stat("/dev/kvm"); err != nil {
		t.Skipf("no /dev/kvm: %v", err)
	}
}

// console records serial output and when each text first appeared.
type console struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	start time.Time
	ch    chan struct{}
}

func newConsole() *console { return &console{start: time.Now(), ch: make(chan struct{}, 1)} }

func (c *console) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.buf.Write(p)
	c.mu.Unlock()
	select {
	case c.ch <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (c *console) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// wait returns how long after the console's creation s appeared.
func (c *console) wait(s string, timeout time.Duration) (time.Duration, error) {
	deadline := time.After(timeout)
	for {
		if strings.Contains(c.String(), s) {
			return time.Since(c.start), nil
		}
		select {
		case <-c.ch:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			return 0, fmt.Errorf("timed out after %v waiting for %q; console:\n%s", timeout, s, c.String())
		}
	}
}

// syncBuffer is a log destination shared with vCPU threads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// debianKernel is $GOVIRT_LINUX_KERNEL, or Debian's cloud kernel fetched
// with apt-get download into a directory the test removes.
func debianKernel(t testing.TB) string {
	t.Helper()
	if k := os.Getenv("GOVIRT_LINUX_KERNEL"); k != "" {
		return k
	}
	requireTools(t, "apt-get", "dpkg", "dpkg-deb")
	k, err := FetchDebianKernel(context.Background(), t.TempDir())
	if err != nil {
		t.Skipf("cannot fetch the Debian kernel (set GOVIRT_LINUX_KERNEL): %v", err)
	}
	return k
}

// bootDebian boots the Debian cloud kernel to its e820 map with the
// payload decompressed on the host and returns the time from kvm.New to
// the banner.
func bootDebian(t testing.TB, kernel string) time.Duration {
	t.Helper()
	var logBuf syncBuffer
	con := newConsole()
	cmdline := BaseCmdline() + " govirt.marker=5e1f"
	m, err := kvm.New(kvm.Config{
		MemoryBytes: 256 << 20, VCPUs: 1, Kernel: kernel, Cmdline: cmdline, SerialOut: con,
		Logger: slog.New(slog.NewTextHandler(&logBuf, nil)),
		CPU:    cpuid.Config{Disable: HiddenFeatures},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := m.Close(); err != nil {
			t.Errorf("close machine: %v", err)
		}
	}()
	if !strings.Contains(logBuf.String(), "kernel decompressed on the host") {
		t.Fatalf("kernel not decompressed on the host; log:\n%s", logBuf.String())
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	banner, err := con.wait("Linux version", 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Command line: " + cmdline,
		"BIOS-e820: [mem 0x0000000000100000-0x000000000fffffff] usable",
		"BIOS-e820: [mem 0x00000000000e0000-0x00000000000fffff] reserved",
	} {
		if _, err := con.wait(want, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("host decompression: %s", strings.TrimSpace(grepLine(logBuf.String(), "kernel decompressed")))
	return banner
}

func grepLine(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}

// TestBootDebianKernel boots Debian's stock cloud kernel (a bzImage with
// an lz4 payload) through host-side decompression and checks its early
// console: banner, our command line, the e820 map. Long: about 20 s where
// KVM emulates guest kernel mode, plus the kernel download.
func TestBootDebianKernel(t *testing.T) {
	if !*longTests {
		t.Skip("long test: run with -long or GOVIRT_LONG_TESTS=1")
	}
	requireKVM(t)
	d := bootDebian(t, debianKernel(t))
	t.Logf("time to kernel banner: %v (from kvm.New)", d)
}

// BenchmarkBootToBanner reports the time from kvm.New to the Debian
// kernel's banner (target: < 5 s).
func BenchmarkBootToBanner(b *testing.B) {
	if !*longTests {
		b.Skip("long benchmark: run with -long or GOVIRT_LONG_TESTS=1")
	}
	requireKVM(b)
	kernel := debianKernel(b)
	var total time.Duration
	for i := 0; i < b.N; i++ {
		total += bootDebian(b, kernel)
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s-to-banner")
}

func vmRSS(t testing.TB) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// guestResident is the resident part of m's guest RAM, from smaps.
func guestResident(t testing.TB, m *kvm.Machine) int64 {
	t.Helper()
	var ranges [][2]uint64
	for _, r := range m.Memory().Regions() {
		s, err := m.Memory().Slice(r.GPA, r.Size)
		if err != nil {
			t.Fatal(err)
		}
		a := uint64(sliceAddr(s))
		ranges = append(ranges, [2]uint64{a, a + uint64(len(s))})
	}
	u, err := smapsMemory(os.Getpid(), ranges)
	if err != nil {
		t.Fatal(err)
	}
	return u.GuestRSS
}

// TestGuestMemoryOnDemand runs a 4 GiB test guest that writes 100 MiB
// (from user mode) and checks that the host pays for what it touched, not
// for its size: guest RAM is mapped without reservation or pre-faulting.
func TestGuestMemoryOnDemand(t *testing.T) {
	requireKVM(t)
	requireTools(t, "make", "gcc", "ld", "objcopy")
	img, err := guest.Build(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const touched = 100 << 20
	before := vmRSS(t)
	con := newConsole()
	m, err := kvm.New(kvm.Config{
		MemoryBytes: 4 << 30, VCPUs: 1, Kernel: img.ELF, SerialOut: con,
		Cmdline: fmt.Sprintf("govirt.test=dirty,halt govirt.dirty_mib=%d govirt.dirty_rounds=1", touched>>20),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := m.Close(); err != nil {
			t.Errorf("close machine: %v", err)
		}
	}()
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := con.wait("GVTEST halt", 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(con.String(), "GVTEST dirty round 1") {
		t.Fatalf("dirty workload did not run:\n%s", con.String())
	}
	guestRSS := guestResident(t, m)
	growth := vmRSS(t) - before
	t.Logf("4 GiB guest wrote %d MiB: guest RAM resident %.1f MiB, process RSS grew %.1f MiB",
		touched>>20, float64(guestRSS)/(1<<20), float64(growth)/(1<<20))
	if guestRSS < touched || guestRSS > touched+8<<20 {
		t.Errorf("guest RAM resident %d bytes, want %d..%d", guestRSS, touched, touched+8<<20)
	}
	// The lower bound has slack: loading the kernel returns the test's
	// own freed heap to the host (FreeOSMemory), so RSS can grow by a
	// little less than the guest touched.
	if growth < touched-8<<20 || growth > touched+24<<20 {
		t.Errorf("process RSS grew %d bytes, want about %d (the 4 GiB guest costs what it touched)", growth, touched)
	}
}
