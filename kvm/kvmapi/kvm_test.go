package kvmapi

import (
	"errors"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// requireKVM skips the test unless it runs as root with a usable /dev/kvm,
// and returns an open System closed at the end of the test.
func requireKVM(t *testing.T) *System {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for /dev/kvm")
	}
	if _, err := os.Stat(DevicePath); err != nil {
		t.Skipf("no %s: %v", DevicePath, err)
	}
	s, err := Open()
	if err != nil {
		t.Fatalf("open kvm: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close kvm: %v", err)
		}
	})
	return s
}

// guestMem maps anonymous memory for a test VM.
func guestMem(t *testing.T, size int) []byte {
	t.Helper()
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		t.Fatalf("mmap: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Munmap(mem); err != nil {
			t.Errorf("munmap: %v", err)
		}
	})
	return mem
}

func newVM(t *testing.T, s *System) *VM {
	t.Helper()
	vm, err := s.CreateVM()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := vm.Close(); err != nil {
			t.Errorf("close vm: %v", err)
		}
	})
	return vm
}

func newVCPU(t *testing.T, vm *VM, id int) *VCPU {
	t.Helper()
	c, err := vm.CreateVCPU(id)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close vcpu: %v", err)
		}
	})
	return c
}

func TestSystem(t *testing.T) {
	s := requireKVM(t)
	t.Run("api version", func(t *testing.T) {
		v, err := s.APIVersion()
		if err != nil || v != APIVersion {
			t.Fatalf("APIVersion = %d, %v", v, err)
		}
	})
	t.Run("extensions", func(t *testing.T) {
		for _, c := range []Cap{CapIRQChip, CapUserMemory, CapPIT2, CapIRQFD, CapIOEventFD, CapImmediateExit, CapMPState, CapVCPUEvents} {
			v, err := s.CheckExtension(c)
			if err != nil || v <= 0 {
				t.Errorf("CheckExtension(%d) = %d, %v; the machine needs it", c, v, err)
			}
		}
	})
	t.Run("mmap size", func(t *testing.T) {
		n, err := s.VCPUMmapSize()
		if err != nil || n < sizeofRun {
			t.Fatalf("VCPUMmapSize = %d, %v", n, err)
		}
	})
	t.Run("supported cpuid", func(t *testing.T) {
		entries, err := s.SupportedCPUID()
		if err != nil {
			t.Fatal(err)
		}
		var leaf0, leaf1 bool
		for _, e := range entries {
			if e.Function == 0 && e.EAX >= 1 {
				leaf0 = true
			}
			if e.Function == 1 && e.EDX&(1<<9) != 0 { // APIC
				leaf1 = true
			}
		}
		if !leaf0 || !leaf1 {
			t.Errorf("supported cpuid (%d entries) lacks leaf 0 or leaf 1 with APIC", len(entries))
		}
	})
	t.Run("msr index list", func(t *testing.T) {
		list, err := s.MSRIndexList()
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, idx := range list {
			if idx == 0x10 { // IA32_TIME_STAMP_COUNTER
				found = true
			}
		}
		if !found {
			t.Errorf("msr index list of %d entries lacks the TSC", len(list))
		}
	})
	t.Run("close twice", func(t *testing.T) {
		s2, err := Open()
		if err != nil {
			t.Fatal(err)
		}
		if err := s2.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s2.Close(); err != nil {
			t.Fatalf("second close: %v", err)
		}
		if _, err := s2.APIVersion(); !errors.Is(err, unix.EBADF) {
			t.Fatalf("use after close: %v, want EBADF", err)
		}
	})
}

// realModeProgram writes 'A' to port 0x3f8, dirties page 3, writes 0x5a to
// the unbacked address 0x80000 (MMIO), reads it back, writes the value read
// to port 0x3f9 and halts.
var realModeProgram = []byte{
	0xBA, 0xF8, 0x03, // mov dx,0x3f8
	0xB0, 0x41, // mov al,'A'
	0xEE,                         // out dx,al
	0xC6, 0x06, 0x00, 0x30, 0x01, // mov byte [0x3000],1
	0xB8, 0x00, 0x80, // mov ax,0x8000
	0x8E, 0xD8, // mov ds,ax
	0xC6, 0x06, 0x00, 0x00, 0x5A, // mov byte [0],0x5a
	0xA0, 0x00, 0x00, // mov al,[0]
	0x42, // inc dx
	0xEE, // out dx,al
	0xF4, // hlt
}

