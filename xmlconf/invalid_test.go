package xmlconf

import (
	"errors"
	"strings"
	"testing"
)

// dom builds a minimal valid domain document with extra content spliced
// into <domain> (top) and <devices> (devs); memory and vcpu can be
// replaced.
func dom(top, devs string) string {
	return "<domain type='kvm'><name>t</name><uuid>5f1e2f70-8c8d-4c1f-9a4d-6b3e0f2d9c11</uuid>" +
		defaultIfEmpty(top, "<memory>1024</memory>") +
		"<os><type>hvm</type></os><devices>" + devs + "</devices></domain>"
}

func defaultIfEmpty(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func net(body string) string {
	return "<network><name>n</name>" + body + "</network>"
}

type invalidCase struct {
	name  string
	parse func([]byte) (document, error)
	doc   string
	code  ErrorNumber
	// want are substrings of the message: the element and the reason.
	want []string
	// cause, when set, must be in the error chain too.
	cause ErrorNumber
}

func TestInvalidDocuments(t *testing.T) {
	pd := wrap(ParseDomain)
	pn := wrap(ParseNetwork)
	pp := wrap(ParseStoragePool)
	pv := wrap(ParseStorageVolume)
	cases := []invalidCase{
		// Documents that are not documents.
		{"domain/empty", pd, "", ErrXMLError, []string{"XML error: ", "empty document"}, 0},
		{"domain/blank", pd, "  \n ", ErrXMLError, []string{"empty document"}, 0},
		{"domain/not well formed", pd, "<domain type='kvm'><name>x</name>", ErrXMLError, []string{"not well formed"}, 0},
		{"domain/mismatched tags", pd, "<domain><name>x</nom></domain>", ErrXMLError, []string{"not well formed"}, 0},
		{"domain/two roots", pd, dom("", "") + "<domain/>", ErrXMLError, []string{"more than one root"}, 0},
		{"domain/text after root", pd, dom("", "") + "junk", ErrXMLError, []string{"text outside the root"}, 0},
		{"domain/repeated attribute", pd, "<domain type='kvm' type='qemu'/>", ErrXMLError, []string{"attribute 'type' repeated", "<domain>"}, 0},
		{"domain/wrong root", pd, "<network><name>x</name></network>", ErrXMLError, []string{"unexpected root element <network>", "expecting <domain>"}, 0},
		{"network/wrong root", pn, dom("", ""), ErrXMLError, []string{"unexpected root element <domain>", "expecting <network>"}, 0},
		{"domain/too deep", pd, strings.Repeat("<a>", 200) + strings.Repeat("</a>", 200), ErrXMLError, []string{"not well formed"}, 0},

		// Domain values.
		{"domain/missing type", pd, "<domain><name>t</name><memory>1</memory></domain>", ErrXMLError, []string{"missing type attribute of <domain>"}, 0},
		{"domain/unknown type", pd, strings.Replace(dom("", ""), "kvm", "vmkernel", 1), ErrXMLError, []string{"'vmkernel'", "<domain>"}, 0},
		{"domain/bad uuid", pd, strings.Replace(dom("", ""), "5f1e2f70-8c8d-4c1f-9a4d-6b3e0f2d9c11", "abc", 1), ErrXMLError, []string{"invalid value 'abc' for <uuid>"}, 0},
		{"domain/zero uuid", pd, strings.Replace(dom("", ""), "5f1e2f70-8c8d-4c1f-9a4d-6b3e0f2d9c11", "00000000-0000-0000-0000-000000000000", 1), ErrXMLError, []string{"<uuid>", "all-zero"}, 0},
		{"domain/empty name", pd, strings.Replace(dom("", ""), "<name>t</name>", "<name></name>", 1), ErrXMLError, []string{"missing <name>"}, 0},
		{"domain/name with slash", pd, strings.Replace(dom("", ""), "<name>t</name>", "<name>a/b</name>", 1), ErrXMLError, []string{"'a/b' for <name>", "'/'"}, 0},
		{"domain/name dotdot", pd, strings.Replace(dom("", ""), "<name>t</name>", "<name>..</name>", 1), ErrXMLError, []string{"<name>", "'..'"}, 0},
		{"domain/name twice", pd, strings.Replace(dom("", ""), "<name>t</name>", "<name>t</name><name>u</name>", 1), ErrXMLError, []string{"<name> given more than once in <domain>"}, 0},
		{"domain/no memory", pd, "<domain type='kvm'><name>t</name></domain>", ErrXMLError, []string{"<memory>", "greater than zero"}, 0},
		{"domain/zero memory", pd, dom("<memory>0</memory>", ""), ErrXMLError, []string{"<memory>", "greater than zero"}, 0},
		{"domain/bad memory", pd, dom("<memory>lots</memory>", ""), ErrXMLError, []string{"invalid value 'lots' for <memory>", "not an unsigned integer"}, ErrInvalidArg},
		{"domain/negative memory", pd, dom("<memory>-5</memory>", ""), ErrXMLError, []string{"invalid value '-5' for <memory>"}, 0},
		{"domain/unknown unit", pd, dom("<memory unit='parsecs'>1</memory>", ""), ErrXMLError, []string{"<memory>", "unknown suffix 'parsecs'"}, ErrInvalidArg},
		{"domain/overflow", pd, dom("<memory unit='EiB'>100</memory>", ""), ErrXMLError, []string{"<memory>", "does not fit in 64 bits"}, ErrOverflow},
		{"domain/over llong", pd, dom("<memory unit='EiB'>8</memory>", ""), ErrXMLError, []string{"<memory>", "larger than"}, ErrOverflow},
		{"domain/current above memory", pd, dom("<memory>1024</memory><currentMemory>2048</currentMemory>", ""), ErrXMLError, []string{"<currentMemory>", "exceeds <memory>"}, 0},
		{"domain/maxMemory without slots", pd, dom("<maxMemory unit='GiB'>4</maxMemory><memory>1024</memory>", ""), ErrXMLError, []string{"<maxMemory>", "slots"}, 0},
		{"domain/maxMemory below memory", pd, dom("<maxMemory slots='2'>512</maxMemory><memory>1024</memory>", ""), ErrXMLError, []string{"<maxMemory>", "at least <memory>"}, 0},
		{"domain/vcpu zero", pd, dom("<memory>1024</memory><vcpu>0</vcpu>", ""), ErrXMLError, []string{"'0' for <vcpu>", "1..4096"}, 0},
		{"domain/vcpu too many", pd, dom("<memory>1024</memory><vcpu>4097</vcpu>", ""), ErrXMLError, []string{"'4097' for <vcpu>"}, 0},
		{"domain/vcpu not a number", pd, dom("<memory>1024</memory><vcpu>two</vcpu>", ""), ErrXMLError, []string{"'two' for <vcpu>"}, 0},
		{"domain/vcpu current above count", pd, dom("<memory>1024</memory><vcpu current='3'>2</vcpu>", ""), ErrXMLError, []string{"attribute 'current' of <vcpu>"}, 0},
		{"domain/bad cpuset", pd, dom("<memory>1024</memory><vcpu cpuset='0-x'>2</vcpu>", ""), ErrXMLError, []string{"'0-x' for attribute 'cpuset' of <vcpu>"}, ErrInvalidArg},
		{"domain/empty cpuset", pd, dom("<memory>1024</memory><vcpu cpuset='0,^0'>2</vcpu>", ""), ErrXMLError, []string{"attribute 'cpuset' of <vcpu>", "selects no CPU"}, 0},
		{"domain/decreasing cpuset", pd, dom("<memory>1024</memory><vcpu cpuset='3-1'>2</vcpu>", ""), ErrXMLError, []string{"cpuset", "decreasing"}, 0},
		{"domain/cpuset out of range", pd, dom("<memory>1024</memory><vcpu cpuset='99999'>2</vcpu>", ""), ErrXMLError, []string{"cpuset", "out of range"}, 0},
		{"domain/vcpupin beyond count", pd, dom("<memory>1024</memory><vcpu>2</vcpu><cputune><vcpupin vcpu='2' cpuset='0'/></cputune>", ""), ErrXMLError, []string{"<vcpupin>", "below the vcpu count"}, 0},
		{"domain/vcpupin duplicate", pd, dom("<memory>1024</memory><vcpu>2</vcpu><cputune><vcpupin vcpu='1' cpuset='0'/><vcpupin vcpu='1' cpuset='1'/></cputune>", ""), ErrXMLError, []string{"<vcpupin>", "duplicate"}, 0},
		{"domain/cputune period", pd, dom("<memory>1024</memory><cputune><period>10</period></cputune>", ""), ErrXMLError, []string{"<cputune>", "period"}, 0},
		{"domain/topology mismatch", pd, dom("<memory>1024</memory><vcpu>2</vcpu><cpu><topology sockets='1' cores='4' threads='1'/></cpu>", ""), ErrXMLError, []string{"<topology>", "<vcpu> is 2"}, 0},
		{"domain/topology zero", pd, dom("<memory>1024</memory><cpu><topology sockets='0' cores='1' threads='1'/></cpu>", ""), ErrXMLError, []string{"attribute 'sockets' of <topology>"}, 0},
		{"domain/on_crash", pd, dom("<memory>1024</memory><on_crash>explode</on_crash>", ""), ErrXMLError, []string{"'explode' for <on_crash>"}, 0},
		{"domain/on_poweroff coredump", pd, dom("<memory>1024</memory><on_poweroff>coredump-destroy</on_poweroff>", ""), ErrXMLError, []string{"<on_poweroff>"}, 0},
		{"domain/clock offset", pd, dom("<memory>1024</memory><clock offset='mars'/>", ""), ErrXMLError, []string{"'mars' for attribute 'offset' of <clock>"}, 0},
		{"domain/relative kernel", pd, strings.Replace(dom("", ""), "<os><type>hvm</type>", "<os><type>hvm</type><kernel>vmlinuz</kernel>", 1), ErrXMLError, []string{"'vmlinuz' for <kernel>", "absolute"}, 0},
		{"domain/boot dev", pd, strings.Replace(dom("", ""), "<os><type>hvm</type>", "<os><type>hvm</type><boot dev='tape'/>", 1), ErrXMLError, []string{"'tape' for attribute 'dev' of <boot>"}, 0},
		{"domain/os boot with device boot", pd, strings.Replace(dom("", "<disk><source file='/a'/><target dev='vda'/><boot order='1'/></disk>"), "<os><type>hvm</type>", "<os><type>hvm</type><boot dev='hd'/>", 1), ErrXMLError, []string{"per-device <boot>"}, 0},

		// Devices.
		{"disk/no target", pd, dom("", "<disk type='file'><source file='/a'/></disk>"), ErrXMLError, []string{"missing dev attribute of <target> in <disk>"}, 0},
		{"disk/duplicate target", pd, dom("", "<disk><source file='/a'/><target dev='vda'/></disk><disk><source file='/b'/><target dev='vda'/></disk>"), ErrXMLError, []string{"'vda' for attribute 'dev' of <target>", "duplicate"}, 0},
		{"disk/relative path", pd, dom("", "<disk><source file='a.img'/><target dev='vda'/></disk>"), ErrXMLError, []string{"attribute 'file' of <source>", "absolute"}, 0},
		{"disk/bad type", pd, dom("", "<disk type='floppy'><target dev='vda'/></disk>"), ErrXMLError, []string{"attribute 'type' of <disk>"}, 0},
		{"disk/bad device", pd, dom("", "<disk device='tape'><target dev='vda'/></disk>"), ErrXMLError, []string{"attribute 'device' of <disk>"}, 0},
		{"disk/two sources", pd, dom("", "<disk><source file='/a'/><source file='/b'/><target dev='vda'/></disk>"), ErrXMLError, []string{"<source> given more than once in <disk>"}, 0},
		{"disk/volume without pool", pd, dom("", "<disk type='volume'><source volume='v'/><target dev='vda'/></disk>"), ErrXMLError, []string{"type='volume'", "pool and volume"}, 0},
		{"disk/network without protocol", pd, dom("", "<disk type='network'><source name='x'/><target dev='vda'/></disk>"), ErrXMLError, []string{"missing protocol attribute of <source>"}, 0},
		{"disk/cache", pd, dom("", "<disk><driver cache='sometimes'/><target dev='vda'/></disk>"), ErrXMLError, []string{"attribute 'cache' of <driver>"}, 0},
		{"disk/boot order zero", pd, dom("", "<disk><target dev='vda'/><boot order='0'/></disk>"), ErrXMLError, []string{"attribute 'order' of <boot>"}, 0},
		{"disk/address", pd, dom("", "<disk><target dev='vda'/><address type='pci' slot='0xzz'/></disk>"), ErrXMLError, []string{"'0xzz' for attribute 'slot' of <address>"}, 0},
		{"interface/bad mac", pd, dom("", "<interface type='user'><mac address='52:54:00:zz:00:01'/></interface>"), ErrXMLError, []string{"'52:54:00:zz:00:01' for attribute 'address' of <mac>", "unable to parse"}, ErrInvalidArg},
		{"interface/multicast mac", pd, dom("", "<interface type='user'><mac address='01:00:5e:00:00:01'/></interface>"), ErrXMLError, []string{"<mac>", "multicast"}, 0},
		{"interface/zero mac", pd, dom("", "<interface type='user'><mac address='00:00:00:00:00:00'/></interface>"), ErrXMLError, []string{"<mac>", "all-zero"}, 0},
		{"interface/duplicate mac", pd, dom("", "<interface type='user'><mac address='52:54:00:00:00:01'/></interface><interface type='user'><mac address='52:54:00:00:00:01'/></interface>"), ErrXMLError, []string{"'52:54:00:00:00:01' for attribute 'address' of <mac>", "duplicate MAC"}, 0},
		{"interface/duplicate mac any case", pd, dom("", "<interface type='user'><mac address='52:54:00:00:00:AB'/></interface><interface type='user'><mac address='52:54:00:00:00:ab'/></interface>"), ErrXMLError, []string{"<mac>", "duplicate MAC"}, 0},
		{"interface/no type", pd, dom("", "<interface/>"), ErrXMLError, []string{"missing type attribute of <interface>"}, 0},
		{"interface/network without source", pd, dom("", "<interface type='network'/>"), ErrXMLError, []string{"missing network attribute of <source>"}, 0},
		{"interface/target too long", pd, dom("", "<interface type='ethernet'><target dev='averyveryverylongtap'/></interface>"), ErrXMLError, []string{"attribute 'dev' of <target>", "interface name"}, 0},
		{"interface/boot order shared", pd, dom("", "<disk><target dev='vda'/><boot order='1'/></disk><interface type='user'><boot order='1'/></interface>"), ErrXMLError, []string{"attribute 'order' of <boot>", "more than one device"}, 0},
		{"serial/file without path", pd, dom("", "<serial type='file'/>"), ErrXMLError, []string{"missing path attribute of <source> in <serial type='file'>"}, 0},
		{"serial/bad type", pd, dom("", "<serial type='carrier-pigeon'/>"), ErrXMLError, []string{"attribute 'type' of <serial>"}, 0},
		{"channel/no target type", pd, dom("", "<channel type='pty'/>"), ErrXMLError, []string{"<target> in <channel>"}, 0},
		{"graphics/port", pd, dom("", "<graphics type='vnc' port='70000'/>"), ErrXMLError, []string{"attribute 'port' of <graphics>"}, 0},
		{"memballoon/twice", pd, dom("", "<memballoon model='virtio'/><memballoon model='none'/>"), ErrXMLError, []string{"<memballoon> given more than once"}, 0},
		{"rng/no backend", pd, dom("", "<rng model='virtio'/>"), ErrXMLError, []string{"<backend> in <rng>"}, 0},
		{"controller/type", pd, dom("", "<controller type='floppy-disk'/>"), ErrXMLError, []string{"attribute 'type' of <controller>"}, 0},

		// Networks.
		{"network/empty name", pn, "<network><name/></network>", ErrXMLError, []string{"missing <name> in <network>"}, 0},
		{"network/name with slash", pn, "<network><name>a/b</name></network>", ErrXMLError, []string{"<name>", "'/'"}, 0},
		{"network/bad forward", pn, net("<forward mode='tunnel'/>"), ErrXMLError, []string{"'tunnel' for attribute 'mode' of <forward>"}, 0},
		{"network/bridge name too long", pn, net("<bridge name='virbr-much-too-long'/>"), ErrXMLError, []string{"'virbr-much-too-long' for attribute 'name' of <bridge>", "15 bytes"}, 0},
		{"network/bridge name slash", pn, net("<bridge name='br/0'/>"), ErrXMLError, []string{"attribute 'name' of <bridge>"}, 0},
		{"network/stp", pn, net("<bridge name='br0' stp='maybe'/>"), ErrXMLError, []string{"attribute 'stp' of <bridge>"}, 0},
		{"network/bad mac", pn, net("<mac address='ff:ff:ff:ff:ff:ff'/>"), ErrXMLError, []string{"<mac>", "multicast"}, 0},
		{"network/bad address", pn, net("<ip address='192.168.300.1' prefix='24'/>"), ErrXMLError, []string{"'192.168.300.1' for attribute 'address' of <ip>"}, 0},
		{"network/netmask and prefix", pn, net("<ip address='10.0.0.1' netmask='255.0.0.0' prefix='8'/>"), ErrXMLError, []string{"<ip address='10.0.0.1'>", "only one"}, 0},
		{"network/bad netmask", pn, net("<ip address='10.0.0.1' netmask='255.0.255.0'/>"), ErrXMLError, []string{"<ip netmask>", "contiguous"}, 0},
		{"network/ipv6 without family", pn, net("<ip address='2001:db8::1' prefix='64'/>"), ErrXMLError, []string{"attribute 'address' of <ip>", "family"}, 0},
		{"network/ipv4 with ipv6 family", pn, net("<ip family='ipv6' address='10.0.0.1' prefix='8'/>"), ErrXMLError, []string{"attribute 'address' of <ip>", "family"}, 0},
		{"network/range outside subnet", pn, net("<ip address='192.168.1.1' prefix='24'><dhcp><range start='192.168.2.10' end='192.168.2.20'/></dhcp></ip>"), ErrXMLError, []string{"'192.168.2.10' for attribute 'start' of <range>", "outside the network 192.168.1.0/24"}, 0},
		{"network/range end outside", pn, net("<ip address='192.168.1.1' prefix='24'><dhcp><range start='192.168.1.10' end='192.168.2.20'/></dhcp></ip>"), ErrXMLError, []string{"attribute 'end' of <range>", "outside"}, 0},
		{"network/range reversed", pn, net("<ip address='192.168.1.1' prefix='24'><dhcp><range start='192.168.1.20' end='192.168.1.10'/></dhcp></ip>"), ErrXMLError, []string{"<range>", "after end"}, 0},
		{"network/host outside", pn, net("<ip address='192.168.1.1' prefix='24'><dhcp><host mac='52:54:00:00:00:01' ip='10.0.0.1'/></dhcp></ip>"), ErrXMLError, []string{"'10.0.0.1' for attribute 'ip' of <host>", "outside"}, 0},
		{"network/host duplicate mac", pn, net("<ip address='192.168.1.1' prefix='24'><dhcp><host mac='52:54:00:00:00:01' ip='192.168.1.5'/><host mac='52:54:00:00:00:01' ip='192.168.1.6'/></dhcp></ip>"), ErrXMLError, []string{"attribute 'mac' of <host>", "duplicate MAC"}, 0},
		{"network/host duplicate ip", pn, net("<ip address='192.168.1.1' prefix='24'><dhcp><host mac='52:54:00:00:00:01' ip='192.168.1.5'/><host mac='52:54:00:00:00:02' ip='192.168.1.5'/></dhcp></ip>"), ErrXMLError, []string{"attribute 'ip' of <host>", "duplicate"}, 0},
		{"network/host without mac or name", pn, net("<ip address='192.168.1.1' prefix='24'><dhcp><host ip='192.168.1.5'/></dhcp></ip>"), ErrXMLError, []string{"<host ip='192.168.1.5'>", "mac or a name"}, 0},
		{"network/two ipv4 dhcp", pn, net("<ip address='192.168.1.1' prefix='24'><dhcp/></ip><ip address='192.168.2.1' prefix='24'><dhcp/></ip>"), ErrXMLError, []string{"multiple IPv4 <dhcp>"}, 0},
		{"network/nat with route", pn, net("<forward mode='route'><nat/></forward>"), ErrXMLError, []string{"<nat>", "mode='nat'"}, 0},
		{"network/nat port range", pn, net("<forward mode='nat'><nat><port start='2000' end='1000'/></nat></forward>"), ErrXMLError, []string{"<port>", "after end"}, 0},
		{"network/bridge mode without bridge", pn, net("<forward mode='bridge'/>"), ErrXMLError, []string{"<forward mode='bridge'>"}, 0},
		{"network/dns host without hostname", pn, net("<dns><host ip='10.0.0.5'/></dns>"), ErrXMLError, []string{"<host ip='10.0.0.5'> in <dns>", "<hostname>"}, 0},

		// Storage.
		{"pool/missing type", pp, "<pool><name>p</name></pool>", ErrXMLError, []string{"missing type attribute of <pool>"}, 0},
		{"pool/unknown type", pp, "<pool type='tape'><name>p</name></pool>", ErrXMLError, []string{"'tape' for attribute 'type' of <pool>"}, 0},
		{"pool/name with slash", pp, "<pool type='dir'><name>a/b</name><target><path>/x</path></target></pool>", ErrXMLError, []string{"<name>", "'/'"}, 0},
		{"pool/dir without target", pp, "<pool type='dir'><name>p</name></pool>", ErrXMLError, []string{"target <path>", "dir pool"}, 0},
		{"pool/relative target", pp, "<pool type='dir'><name>p</name><target><path>images</path></target></pool>", ErrXMLError, []string{"'images' for <path>", "absolute"}, 0},
		{"pool/fs without device", pp, "<pool type='fs'><name>p</name><target><path>/x</path></target></pool>", ErrXMLError, []string{"source <device path>", "fs pool"}, 0},
		{"pool/netfs without host", pp, "<pool type='netfs'><name>p</name><source><dir path='/e'/></source><target><path>/x</path></target></pool>", ErrXMLError, []string{"source <host name>"}, 0},
		{"pool/fs bad format", pp, "<pool type='fs'><name>p</name><source><device path='/dev/sdb'/><format type='nfs'/></source><target><path>/x</path></target></pool>", ErrXMLError, []string{"'nfs' for attribute 'type' of <format>"}, 0},
		{"pool/bad mode", pp, "<pool type='dir'><name>p</name><target><path>/x</path><permissions><mode>0999</mode></permissions></target></pool>", ErrXMLError, []string{"'0999' for <mode>"}, 0},
		{"pool/bad owner", pp, "<pool type='dir'><name>p</name><target><path>/x</path><permissions><owner>root</owner></permissions></target></pool>", ErrXMLError, []string{"'root' for <owner>"}, 0},
		{"pool/bad capacity unit", pp, "<pool type='dir'><name>p</name><capacity unit='XB'>1</capacity><target><path>/x</path></target></pool>", ErrXMLError, []string{"<capacity>", "unknown suffix 'XB'"}, 0},
		{"volume/no capacity", pv, "<volume><name>v</name></volume>", ErrXMLError, []string{"missing <capacity> in <volume>"}, 0},
		{"volume/name dotdot", pv, "<volume><name>..</name><capacity>1</capacity></volume>", ErrXMLError, []string{"<name>", "'..'"}, 0},
		{"volume/name dot", pv, "<volume><name>.</name><capacity>1</capacity></volume>", ErrXMLError, []string{"<name>", "'.'"}, 0},
		{"volume/name slash", pv, "<volume><name>a/b</name><capacity>1</capacity></volume>", ErrXMLError, []string{"'a/b' for <name>"}, 0},
		{"volume/capacity overflow", pv, "<volume><name>v</name><capacity unit='EB'>20</capacity></volume>", ErrXMLError, []string{"<capacity>"}, ErrOverflow},
		{"volume/bad allocation", pv, "<volume><name>v</name><capacity>1</capacity><allocation unit='G'>1.5</allocation></volume>", ErrXMLError, []string{"'1.5 G' for <allocation>"}, 0},
		{"volume/bad type", pv, "<volume type='tape'><name>v</name><capacity>1</capacity></volume>", ErrXMLError, []string{"attribute 'type' of <volume>"}, 0},

		// Node, device, capabilities.
		{"node/file reference", wrap(ParseNode), "<node><domain file='d.xml'/></node>", ErrXMLError, []string{"<domain file='d.xml'>", "LoadNode"}, 0},
		{"node/duplicate domain", wrap(ParseNode), "<node>" + dom("", "") + strings.Replace(dom("", ""), "5f1e2f70", "6f1e2f70", 1) + "</node>", ErrXMLError, []string{"domain name 't' is used twice"}, 0},
		{"node/bad cpu", wrap(ParseNode), "<node><cpu><cores>0</cores></cpu></node>", ErrXMLError, []string{"'0' for <cores>"}, 0},
		{"device/empty", wrap(ParseDevice), "", ErrXMLError, []string{"empty document"}, 0},
		{"device/bad disk", wrap(ParseDevice), "<disk type='file'><source file='/a'/></disk>", ErrXMLError, []string{"missing dev attribute of <target> in <disk>"}, 0},
		{"caps/no arch", wrap(ParseCapabilities), "<capabilities><host><cpu/></host></capabilities>", ErrXMLError, []string{"missing <arch>"}, 0},
		{"sources/stray element", wrap(ParsePoolSourceList), "<sources><pool/></sources>", ErrXMLError, []string{"unexpected element <pool> in <sources>"}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			x, err := tc.parse([]byte(tc.doc))
			if err == nil {
				out, _ := x.Marshal()
				t.Fatalf("accepted:\n%s", out)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not *xmlconf.Error: %v", err, err)
			}
			if e.Code != tc.code {
				t.Errorf("code %v, want %v (%s)", e.Code, tc.code, e.Message)
			}
			for _, w := range tc.want {
				if !strings.Contains(e.Message, w) {
					t.Errorf("message %q does not contain %q", e.Message, w)
				}
			}
			if tc.cause != 0 && !errors.Is(err, tc.cause) {
				t.Errorf("error %q does not wrap %v", e.Message, tc.cause)
			}
		})
	}
}
