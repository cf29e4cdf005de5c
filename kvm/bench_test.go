package kvm

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkCreateToFirstSerialByte measures kvm.New + Start until the test
// guest's first COM1 byte (target: <= 50 ms).
func BenchmarkCreateToFirstSerialByte(b *testing.B) {
	requireKVM(b)
	img := testGuest(b)
	var total time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		con := newConsole()
		start := time.Now()
		m, err := New(Config{MemoryBytes: 128 << 20, VCPUs: 1, Kernel: img.BzImage, Cmdline: "govirt.test=halt", SerialOut: con})
		if err != nil {
			b.Fatal(err)
		}
		if err := m.Start(); err != nil {
			b.Fatal(err)
		}
		for con.firstByte().IsZero() {
			time.Sleep(50 * time.Microsecond)
		}
		total += con.firstByte().Sub(start)
		b.StopTimer()
		if err := m.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms-to-first-byte")
}

// benchExits runs a guest exit loop and reports exits per second, measured
// between the guest's start and done markers.
func benchExits(b *testing.B, test, countParam, kind string) {
	requireKVM(b)
	const n = 200000
	m, con := startGuest(b, machineOpts{cmdline: fmt.Sprintf("govirt.test=%s,halt govirt.%s=%d", test, countParam, n)})
	if err := con.wait("GVTEST "+kind+" start", 1, 60*time.Second); err != nil {
		b.Fatal(err)
	}
	startExits, start := m.Stats().Exits, time.Now()
	if err := con.wait("GVTEST "+kind+" done", 1, 300*time.Second); err != nil {
		b.Fatal(err)
	}
	elapsed, exits := time.Since(start), m.Stats().Exits-startExits
	b.ReportMetric(float64(exits)/elapsed.Seconds(), "exits/s")
}

// BenchmarkExitsPIO: port writes from the guest kernel (emulated here).
func BenchmarkExitsPIO(b *testing.B) { benchExits(b, "pio", "pio_count", "pio") }

// BenchmarkExitsMMIORing3: MMIO writes from natively executed ring 3.
func BenchmarkExitsMMIORing3(b *testing.B) { benchExits(b, "mmio", "mmio_count", "mmio") }

// BenchmarkRSSOverhead reports the VMM's resident memory beyond what the
// guest touched, for 1 vCPU and 128 MiB (target <= 8 MiB): process RSS
// growth minus the guest RAM pages resident.
func BenchmarkRSSOverhead(b *testing.B) {
	requireKVM(b)
	testGuest(b)
	before := rssBytes(b)
	m, con := startGuest(b, machineOpts{mem: 128 << 20, cmdline: "govirt.test=halt"})
	con.waitFor(b, "GVTEST halt", 60*time.Second)
	after := rssBytes(b)
	guestResident := residentGuestBytes(b, m)
	b.ReportMetric(float64(after-before)/(1<<20), "MiB-rss-growth")
	b.ReportMetric(float64(guestResident)/(1<<20), "MiB-guest-resident")
	b.ReportMetric(float64(after-before-guestResident)/(1<<20), "MiB-overhead")
	b.ReportMetric(float64(after)/(1<<20), "MiB-process-rss")
}

func rssBytes(tb testing.TB) int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		tb.Fatal(err)
	}
	f := strings.Fields(string(b))
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		tb.Fatal(err)
	}
	return pages * int64(os.Getpagesize())
}