func TestRunRealMode(t *testing.T) {
	s := requireKVM(t)
	vm := newVM(t, s)
	mem := guestMem(t, 0x10000)
	copy(mem[0x1000:], realModeProgram)
	if err := vm.SetUserMemoryRegion(MemoryRegion{Slot: 0, Flags: MemLogDirtyPages, GuestPhysAddr: 0, MemorySize: uint64(len(mem)), UserspaceAddr: sliceAddr(mem)}); err != nil {
		t.Fatal(err)
	}
	if err := vm.SetTSSAddr(0xFFFBD000); err != nil {
		t.Fatal(err)
	}
	if err := vm.SetIdentityMapAddr(0xFFFBC000); err != nil {
		t.Fatal(err)
	}
	c := newVCPU(t, vm, 0)
	sr, err := c.GetSregs()
	if err != nil {
		t.Fatal(err)
	}
	sr.CS.Base, sr.CS.Selector = 0, 0
	if err := c.SetSregs(sr); err != nil {
		t.Fatal(err)
	}
	if err := c.SetRegs(Regs{RIP: 0x1000, RFLAGS: 2}); err != nil {
		t.Fatal(err)
	}
	run := c.RunData()
	next := func() ExitReason {
		t.Helper()
		for {
			errno := c.Run()
			if errno == unix.EINTR {
				continue
			}
			if errno != 0 {
				t.Fatalf("KVM_RUN: %v", errno)
			}
			return run.ExitReason()
		}
	}

	t.Run("out", func(t *testing.T) {
		if r := next(); r != ExitIO {
			t.Fatalf("exit %v, want IO", r)
		}
		io, err := run.IO()
		if err != nil {
			t.Fatal(err)
		}
		if !io.Out || io.Port != 0x3F8 || io.Size != 1 || io.Count != 1 || io.Data[0] != 'A' {
			t.Fatalf("io exit %+v", io)
		}
	})
	t.Run("mmio write", func(t *testing.T) {
		if r := next(); r != ExitMMIO {
			t.Fatalf("exit %v, want MMIO", r)
		}
		m, err := run.MMIO()
		if err != nil {
			t.Fatal(err)
		}
		if !m.Write || m.Addr != 0x80000 || len(m.Data) != 1 || m.Data[0] != 0x5A {
			t.Fatalf("mmio exit %+v", m)
		}
	})
	t.Run("mmio read", func(t *testing.T) {
		if r := next(); r != ExitMMIO {
			t.Fatalf("exit %v, want MMIO", r)
		}
		m, err := run.MMIO()
		if err != nil {
			t.Fatal(err)
		}
		if m.Write || m.Addr != 0x80000 {
			t.Fatalf("mmio exit %+v", m)
		}
		m.Data[0] = 0x77
		if r := next(); r != ExitIO {
			t.Fatalf("exit %v, want IO", r)
		}
		io, err := run.IO()
		if err != nil {
			t.Fatal(err)
		}
		if io.Port != 0x3F9 || io.Data[0] != 0x77 {
			t.Fatalf("value read back through port: %+v", io)
		}
	})
	t.Run("hlt", func(t *testing.T) {
		if r := next(); r != ExitHLT {
			t.Fatalf("exit %v, want HLT", r)
		}
	})
	t.Run("dirty log", func(t *testing.T) {
		bitmap := make([]uint64, 1)
		if err := vm.GetDirtyLog(0, bitmap); err != nil {
			t.Fatal(err)
		}
		if bitmap[0]&(1<<3) == 0 {
			t.Fatalf("dirty bitmap %#x lacks page 3", bitmap[0])
		}
	})
	t.Run("immediate exit", func(t *testing.T) {
		run.SetImmediateExit(true)
		if errno := c.Run(); errno != unix.EINTR {
			t.Fatalf("KVM_RUN with immediate_exit: %v, want EINTR", errno)
		}
		run.SetImmediateExit(false)
		if run.ImmediateExit() {
			t.Fatal("immediate_exit still set")
		}
	})
}

