package vmm

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/govirt/govirt/xmlconf"
)

// checkXML builds a domain around the given pieces.
func checkXML(os, top, devices string) string {
	if os == "" {
		os = "<os><type arch='x86_64'>hvm</type><kernel>/boot/vmlinuz</kernel><cmdline>console=ttyS0</cmdline></os>"
	}
	return fmt.Sprintf(`<domain type='kvm'><name>c</name><memory unit='MiB'>128</memory><vcpu>2</vcpu>%s%s<devices>%s</devices></domain>`, os, top, devices)
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name   string
		os     string
		top    string
		dev    string
		code   xmlconf.ErrorNumber // ErrOK: accepted
		naming string              // a substring of the error
	}{
		{name: "minimal"},
		{name: "pty serial and console", dev: "<serial type='pty'/><console type='pty'><target type='serial' port='0'/></console>"},
		{name: "serial to file", dev: "<serial type='file'><source path='/tmp/x.log' append='off'/></serial>"},
		{name: "serial to unix bind", dev: "<serial type='unix'><source mode='bind' path='/tmp/x.sock'/></serial>"},
		{name: "serial to unix connect", dev: "<serial type='unix'><source mode='connect' path='/tmp/x.sock'/></serial>"},
		{name: "null serial", dev: "<serial type='null'/>"},
		{name: "virtio disk", dev: "<disk type='file' device='disk'><driver name='qemu' type='raw' cache='none' io='threads' discard='unmap'/><source file='/var/a.img'/><target dev='vda' bus='virtio'/><serial>s1</serial><readonly/></disk>"},
		{name: "block disk", dev: "<disk type='block'><source dev='/dev/loop0'/><target dev='vdb'/></disk>"},
		{name: "disk at a pci slot", dev: "<disk type='file'><source file='/a'/><target dev='vda'/><address type='pci' domain='0x0000' bus='0x00' slot='0x07' function='0x0'/></disk>"},
		{name: "virtio interface", dev: "<interface type='network'><source network='default'/><mac address='52:54:00:00:00:01'/><model type='virtio'/><mtu size='1400'/></interface>"},
		{name: "bridge interface without model", dev: "<interface type='bridge'><source bridge='br0'/></interface>"},
		{name: "balloon", dev: "<memballoon model='virtio'><stats period='10'/></memballoon>"},
		{name: "no balloon", dev: "<memballoon model='none'/>"},
		{name: "root controllers", dev: "<controller type='pci' index='0' model='pci-root'/><controller type='usb' model='none'/>"},
		{name: "ps2 inputs", dev: "<input type='mouse' bus='ps2'/><input type='keyboard'/>"},
		{name: "no video", dev: "<video><model type='none'/></video>"},
		{name: "host cpu with features", top: "<cpu mode='host-passthrough'><feature policy='disable' name='avx2'/><feature policy='require' name='sse2'/></cpu>"},
		{name: "pinned vcpus", top: "<cputune><vcpupin vcpu='0' cpuset='0'/><vcpupin vcpu='1' cpuset='0-1'/></cputune>"},
		{name: "one-socket topology", top: "<cpu mode='host-model'><topology sockets='1' cores='2' threads='1'/></cpu>"},
		{name: "utc clock and timers", top: "<clock offset='utc'><timer name='rtc' tickpolicy='catchup'/><timer name='pit' tickpolicy='delay'/><timer name='hpet' present='no'/></clock>"},
		{name: "features", top: "<features><acpi/><apic/><pae/><vmport state='off'/></features>"},
		{name: "suspend disabled", top: "<pm><suspend-to-mem enabled='no'/><suspend-to-disk enabled='no'/></pm>"},
		{name: "lifecycle", top: "<on_poweroff>restart</on_poweroff><on_reboot>destroy</on_reboot><on_crash>preserve</on_crash>"},
		{name: "seclabel none", top: "<seclabel type='none'/>"},

		{name: "no kernel", os: "<os><type>hvm</type><boot dev='hd'/></os>", code: xmlconf.ErrConfigUnsupported, naming: noKernel},
		{name: "firmware loader", os: "<os><type>hvm</type><loader>/x.fd</loader><kernel>/k</kernel></os>", code: xmlconf.ErrConfigUnsupported, naming: "<os><kernel>"},
		{name: "cdrom", dev: "<disk type='file' device='cdrom'><source file='/x.iso'/><target dev='hdc' bus='ide'/></disk>", code: xmlconf.ErrConfigUnsupported, naming: "device='cdrom'"},
		{name: "sata disk", dev: "<disk type='file'><source file='/a'/><target dev='sda' bus='sata'/></disk>", code: xmlconf.ErrConfigUnsupported, naming: "bus 'sata'"},
		{name: "scsi disk", dev: "<disk type='file'><source file='/a'/><target dev='sda'/></disk>", code: xmlconf.ErrConfigUnsupported, naming: "bus 'scsi'"},
		{name: "usb disk", dev: "<disk type='file'><source file='/a'/><target dev='vda' bus='usb'/></disk>", code: xmlconf.ErrConfigUnsupported, naming: "bus 'usb'"},
		{name: "qcow2", dev: "<disk type='file'><driver name='qemu' type='qcow2'/><source file='/a'/><target dev='vda'/></disk>", code: xmlconf.ErrConfigUnsupported, naming: "qcow2"},
		{name: "network disk", dev: "<disk type='network'><source protocol='nbd' name='x'><host name='h'/></source><target dev='vda'/></disk>", code: xmlconf.ErrConfigUnsupported, naming: "type='network'"},
		{name: "disk without source", dev: "<disk type='file'><target dev='vda'/></disk>", code: xmlconf.ErrConfigUnsupported, naming: "without a source"},
		{name: "slot taken twice", dev: "<disk type='file'><source file='/a'/><target dev='vda'/><address type='pci' slot='3'/></disk><disk type='file'><source file='/b'/><target dev='vdb'/><address type='pci' slot='3'/></disk>", code: xmlconf.ErrInvalidArg, naming: "slot 3"},
		{name: "bus 1", dev: "<disk type='file'><source file='/a'/><target dev='vda'/><address type='pci' bus='1' slot='3'/></disk>", code: xmlconf.ErrConfigUnsupported, naming: "bus 0"},
		{name: "e1000", dev: "<interface type='network'><source network='default'/><model type='e1000'/></interface>", code: xmlconf.ErrConfigUnsupported, naming: "e1000"},
		{name: "user networking", dev: "<interface type='user'/>", code: xmlconf.ErrConfigUnsupported, naming: "type='user'"},
		{name: "vnc", dev: "<graphics type='vnc' port='-1'/>", code: xmlconf.ErrConfigUnsupported, naming: "<graphics type='vnc'>"},
		{name: "qxl video", dev: "<video><model type='qxl'/></video>", code: xmlconf.ErrConfigUnsupported, naming: "qxl"},
		{name: "sound", dev: "<sound model='ich9'/>", code: xmlconf.ErrConfigUnsupported, naming: "<sound model='ich9'>"},
		{name: "rng", dev: "<rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>", code: xmlconf.ErrConfigUnsupported, naming: "<rng"},
		{name: "usb controller", dev: "<controller type='usb' model='piix3-uhci'/>", code: xmlconf.ErrConfigUnsupported, naming: "type='usb'"},
		{name: "scsi controller", dev: "<controller type='scsi' model='virtio-scsi'/>", code: xmlconf.ErrConfigUnsupported, naming: "type='scsi'"},
		{name: "tablet", dev: "<input type='tablet' bus='usb'/>", code: xmlconf.ErrConfigUnsupported, naming: "tablet"},
		{name: "watchdog", dev: "<watchdog model='i6300esb'/>", code: xmlconf.ErrConfigUnsupported, naming: "<watchdog>"},
		{name: "hostdev", dev: "<hostdev mode='subsystem' type='pci'><source><address domain='0' bus='1' slot='0' function='0'/></source></hostdev>", code: xmlconf.ErrConfigUnsupported, naming: "<hostdev>"},
		{name: "channel", dev: "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>", code: xmlconf.ErrConfigUnsupported, naming: "<channel"},
		{name: "stdio serial", dev: "<serial type='stdio'/>", code: xmlconf.ErrConfigUnsupported, naming: "stdio"},
		{name: "tcp serial", dev: "<serial type='tcp'><source mode='bind' host='127.0.0.1' service='4555'/></serial>", code: xmlconf.ErrConfigUnsupported, naming: "type='tcp'"},
		{name: "two serials", dev: "<serial type='pty'/><serial type='pty'/>", code: xmlconf.ErrConfigUnsupported, naming: "COM1"},
		{name: "virtio console", dev: "<console type='pty'><target type='virtio'/></console>", code: xmlconf.ErrConfigUnsupported, naming: "type='virtio'"},
		{name: "xen balloon", dev: "<memballoon model='xen'/>", code: xmlconf.ErrConfigUnsupported, naming: "xen"},
		{name: "preserve on poweroff", top: "<on_poweroff>preserve</on_poweroff>", code: xmlconf.ErrConfigUnsupported, naming: "on_poweroff"},
		{name: "coredump on crash", top: "<on_crash>coredump-destroy</on_crash>", code: xmlconf.ErrConfigUnsupported, naming: "on_crash"},
		{name: "cpu shares", top: "<cputune><shares>2048</shares></cputune>", code: xmlconf.ErrConfigUnsupported, naming: "shares"},
		{name: "emulator pin", top: "<cputune><emulatorpin cpuset='0'/></cputune>", code: xmlconf.ErrConfigUnsupported, naming: "emulatorpin"},
		{name: "memory backing", top: "<memoryBacking><hugepages/></memoryBacking>", code: xmlconf.ErrConfigUnsupported, naming: "<memoryBacking>"},
		{name: "memory hotplug", top: "<maxMemory slots='4' unit='GiB'>4</maxMemory>", code: xmlconf.ErrConfigUnsupported, naming: "maxMemory"},
		{name: "named cpu model", top: "<cpu mode='custom'><model>Westmere</model></cpu>", code: xmlconf.ErrConfigUnsupported, naming: "Westmere"},
		{name: "unknown cpu feature", top: "<cpu mode='host-passthrough'><feature policy='require' name='warp-drive'/></cpu>", code: xmlconf.ErrConfigUnsupported, naming: "warp-drive"},
		{name: "two sockets", top: "<cpu mode='host-passthrough'><topology sockets='2' cores='1' threads='1'/></cpu>", code: xmlconf.ErrConfigUnsupported, naming: "topology"},
		{name: "local time", top: "<clock offset='localtime'/>", code: xmlconf.ErrConfigUnsupported, naming: "localtime"},
		{name: "hpet", top: "<clock offset='utc'><timer name='hpet' present='yes'/></clock>", code: xmlconf.ErrConfigUnsupported, naming: "hpet"},
		{name: "suspend enabled", top: "<pm><suspend-to-mem enabled='yes'/></pm>", code: xmlconf.ErrConfigUnsupported, naming: "suspend-to-mem"},
		{name: "hyperv features", top: "<features><hyperv><relaxed state='on'/></hyperv></features>", code: xmlconf.ErrConfigUnsupported, naming: "hyperv"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			def, err := xmlconf.ParseDomain([]byte(checkXML(tc.os, tc.top, tc.dev)))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			err = Check(def)
			if tc.code == xmlconf.ErrOK {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var xe *xmlconf.Error
			if !errors.As(err, &xe) || xe.Code != tc.code {
				t.Fatalf("error %v, want code %v", err, tc.code)
			}
			if !strings.Contains(xe.Message, tc.naming) {
				t.Fatalf("message %q does not name %q", xe.Message, tc.naming)
			}
		})
	}
}

