package kvm

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/govirt/govirt/kvm/cpuid"
	"github.com/govirt/govirt/test/guest"
	"golang.org/x/sys/unix"
)

func TestSMP(t *testing.T) {
	for _, n := range []int{1, 2, 4} {
		t.Run(fmt.Sprintf("%d vcpus", n), func(t *testing.T) {
			m, con := startGuest(t, machineOpts{vcpus: n, cmdline: "govirt.test=smp,poweroff"})
			e := waitExit(t, m, 120*time.Second)
			out := con.String()
			if e.Kind != ExitPoweroff {
				t.Fatalf("exit %v; console:\n%s", e, out)
			}
			for i := 0; i < n; i++ {
				if want := fmt.Sprintf("GVTEST cpu %d apic %d\n", i, i); !strings.Contains(out, want) {
					t.Errorf("console lacks %q:\n%s", want, out)
				}
			}
			if !strings.Contains(out, fmt.Sprintf("GVTEST smp ok cpus=%d\n", n)) || !strings.Contains(out, fmt.Sprintf("GVTEST acpi cpus=%d ", n)) {
				t.Errorf("smp summary missing:\n%s", out)
			}
			mb := readMailbox(t, m)
			if mb.CPUsUp != uint64(n) {
				t.Errorf("mailbox cpus_up %d", mb.CPUsUp)
			}
		})
	}
}

func readMailbox(t *testing.T, m *Machine) guest.Mailbox {
	t.Helper()
	b := make([]byte, guest.MailboxSize)
	if err := m.Memory().ReadAt(b, guest.MailboxGPA); err != nil {
		t.Fatal(err)
	}
	mb, err := guest.ParseMailbox(b)
	if err != nil {
		t.Fatal(err)
	}
	if mb.Magic != guest.MailboxMagic {
		t.Fatalf("mailbox magic %#x", mb.Magic)
	}
	return mb
}

func TestPowerButton(t *testing.T) {
	m, con := startGuest(t, machineOpts{cmdline: "govirt.test=wait-power"})
	con.waitFor(t, "GVTEST wait-power", 60*time.Second)
	// The guest enables PWRBTN_EN just before printing the marker.
	if !m.PowerButton() {
		t.Fatal("power button event not enabled by the guest")
	}
	e := waitExit(t, m, 60*time.Second)
	out := con.String()
	if e.Kind != ExitPoweroff || !strings.Contains(out, "GVTEST power button\n") {
		t.Fatalf("exit %v; console:\n%s", e, out)
	}
}

func TestGuestReboot(t *testing.T) {
	for _, tt := range []struct{ name, test string }{{"cf9", "reboot"}, {"i8042", "reboot-kbd"}} {
		t.Run(tt.name+" stop", func(t *testing.T) {
			m, con := startGuest(t, machineOpts{cmdline: "govirt.test=" + tt.test, reboot: RebootStop})
			e := waitExit(t, m, 60*time.Second)
			if e.Kind != ExitReboot {
				t.Fatalf("exit %v; console:\n%s", e, con.String())
			}
		})
	}
	t.Run("cf9 reset in place", func(t *testing.T) {
		m, con := startGuest(t, machineOpts{vcpus: 2, cmdline: "govirt.test=smp,reboot"})
		// Each boot prints "GVTEST ready" and reboots again: wait for the
		// third boot, proving resets repeat with the APs back in wait-for-SIPI.
		if err := con.wait("GVTEST smp ok cpus=2", 3, 120*time.Second); err != nil {
			t.Fatal(err)
		}
		if m.Stats().Resets < 2 {
			t.Fatalf("resets %d", m.Stats().Resets)
		}
		m.Stop()
		if e := waitExit(t, m, 10*time.Second); e.Kind != ExitStopped {
			t.Fatalf("exit %v", e)
		}
	})
}

func TestTripleFault(t *testing.T) {
	m, con := startGuest(t, machineOpts{cmdline: "govirt.test=triple"})
	e := waitExit(t, m, 60*time.Second)
	if e.Kind != ExitTripleFault || !strings.Contains(e.Reason, "rip") {
		t.Fatalf("exit %v; console:\n%s", e, con.String())
	}
}

func TestInt3EmulationFixup(t *testing.T) {
	m, con := startGuest(t, machineOpts{cmdline: "govirt.test=int3,poweroff"})
	e := waitExit(t, m, 60*time.Second)
	out := con.String()
	if e.Kind != ExitPoweroff || !strings.Contains(out, "GVTEST int3 ok\n") || !strings.Contains(out, "GVTEST int3 returned\n") {
		t.Fatalf("exit %v; console:\n%s", e, out)
	}
	t.Logf("emulation fixups: %d", m.Stats().EmulationFixups)
}

