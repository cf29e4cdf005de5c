package xmlconf_test

import (
	"errors"
	"fmt"

	"github.com/govirt/govirt/xmlconf"
)

func ExampleParseDomain() {
	d, err := xmlconf.ParseDomain([]byte(`<domain type='kvm'>
  <name>demo</name>
  <uuid>5f1e2f70-8c8d-4c1f-9a4d-6b3e0f2d9c11</uuid>
  <memory unit='GiB'>1</memory>
  <os><type>hvm</type><kernel>/boot//vmlinuz</kernel></os>
  <devices>
    <disk><source file='/img/demo.img'/><target dev='vda'/></disk>
    <interface type='network'><mac address='52:54:00:AB:CD:EF'/><source network='default'/></interface>
  </devices>
</domain>`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(d.Memory, d.CurrentMemory, d.VCPU.Count, d.OS.Kernel)
	fmt.Println(d.Devices.Disks[0].Target.Bus, d.FindInterface("52:54:00:ab:cd:ef").MAC)
	fmt.Println(d.OnPoweroff, d.OnReboot, d.OnCrash)
	// Output:
	// 1048576 1048576 1 /boot/vmlinuz
	// virtio 52:54:00:ab:cd:ef
	// destroy restart destroy
}

func ExampleParseDomain_error() {
	_, err := xmlconf.ParseDomain([]byte(`<domain type='kvm'><name>x</name><uuid>abc</uuid><memory>1</memory></domain>`))
	fmt.Println(err)
	fmt.Println(errors.Is(err, xmlconf.ErrXMLError))
	// Output:
	// XML error: invalid value 'abc' for <uuid>: invalid UUID length: 3
	// true
}

func ExampleParseScaled() {
	b, _ := xmlconf.ParseScaled("2", "GiB", "KiB")
	k, _ := xmlconf.ParseScaled("512", "", "KiB")
	m, _ := xmlconf.ParseScaled("1", "MB", "bytes")
	_, err := xmlconf.ParseScaled("16", "EiB", "bytes")
	fmt.Println(b, k, m, errors.Is(err, xmlconf.ErrOverflow))
	// Output: 2147483648 524288 1000000 true
}

func ExampleParseCPUSet() {
	cpus, _ := xmlconf.ParseCPUSet("0-3,^2,8", 0)
	fmt.Println(cpus, xmlconf.FormatCPUSet(cpus))
	// Output: [0 1 3 8] 0-1,3,8
}

func ExampleNetIP_Subnet() {
	ip := xmlconf.NetIP{Address: "192.168.122.1", Netmask: "255.255.255.0"}
	p, _ := ip.Subnet()
	fmt.Println(p)
	// Output: 192.168.122.0/24
}