// TestCheckIsThePlan: what Check accepts is what the VMM builds.
func TestCheckIsThePlan(t *testing.T) {
	def, err := xmlconf.ParseDomain([]byte(checkXML("", "<vcpu cpuset='1'>2</vcpu><cputune><vcpupin vcpu='0' cpuset='0'/></cputune>",
		"<disk type='file'><source file='/a'/><target dev='vda'/><driver cache='directsync'/></disk>")))
	if err != nil {
		// <vcpu> twice is invalid XML: build it in code instead.
		def, err = xmlconf.ParseDomain([]byte(checkXML("", "<cputune><vcpupin vcpu='0' cpuset='0'/></cputune>",
			"<disk type='file'><source file='/a'/><target dev='vda'/><driver cache='directsync'/></disk>")))
		if err != nil {
			t.Fatal(err)
		}
		def.VCPU.CPUSet = "1"
	}
	p, err := planDomain(def)
	if err != nil {
		t.Fatal(err)
	}
	if p.vcpus != 2 || p.memoryBytes != 128<<20 || p.kernel != "/boot/vmlinuz" || p.cmdline != "console=ttyS0" {
		t.Fatalf("plan %+v", p)
	}
	if len(p.cpuSets) != 2 || fmt.Sprint(p.cpuSets) != "[[0] [1]]" {
		t.Fatalf("cpu sets %v, want vcpu 0 pinned to 0 and vcpu 1 to the <vcpu cpuset>", p.cpuSets)
	}
	if len(p.disks) != 1 || !p.disks[0].sync || p.balloon == nil || p.serial != nil {
		t.Fatalf("devices: disks %+v balloon %+v serial %+v", p.disks, p.balloon, p.serial)
	}
}
