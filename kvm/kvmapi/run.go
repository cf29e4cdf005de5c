package kvmapi

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Layout of struct kvm_run (include/uapi/linux/kvm.h), as byte offsets into
// the shared mapping. The run_test checks them against the C compiler.
const (
	sizeofRun = 2352

	runOffImmediateExit = 1
	runOffExitReason    = 8
	runOffIfFlag        = 13
	runOffFlags         = 14
	runOffCR8           = 16
	runOffAPICBase      = 24
	runOffExit          = 32 // the exit union, 256 bytes

	// io
	runOffIODirection  = runOffExit + 0
	runOffIOSize       = runOffExit + 1
	runOffIOPort       = runOffExit + 2
	runOffIOCount      = runOffExit + 4
	runOffIODataOffset = runOffExit + 8

	// mmio
	runOffMMIOPhysAddr = runOffExit + 0
	runOffMMIOData     = runOffExit + 8
	runOffMMIOLen      = runOffExit + 16
	runOffMMIOIsWrite  = runOffExit + 20

	// internal / emulation_failure
	runOffInternalSuberror = runOffExit + 0
	runOffInternalNData    = runOffExit + 4
	runOffInternalData     = runOffExit + 8 // internal.data[16] (u64 each)
	runOffEmulFlags        = runOffExit + 8
	runOffEmulInsnSize     = runOffExit + 16
	runOffEmulInsnBytes    = runOffExit + 17

	// fail_entry
	runOffFailEntryReason = runOffExit + 0
	runOffFailEntryCPU    = runOffExit + 8

	// system_event
	runOffSystemEventType  = runOffExit + 0
	runOffSystemEventNData = runOffExit + 4
	runOffSystemEventData  = runOffExit + 8

	// hw (KVM_EXIT_UNKNOWN)
	runOffHWExitReason = runOffExit + 0

	// memory_fault
	runOffMemFaultFlags = runOffExit + 0
	runOffMemFaultGPA   = runOffExit + 8
	runOffMemFaultSize  = runOffExit + 16

	// immediateExitBit is immediate_exit's position in the first 32-bit
	// word of kvm_run (byte 1, little endian).
	immediateExitBit = 1 << 8
)

// Run is a vCPU's shared kvm_run page. Its accessors decode the exit union
// for the exit reason the last KVM_RUN returned; they must be called by the
// goroutine that called Run, except SetImmediateExit which any goroutine may
// call.
type Run struct {
	mem   []byte
	word0 *uint32 // first 32 bits of kvm_run, for atomic immediate_exit
}

func (r *Run) unmap() error {
	if r == nil || r.mem == nil {
		return nil
	}
	mem := r.mem
	r.mem = nil
	r.word0 = nil
	if err := unix.Munmap(mem); err != nil {
		return fmt.Errorf("munmap kvm_run: %w", err)
	}
	return nil
}

func (r *Run) u8(off int) uint8   { return r.mem[off] }
func (r *Run) u16(off int) uint16 { return binary.LittleEndian.Uint16(r.mem[off:]) }
func (r *Run) u32(off int) uint32 { return binary.LittleEndian.Uint32(r.mem[off:]) }
func (r *Run) u64(off int) uint64 { return binary.LittleEndian.Uint64(r.mem[off:]) }

// SetImmediateExit sets or clears kvm_run.immediate_exit. While set, KVM_RUN
// returns EINTR at once without entering the guest. Safe from any goroutine.
func (r *Run) SetImmediateExit(on bool) {
	if on {
		atomic.OrUint32(r.word0, immediateExitBit)
	} else {
		atomic.AndUint32(r.word0, ^uint32(immediateExitBit))
	}
}

// ImmediateExit reports whether immediate_exit is set.
func (r *Run) ImmediateExit() bool {
	return atomic.LoadUint32(r.word0)&immediateExitBit != 0
}

// ExitReason is kvm_run.exit_reason.
func (r *Run) ExitReason() ExitReason { return ExitReason(r.u32(runOffExitReason)) }

// IfFlag is kvm_run.if_flag: the guest's RFLAGS.IF at exit.
func (r *Run) IfFlag() bool { return r.u8(runOffIfFlag) != 0 }

// Flags is kvm_run.flags (KVM_RUN_X86_SMM, KVM_RUN_X86_BUS_LOCK).
func (r *Run) Flags() uint16 { return r.u16(runOffFlags) }