func TestVCPUState(t *testing.T) {
	s := requireKVM(t)
	vm := newVM(t, s)
	if err := vm.CreateIRQChip(); err != nil {
		t.Fatal(err)
	}
	c := newVCPU(t, vm, 0)
	cpuid, err := s.SupportedCPUID()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetCPUID2(cpuid); err != nil {
		t.Fatal(err)
	}
	t.Run("cpuid read back", func(t *testing.T) {
		got, err := c.GetCPUID2()
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(cpuid) {
			t.Fatalf("GetCPUID2 returned %d entries, set %d", len(got), len(cpuid))
		}
	})
	t.Run("regs", func(t *testing.T) {
		want := Regs{RAX: 1, RBX: 2, R15: 0xdeadbeef, RIP: 0x1234, RFLAGS: 0x202}
		if err := c.SetRegs(want); err != nil {
			t.Fatal(err)
		}
		got, err := c.GetRegs()
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("regs %+v, want %+v", got, want)
		}
	})
	t.Run("sregs", func(t *testing.T) {
		sr, err := c.GetSregs()
		if err != nil {
			t.Fatal(err)
		}
		sr.CR2 = 0xabc000
		if err := c.SetSregs(sr); err != nil {
			t.Fatal(err)
		}
		got, err := c.GetSregs()
		if err != nil {
			t.Fatal(err)
		}
		if got.CR2 != 0xabc000 {
			t.Fatalf("cr2 %#x", got.CR2)
		}
	})
	t.Run("fpu", func(t *testing.T) {
		f, err := c.GetFPU()
		if err != nil {
			t.Fatal(err)
		}
		f.XMM[3][0] = 0x42
		f.MXCSR = 0x1f80
		if err := c.SetFPU(f); err != nil {
			t.Fatal(err)
		}
		got, err := c.GetFPU()
		if err != nil {
			t.Fatal(err)
		}
		if got.XMM[3][0] != 0x42 {
			t.Fatalf("xmm3 byte 0 = %#x", got.XMM[3][0])
		}
	})
	t.Run("msrs", func(t *testing.T) {
		e := []MSREntry{{Index: 0xC0000102, Data: 0xffff888012345000}} // KERNEL_GS_BASE
		if err := c.SetMSRs(e); err != nil {
			t.Fatal(err)
		}
		e[0].Data = 0
		if err := c.GetMSRs(e); err != nil {
			t.Fatal(err)
		}
		if e[0].Data != 0xffff888012345000 {
			t.Fatalf("KERNEL_GS_BASE = %#x", e[0].Data)
		}
		bad := []MSREntry{{Index: 0xdead0000}}
		if err := c.GetMSRs(bad); err == nil {
			t.Fatal("reading a nonexistent msr succeeded")
		}
	})
	t.Run("lapic", func(t *testing.T) {
		l, err := c.GetLAPIC()
		if err != nil {
			t.Fatal(err)
		}
		if id := l.Regs[0x23]; id != 0 { // APIC ID register, bits 31:24
			t.Fatalf("vcpu 0 apic id %d", id)
		}
		if err := c.SetLAPIC(l); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("mp state", func(t *testing.T) {
		st, err := c.GetMPState()
		if err != nil {
			t.Fatal(err)
		}
		if st != MPStateRunnable {
			t.Fatalf("bsp mp state %d", st)
		}
		ap := newVCPU(t, vm, 1)
		st, err = ap.GetMPState()
		if err != nil {
			t.Fatal(err)
		}
		if st != MPStateUninitialized {
			t.Fatalf("ap mp state %d, want uninitialized", st)
		}
	})
	t.Run("save restore", func(t *testing.T) {
		list, err := s.MSRIndexList()
		if err != nil {
			t.Fatal(err)
		}
		msrs := c.ReadableMSRs(list)
		st, err := c.SaveState(msrs, true)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.SetRegs(Regs{RFLAGS: 2}); err != nil {
			t.Fatal(err)
		}
		if err := c.RestoreState(st); err != nil {
			t.Fatal(err)
		}
		got, err := c.GetRegs()
		if err != nil {
			t.Fatal(err)
		}
		if got != st.Regs {
			t.Fatalf("regs after restore %+v, want %+v", got, st.Regs)
		}
	})
	t.Run("tsc khz", func(t *testing.T) {
		khz, err := c.GetTSCKHz()
		if err != nil {
			t.Fatal(err)
		}
		if khz == 0 {
			t.Fatal("tsc khz 0")
		}
	})
	t.Run("signal mask", func(t *testing.T) {
		m := uint64(1) << 9
		if err := c.SetSignalMask(&m); err != nil {
			t.Fatal(err)
		}
		if err := c.SetSignalMask(nil); err != nil {
			t.Fatal(err)
		}
	})
}

func TestIRQChipAndTimers(t *testing.T) {
	s := requireKVM(t)
	vm := newVM(t, s)
	if err := vm.CreateIRQChip(); err != nil {
		t.Fatal(err)
	}
	if err := vm.CreatePIT2(PITSpeakerDummy); err != nil {
		t.Fatal(err)
	}
	t.Run("ioapic round trip", func(t *testing.T) {
		c, err := vm.GetIRQChip(IRQChipIOAPIC)
		if err != nil {
			t.Fatal(err)
		}
		st, err := c.IOAPIC()
		if err != nil {
			t.Fatal(err)
		}
		if st.BaseAddress != 0xFEC00000 {
			t.Fatalf("ioapic base %#x", st.BaseAddress)
		}
		st.RedirTbl[5] = 0x30 | 1<<16 // vector 0x30, masked
		if err := c.SetIOAPIC(st); err != nil {
			t.Fatal(err)
		}
		if err := vm.SetIRQChip(c); err != nil {
			t.Fatal(err)
		}
		c2, err := vm.GetIRQChip(IRQChipIOAPIC)
		if err != nil {
			t.Fatal(err)
		}
		st2, err := c2.IOAPIC()
		if err != nil {
			t.Fatal(err)
		}
		if st2.RedirTbl[5]&0x100ff != 0x10030 {
			t.Fatalf("redirection entry 5 = %#x", st2.RedirTbl[5])
		}
	})
	t.Run("pic", func(t *testing.T) {
		for _, id := range []uint32{IRQChipPICMaster, IRQChipPICSlave} {
			c, err := vm.GetIRQChip(id)
			if err != nil {
				t.Fatal(err)
			}
			p, err := c.PIC()
			if err != nil {
				t.Fatal(err)
			}
			if err := c.SetPIC(p); err != nil {
				t.Fatal(err)
			}
			if err := vm.SetIRQChip(c); err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("pit", func(t *testing.T) {
		st, err := vm.GetPIT2()
		if err != nil {
			t.Fatal(err)
		}
		if err := vm.SetPIT2(st); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("irq line", func(t *testing.T) {
		if err := vm.IRQLine(4, true); err != nil {
			t.Fatal(err)
		}
		if err := vm.IRQLine(4, false); err != nil {
			t.Fatal(err)
		}
		if _, err := vm.IRQLineStatus(9, true); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("msi", func(t *testing.T) {
		newVCPU(t, vm, 0)
		if _, err := vm.SignalMSI(MSI{AddressLo: 0xFEE00000, Data: 0x40}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("gsi routing and irqfd", func(t *testing.T) {
		var routes []IRQRoutingEntry
		for i := uint32(0); i < 24; i++ {
			if i < 16 && i != 2 {
				chip := uint32(IRQChipPICMaster)
				pin := i
				if i >= 8 {
					chip, pin = IRQChipPICSlave, i-8
				}
				routes = append(routes, IRQChipRoute(i, chip, pin))
			}
			routes = append(routes, IRQChipRoute(i, IRQChipIOAPIC, i))
		}
		routes = append(routes, MSIRoute(24, 0xFEE00000, 0x41))
		if err := vm.SetGSIRouting(routes); err != nil {
			t.Fatal(err)
		}
		efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(efd)
		if err := vm.IRQFD(IRQFD{FD: uint32(efd), GSI: 24}); err != nil {
			t.Fatal(err)
		}
		if err := vm.IRQFD(IRQFD{FD: uint32(efd), GSI: 24, Flags: IRQFDFlagDeassign}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ioeventfd", func(t *testing.T) {
		efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(efd)
		f := IOEventFD{Addr: 0xC0001000, Len: 4, FD: int32(efd)}
		if err := vm.IOEventFD(f); err != nil {
			t.Fatal(err)
		}
		f.Flags = IOEventFDFlagDeassign
		if err := vm.IOEventFD(f); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("clock", func(t *testing.T) {
		c, err := vm.GetClock()
		if err != nil {
			t.Fatal(err)
		}
		if err := vm.SetClock(ClockData{Clock: c.Clock + 1e9}); err != nil {
			t.Fatal(err)
		}
		c2, err := vm.GetClock()
		if err != nil {
			t.Fatal(err)
		}
		if c2.Clock < c.Clock+1e9 {
			t.Fatalf("clock %d after setting %d", c2.Clock, c.Clock+1e9)
		}
	})
}