func TestDirtyWorkload(t *testing.T) {
	const mib, rounds = 8, 3
	m, con := startGuest(t, machineOpts{cmdline: fmt.Sprintf("govirt.test=dirty,halt govirt.dirty_mib=%d govirt.dirty_rounds=%d", mib, rounds)})
	con.waitFor(t, "GVTEST halt", 120*time.Second)
	want := guest.ExpectedDirtySum(rounds, mib)
	if line := fmt.Sprintf("GVTEST dirty round %d sum %016x\n", rounds, want); !strings.Contains(con.String(), line) {
		t.Fatalf("console lacks %q:\n%s", line, con.String())
	}
	mb := readMailbox(t, m)
	if mb.DirtyRound != rounds || mb.DirtySum != want || mb.DirtyMiB != mib {
		t.Fatalf("mailbox %+v, want round %d sum %#x", mb, rounds, want)
	}
	region, err := m.Memory().Slice(guest.DirtyBase, mib<<20)
	if err != nil {
		t.Fatal(err)
	}
	if got := guest.DirtyChecksum(region); got != want {
		t.Fatalf("checksum of guest memory %#x, want %#x", got, want)
	}
}

func TestExitWorkloads(t *testing.T) {
	t.Run("pio", func(t *testing.T) {
		m, con := startGuest(t, machineOpts{cmdline: "govirt.test=pio,halt govirt.pio_count=20000"})
		con.waitFor(t, "GVTEST halt", 120*time.Second)
		if n, last := m.post.Writes(); n != 20000 || last != byte(19999&0xFF) {
			t.Fatalf("post port saw %d writes, last %#x", n, last)
		}
		if readMailbox(t, m).PIOCount != 20000 {
			t.Fatal("mailbox pio count")
		}
	})
	t.Run("ring-3 mmio", func(t *testing.T) {
		m, con := startGuest(t, machineOpts{cmdline: "govirt.test=mmio,halt govirt.mmio_count=20000"})
		con.waitFor(t, "GVTEST halt", 120*time.Second)
		if n, last := m.debugMMIO.Writes(); n != 20000 || last != byte(19999&0xFF) {
			t.Fatalf("debug mmio saw %d writes, last %#x; console:\n%s", n, last, con.String())
		}
	})
}

func TestHostileGuest(t *testing.T) {
	m, con := startGuest(t, machineOpts{cmdline: "govirt.test=garbage,poweroff"})
	e := waitExit(t, m, 300*time.Second)
	out := con.String()
	if e.Kind != ExitPoweroff || !strings.Contains(out, "GVTEST garbage done") {
		t.Fatalf("exit %v; console:\n%s", e, out)
	}
	st := m.Stats()
	if st.UnknownPIOWrites < 60000 || st.UnknownMMIOWrites < 1000 || !strings.Contains(out, "GVTEST garbage ports=") {
		t.Fatalf("stats %+v: the guest's garbage did not reach the dispatcher", st)
	}
	t.Logf("stats %+v", st)
}

