package kvmapi

import (
	"testing"
	"unsafe"
)

// TestStructSizes compares each Go mirror with the size of its C struct
// (sizeof as printed by gcc from linux/kvm.h and asm/kvm.h for x86-64) and
// with the size constant its ioctl number encodes.
func TestStructSizes(t *testing.T) {
	tests := []struct {
		name  string
		got   uintptr
		c     uintptr
		ioctl uintptr // size encoded in request numbers, 0 if none
	}{
		{"kvm_userspace_memory_region", unsafe.Sizeof(MemoryRegion{}), 32, sizeofMemoryRegion},
		{"kvm_regs", unsafe.Sizeof(Regs{}), 144, sizeofRegs},
		{"kvm_segment", unsafe.Sizeof(Segment{}), 24, 0},
		{"kvm_dtable", unsafe.Sizeof(DTable{}), 16, 0},
		{"kvm_sregs", unsafe.Sizeof(Sregs{}), 312, sizeofSregs},
		{"kvm_fpu", unsafe.Sizeof(FPU{}), 416, sizeofFPU},
		{"kvm_xsave", unsafe.Sizeof(XSAVE{}), 4096, sizeofXSAVE},
		{"kvm_xcr", unsafe.Sizeof(XCR{}), 16, 0},
		{"kvm_xcrs", unsafe.Sizeof(XCRs{}), 392, sizeofXCRs},
		{"kvm_msr_entry", unsafe.Sizeof(MSREntry{}), 16, sizeofMSREntry},
		{"kvm_lapic_state", unsafe.Sizeof(LAPICState{}), 1024, sizeofLAPICState},
		{"kvm_vcpu_events", unsafe.Sizeof(VCPUEvents{}), 64, sizeofVCPUEvents},
		{"kvm_mp_state", unsafe.Sizeof(MPState{}), 4, sizeofMPState},
		{"kvm_debugregs", unsafe.Sizeof(DebugRegs{}), 128, sizeofDebugRegs},
		{"kvm_cpuid_entry2", unsafe.Sizeof(CPUIDEntry{}), 40, sizeofCPUIDEntry},
		{"kvm_pic_state", unsafe.Sizeof(PICState{}), 16, 0},
		{"kvm_ioapic_state", unsafe.Sizeof(IOAPICState{}), 216, 0},
		{"kvm_irqchip", unsafe.Sizeof(IRQChip{}), 520, sizeofIRQChip},
		{"kvm_pit_channel_state", unsafe.Sizeof(PITChannelState{}), 24, 0},
		{"kvm_pit_state2", unsafe.Sizeof(PITState2{}), 112, sizeofPITState2},
		{"kvm_pit_config", unsafe.Sizeof(PITConfig{}), 64, sizeofPITConfig},
		{"kvm_irq_level", unsafe.Sizeof(IRQLevel{}), 8, sizeofIRQLevel},
		{"kvm_msi", unsafe.Sizeof(MSI{}), 32, sizeofMSI},
		{"kvm_irq_routing_entry", unsafe.Sizeof(IRQRoutingEntry{}), 48, sizeofIRQRoutingEntry},
		{"kvm_irqfd", unsafe.Sizeof(IRQFD{}), 32, sizeofIRQFD},
		{"kvm_ioeventfd", unsafe.Sizeof(IOEventFD{}), 64, sizeofIOEventFD},
		{"kvm_dirty_log", unsafe.Sizeof(dirtyLog{}), 16, sizeofDirtyLog},
		{"kvm_clear_dirty_log", unsafe.Sizeof(clearDirtyLog{}), 24, sizeofClearDirtyLog},
		{"kvm_clock_data", unsafe.Sizeof(ClockData{}), 48, sizeofClockData},
		{"kvm_enable_cap", unsafe.Sizeof(EnableCap{}), 104, sizeofEnableCap},
		{"kvm_translation", unsafe.Sizeof(Translation{}), 24, sizeofTranslation},
		{"kvm_signal_mask (+8-byte sigset)", unsafe.Sizeof(signalMask{}), 4 + 8, sizeofSignalMaskHeader + 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.c {
				t.Errorf("Go size %d, C size %d", tt.got, tt.c)
			}
			if tt.ioctl != 0 && tt.ioctl != tt.c {
				t.Errorf("size constant %d, C size %d", tt.ioctl, tt.c)
			}
		})
	}
}

// TestFieldOffsets checks fields whose offsets a padding mistake would move
// (C offsets from offsetof).
func TestFieldOffsets(t *testing.T) {
	var s Sregs
	var e VCPUEvents
	var f FPU
	var c IRQChip
	var cl ClockData
	tests := []struct {
		name string
		got  uintptr
		want uintptr
	}{
		{"kvm_sregs.cr0", unsafe.Offsetof(s.CR0), 224},
		{"kvm_sregs.efer", unsafe.Offsetof(s.EFER), 264},
		{"kvm_sregs.interrupt_bitmap", unsafe.Offsetof(s.InterruptBitmap), 280},
		{"kvm_vcpu_events.interrupt", unsafe.Offsetof(e.Interrupt), 8},
		{"kvm_vcpu_events.nmi", unsafe.Offsetof(e.NMI), 12},
		{"kvm_vcpu_events.sipi_vector", unsafe.Offsetof(e.SIPIVector), 16},
		{"kvm_vcpu_events.flags", unsafe.Offsetof(e.Flags), 20},
		{"kvm_vcpu_events.smi", unsafe.Offsetof(e.SMI), 24},
		{"kvm_vcpu_events.exception_has_payload", unsafe.Offsetof(e.ExceptionHasPayload), 55},
		{"kvm_fpu.xmm", unsafe.Offsetof(f.XMM), 152},
		{"kvm_fpu.mxcsr", unsafe.Offsetof(f.MXCSR), 408},
		{"kvm_irqchip.chip", unsafe.Offsetof(c.Chip), 8},
		{"kvm_clock_data.realtime", unsafe.Offsetof(cl.Realtime), 16},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("offset %d, want %d", tt.got, tt.want)
			}
		})
	}
}

// TestRunLayout checks the kvm_run offsets this package decodes against
// offsetof(struct kvm_run, ...).
func TestRunLayout(t *testing.T) {
	tests := []struct {
		name string
		got  int
		want int
	}{
		{"sizeof(kvm_run)", sizeofRun, 2352},
		{"exit_reason", runOffExitReason, 8},
		{"io/mmio/internal union", runOffExit, 32},
		{"emulation_failure.insn_size", runOffEmulInsnSize, 48},
		{"emulation_failure.insn_bytes", runOffEmulInsnBytes, 49},
		{"system_event.data", runOffSystemEventData, 40},
		{"fail_entry.cpu", runOffFailEntryCPU, 40},
		{"mmio.len", runOffMMIOLen, 48},
		{"mmio.is_write", runOffMMIOIsWrite, 52},
		{"io.data_offset", runOffIODataOffset, 40},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("offset %d, want %d", tt.got, tt.want)
			}
		})
	}
}