// IOExit describes a KVM_EXIT_IO: Count accesses of Size bytes each at Port.
// Data aliases the shared data area: for an OUT it holds the values the guest
// wrote, for an IN the handler fills it.
type IOExit struct {
	Out   bool
	Size  int
	Port  uint16
	Count int
	Data  []byte
}

// IO decodes the io member of the exit union. It fails if the kernel's data
// offset or size lies outside the mapping.
func (r *Run) IO() (IOExit, error) {
	e := IOExit{
		Out:   r.u8(runOffIODirection) == ExitIOOut,
		Size:  int(r.u8(runOffIOSize)),
		Port:  r.u16(runOffIOPort),
		Count: int(r.u32(runOffIOCount)),
	}
	switch e.Size {
	case 1, 2, 4:
	default:
		return e, fmt.Errorf("io exit: bad access size %d", e.Size)
	}
	off := r.u64(runOffIODataOffset)
	n := uint64(e.Size) * uint64(e.Count)
	if e.Count <= 0 || off >= uint64(len(r.mem)) || n > uint64(len(r.mem))-off {
		return e, fmt.Errorf("io exit: data at offset %d, %d bytes, outside the %d-byte kvm_run mapping", off, n, len(r.mem))
	}
	e.Data = r.mem[off : off+n]
	return e, nil
}

// MMIOExit describes a KVM_EXIT_MMIO. Data aliases kvm_run.mmio.data: for a
// read the handler fills it.
type MMIOExit struct {
	Addr  uint64
	Write bool
	Data  []byte
}

// MMIO decodes the mmio member of the exit union.
func (r *Run) MMIO() (MMIOExit, error) {
	n := r.u32(runOffMMIOLen)
	if n == 0 || n > 8 {
		return MMIOExit{}, fmt.Errorf("mmio exit: bad length %d", n)
	}
	return MMIOExit{
		Addr:  r.u64(runOffMMIOPhysAddr),
		Write: r.u8(runOffMMIOIsWrite) != 0,
		Data:  r.mem[runOffMMIOData : runOffMMIOData+int(n)],
	}, nil
}

// InternalError describes a KVM_EXIT_INTERNAL_ERROR.
type InternalError struct {
	Suberror uint32
	// Data is internal.data[:ndata] (at most 16 words).
	Data []uint64
	// Insn holds the bytes of the instruction that failed to emulate when
	// Suberror is InternalErrorEmulation and KVM supplied them.
	Insn []byte
}

// InternalError decodes the internal / emulation_failure member.
func (r *Run) InternalError() InternalError {
	e := InternalError{Suberror: r.u32(runOffInternalSuberror)}
	nd := r.u32(runOffInternalNData)
	if nd > 16 {
		nd = 16
	}
	for i := uint32(0); i < nd; i++ {
		e.Data = append(e.Data, r.u64(runOffInternalData+8*int(i)))
	}
	// emulation_failure overlays data[0] with flags; the instruction bytes
	// are valid when flags says so and ndata covers them (flags, then
	// insn_size + insn_bytes[15] as two more words).
	if e.Suberror == InternalErrorEmulation && nd >= 3 && r.u64(runOffEmulFlags)&EmulationFlagInstructionBytes != 0 {
		size := int(r.u8(runOffEmulInsnSize))
		if size > 15 {
			size = 15
		}
		e.Insn = append([]byte(nil), r.mem[runOffEmulInsnBytes:runOffEmulInsnBytes+size]...)
	}
	return e
}

// FailEntry returns fail_entry.hardware_entry_failure_reason and cpu.
func (r *Run) FailEntry() (reason uint64, cpu uint32) {
	return r.u64(runOffFailEntryReason), r.u32(runOffFailEntryCPU)
}

// SystemEvent returns system_event.type and its data words.
func (r *Run) SystemEvent() (typ uint32, data []uint64) {
	typ = r.u32(runOffSystemEventType)
	n := r.u32(runOffSystemEventNData)
	if n > 16 {
		n = 16
	}
	for i := uint32(0); i < n; i++ {
		data = append(data, r.u64(runOffSystemEventData+8*int(i)))
	}
	return typ, data
}

// HardwareExitReason returns hw.hardware_exit_reason (KVM_EXIT_UNKNOWN).
func (r *Run) HardwareExitReason() uint64 { return r.u64(runOffHWExitReason) }

// MemoryFault returns memory_fault's flags, gpa and size.
func (r *Run) MemoryFault() (flags, gpa, size uint64) {
	return r.u64(runOffMemFaultFlags), r.u64(runOffMemFaultGPA), r.u64(runOffMemFaultSize)
}
