package kvm

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/govirt/govirt/kvm/acpi"
	"github.com/govirt/govirt/kvm/cpuid"
	"github.com/govirt/govirt/kvm/guestmem"
)

// RebootPolicy says what a guest reboot request does.
type RebootPolicy int

// Reboot policies.
const (
	// RebootReset resets the machine in place and keeps it running.
	RebootReset RebootPolicy = iota
	// RebootStop ends the machine; Wait reports ExitReboot.
	RebootStop
)

// MaxVCPUs is the most vCPUs a machine can have (8-bit APIC ids in the MP
// table and MADT).
const MaxVCPUs = acpi.MaxCPUs

// Config describes a machine.
type Config struct {
	// MemoryBytes is the guest RAM size (a multiple of 4 KiB, at least
	// guestmem.MinSize).
	MemoryBytes uint64
	// VCPUs is the number of vCPUs, 1..MaxVCPUs.
	VCPUs int
	// CPUSets pins vCPU i to the host CPUs in CPUSets[i]; nil or an empty
	// set leaves the vCPU unpinned. Either nil or one entry per vCPU.
	CPUSets [][]int
	// CPU shapes the CPUID features by libvirt name.
	CPU cpuid.Config
	// Kernel is the path of a bzImage or a 64-bit ELF kernel; Initrd an
	// optional initial ramdisk; Cmdline the kernel command line. The
	// files are read at every boot (New and each reset) and not kept in
	// between: a reset boots what they hold then, and a reset that
	// cannot read them ends the machine (ExitCrash).
	Kernel  string
	Initrd  string
	Cmdline string
	// SerialIn feeds COM1's receiver (optional); SerialOut receives what
	// the guest writes to COM1 (optional). Writes must not block for long:
	// they run on a vCPU thread.
	SerialIn  io.Reader
	SerialOut io.Writer
	// OnReboot selects what a guest reboot request does.
	OnReboot RebootPolicy
	// Incoming creates the machine for a saved or migrated state: New
	// checks that the kernel can be opened (a later reset boots it) but
	// leaves RAM empty and the vCPUs in their reset state; RestoreState
	// loads the state.
	Incoming bool
	// Logger receives the machine's log; nil discards it.
	Logger *slog.Logger
}

func (c *Config) validate() error {
	if c.VCPUs < 1 || c.VCPUs > MaxVCPUs {
		return fmt.Errorf("vcpus %d out of range 1..%d", c.VCPUs, MaxVCPUs)
	}
	if c.MemoryBytes < guestmem.MinSize || c.MemoryBytes%guestmem.PageSize != 0 {
		return fmt.Errorf("memory %d bytes: want a multiple of %d, at least %d", c.MemoryBytes, guestmem.PageSize, guestmem.MinSize)
	}
	if c.CPUSets != nil && len(c.CPUSets) != c.VCPUs {
		return fmt.Errorf("%d cpu sets for %d vcpus", len(c.CPUSets), c.VCPUs)
	}
	for i, set := range c.CPUSets {
		if err := checkCPUSet(set); err != nil {
			return fmt.Errorf("vcpu %d: %w", i, err)
		}
	}
	if c.Kernel == "" {
		return fmt.Errorf("no kernel")
	}
	if c.OnReboot != RebootReset && c.OnReboot != RebootStop {
		return fmt.Errorf("reboot policy %d unknown", c.OnReboot)
	}
	return nil
}

// maxHostCPU bounds host CPU numbers in CPU sets (the size of a cpu mask
// sched_setaffinity takes here).
const maxHostCPU = 1024

func checkCPUSet(set []int) error {
	for _, c := range set {
		if c < 0 || c >= maxHostCPU {
			return fmt.Errorf("host cpu %d out of range 0..%d", c, maxHostCPU-1)
		}
	}
	return nil
}
