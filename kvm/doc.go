// Package kvm runs a virtual machine on Linux KVM: guest memory, one pinned
// OS thread per vCPU, the in-kernel interrupt controllers and PIT, the
// legacy platform devices, ACPI and MP tables, and a kernel booted through
// the Linux boot protocol (bzImage) or as a 64-bit ELF.
//
// A Machine is built by New from a Config, started with Start and driven
// with Pause, Resume, PowerButton, Reset and Stop; Wait returns why it ended
// (poweroff, reboot request, crash, triple fault, stop).
//
// Reboot: a guest reboot request (port 0xCF9, the i8042 reset line, a
// KVM_SYSTEM_EVENT_RESET) resets the machine in place by default: every
// vCPU goes back to the state it had after creation, the interrupt
// controllers and devices are reset, RAM is discarded and the kernel,
// tables and boot state are loaded again. With Config.OnReboot set to
// RebootStop the machine ends instead and Wait reports ExitReboot, leaving
// the restart to the caller. Reset does the same in-place reset on request
// (libvirt's virDomainReset).
//
// Boot time: the first write of any value to I/O port 0x3f0
// (layout.PortBootMarker) after Start or a reset records the time since the
// vCPUs started; the machine logs it ("guest boot marker") and BootTime
// returns it. A Linux guest marks "booted" from its init with iopl(3) and
// one outb (bench/bootbench's /init does); the test guest writes it once
// ready. A bzImage's compressed kernel is decompressed on the host when
// kvm/boot can (logged as "kernel decompressed on the host", or with the
// reason it is left to the guest).
//
// Guest input is hostile: every exit is decoded with bounds checks, device
// handlers return errors instead of panicking, unknown ports read as all
// ones and writes to them are counted and ignored, and a vCPU that keeps
// failing at the same instruction ends the machine as crashed instead of
// looping.
package kvm