func TestPauseResumeStop(t *testing.T) {
	m, con := startGuest(t, machineOpts{vcpus: 2, cmdline: "govirt.test=smp,dirty,halt govirt.dirty_mib=4 govirt.dirty_rounds=0"})
	con.waitFor(t, "GVTEST dirty round 2 ", 120*time.Second)
	if err := m.Pause(); err != nil {
		t.Fatal(err)
	}
	for _, in := range m.VCPUInfo() {
		if in.State != VCPUParked {
			t.Fatalf("vcpu %d %v after pause", in.Index, in.State)
		}
	}
	r1 := readMailbox(t, m).DirtyRound
	time.Sleep(300 * time.Millisecond)
	if r2 := readMailbox(t, m).DirtyRound; r2 != r1 {
		t.Fatalf("guest ran while paused: round %d -> %d", r1, r2)
	}
	if err := m.Pause(); err == nil {
		t.Fatal("pausing a paused machine succeeded")
	}
	if err := m.Resume(); err != nil {
		t.Fatal(err)
	}
	if err := con.wait(fmt.Sprintf("GVTEST dirty round %d ", r1+2), 1, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	m.Stop()
	if e := waitExit(t, m, 10*time.Second); e.Kind != ExitStopped {
		t.Fatalf("exit %v", e)
	}
	for _, in := range m.VCPUInfo() {
		if in.State != VCPUExited || in.CPUTime <= 0 {
			t.Fatalf("vcpu %+v after stop", in)
		}
	}
}

func TestResetAPI(t *testing.T) {
	m, con := startGuest(t, machineOpts{cmdline: "govirt.test=halt"})
	con.waitFor(t, "GVTEST halt", 60*time.Second)
	if err := m.Reset(); err != nil {
		t.Fatal(err)
	}
	if err := con.wait("GVTEST halt", 2, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	if m.State() != StateRunning {
		t.Fatalf("state %v", m.State())
	}
}

func TestPinning(t *testing.T) {
	var all unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		t.Fatal(err)
	}
	var cpus []int
	for c := 0; c < 1024 && len(cpus) < 2; c++ {
		if all.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	if len(cpus) < 2 {
		t.Skip("needs two host cpus")
	}
	m, con := startGuest(t, machineOpts{vcpus: 2, cmdline: "govirt.test=smp,dirty,halt govirt.dirty_mib=4 govirt.dirty_rounds=0",
		cpuSets: [][]int{{cpus[0]}, {cpus[1]}}})
	con.waitFor(t, "GVTEST dirty round 1 ", 120*time.Second)
	affinity := func(tid int) []int {
		var set unix.CPUSet
		if err := unix.SchedGetaffinity(tid, &set); err != nil {
			t.Fatal(err)
		}
		var out []int
		for c := 0; c < 1024; c++ {
			if set.IsSet(c) {
				out = append(out, c)
			}
		}
		return out
	}
	info := m.VCPUInfo()
	for i, in := range info {
		if got := affinity(in.TID); len(got) != 1 || got[0] != cpus[i] {
			t.Fatalf("vcpu %d thread %d affinity %v, want [%d]", i, in.TID, got, cpus[i])
		}
	}
	// Re-pin vCPU 0 live onto the other CPU.
	if err := m.PinVCPU(0, []int{cpus[1]}); err != nil {
		t.Fatal(err)
	}
	if got := affinity(info[0].TID); len(got) != 1 || got[0] != cpus[1] {
		t.Fatalf("after re-pinning: affinity %v", got)
	}
	if err := con.wait("GVTEST dirty round 3 ", 1, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	in := m.VCPUInfo()[0]
	if in.PhysicalCPU != cpus[1] || in.CPUTime <= 0 || len(in.Affinity) != 1 {
		t.Fatalf("vcpu 0 info %+v, want physical cpu %d", in, cpus[1])
	}
	if err := m.PinVCPU(5, nil); err == nil {
		t.Fatal("pinning a missing vcpu succeeded")
	}
	if err := m.PinVCPU(0, []int{-1}); err == nil {
		t.Fatal("pinning to cpu -1 succeeded")
	}
}

func TestNewErrors(t *testing.T) {
	requireKVM(t)
	img := testGuest(t)
	garbage := t.TempDir() + "/garbage"
	if err := os.WriteFile(garbage, []byte("this is not a kernel at all, not even close"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no vcpus", Config{MemoryBytes: 64 << 20, Kernel: img.ELF}, "vcpus"},
		{"too many vcpus", Config{MemoryBytes: 64 << 20, VCPUs: 300, Kernel: img.ELF}, "vcpus"},
		{"tiny memory", Config{MemoryBytes: 1 << 20, VCPUs: 1, Kernel: img.ELF}, "memory"},
		{"cpu sets mismatch", Config{MemoryBytes: 64 << 20, VCPUs: 2, Kernel: img.ELF, CPUSets: [][]int{{0}}}, "cpu sets"},
		{"missing kernel", Config{MemoryBytes: 64 << 20, VCPUs: 1, Kernel: "/nonexistent"}, "read kernel"},
		{"garbage kernel", Config{MemoryBytes: 64 << 20, VCPUs: 1, Kernel: garbage}, "neither a bzImage nor an ELF"},
		{"unknown feature", Config{MemoryBytes: 64 << 20, VCPUs: 1, Kernel: img.ELF, CPU: cpuidConfig("warp")}, "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := New(tt.cfg)
			if err == nil {
				m.Close()
				t.Fatal("New succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want %q", err, tt.want)
			}
		})
	}
}

// TestCPUIDPolicyReachesVCPU checks that every feature the domain hides is
// either gone from the vCPU's CPUID or reported as overridden by the host
// (kvm_pvm substitutes some of its own bits), never silently visible.
func TestCPUIDPolicyReachesVCPU(t *testing.T) {
	requireKVM(t)
	img := testGuest(t)
	hidden := []string{"cx16", "popcnt", "rdrand", "movbe", "smap", "xsave"}
	m, err := New(Config{MemoryBytes: 64 << 20, VCPUs: 1, Kernel: img.ELF, CPU: cpuidConfig(hidden...)})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	got, err := m.vcpus[0].fd.GetCPUID2()
	if err != nil {
		t.Fatal(err)
	}
	over := m.CPUIDOverridden()
	t.Logf("overridden by this host: %v", over)
	for _, name := range hidden {
		f, ok := cpuid.Lookup(name)
		if !ok {
			t.Fatalf("feature %q unknown", name)
		}
		visible := false
		for _, e := range got {
			if e.Function == f.Leaf && e.Index == f.Subleaf {
				r := [...]uint32{e.EAX, e.EBX, e.ECX, e.EDX}[f.Reg]
				visible = r&(1<<f.Bit) != 0
			}
		}
		if visible != slices.Contains(over, name) {
			t.Errorf("%s: visible to the guest %v, reported overridden %v", name, visible, slices.Contains(over, name))
		}
	}
}
