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
package linux
