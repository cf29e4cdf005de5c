// Package linux boots a stock distribution kernel (Debian 12's
// linux-image-cloud-amd64) under govirt and proves, with the guest's own
// drivers, that its disk and network work: the end-to-end test
// TestStockLinuxBoot, and what it is built from.
//
// The guest is the kernel plus an initramfs this package writes: a static
// busybox with the applets /init needs, the kernel's virtio modules (read
// from the kernel package's lib/modules tree, loaded in dependency order)
// and /init, a busybox sh script that prints a "GOVIRT-PHASE <name>" line
// at each step:
//
//	init           /init runs (guest uptime printed)
//	modules        virtio, virtio_pci, virtio_blk, virtio_net and their dependencies loaded
//	disk-mounted   /dev/vda (ext2) mounted; "GOVIRT-DISK-FILE <text>" shows the host's file
//	file-written   /from-guest.txt written, the file system unmounted
//	dhcp           eth0 configured by udhcpc: "ip=A/N router=R"
//	ping           the router (the network's bridge) answered
//	done           then "poweroff -f", which ends in ACPI S5
//
// A failing step prints "GOVIRT-FAIL <what>" and powers off at once.
//
// Where KVM emulates guest kernel mode (the kvm_pvm hosts the project's CI
// runs on) the kernel needs CPU features hidden and a particular command
// line; Cmdline is the one place that line is built, and
// examples/nested-host-linux.xml is the domain the test starts from.
//
// Running it (root, /dev/kvm, busybox-static, e2fsprogs, util-linux):
//
//	GOVIRT_LINUX_KERNEL=/tmp/k/root/boot/vmlinuz-6.1.0-56-cloud-amd64 \
//	  go test -v -run TestStockLinuxBoot -timeout 40m ./test/linux
//
// GOVIRT_LINUX_KERNEL names an unpacked kernel package's vmlinuz (modules
// in <root>/lib/modules/<version>); without it the test downloads
// linux-image-cloud-amd64 with apt-get download. GOVIRT_LINUX_TIMEOUT (a Go
// duration, default 25m, capped by go test's own deadline) bounds the run;
// GOVIRT_LINUX_CMDLINE_EXTRA adds kernel parameters. -short skips the
// boot; the other tests need no privileges.
//
// On a kvm_pvm host the kernel starts /init after about three minutes,
// but kvm_pvm does not deliver an unmodified kernel's user-mode syscall,
// so /init's first system call faults and the kernel panics
// (bench/README.md). There the test asserts the kernel's own boot instead
// (kernelPhases: MMCONFIG in use, the PCI host bridge and both virtio
// functions found, the initramfs unpacked, /init started) and stops;
// GOVIRT_LINUX_ON_PVM=1 runs the whole flow anyway, which then fails at
// that point, showing the panic.
package linux
