package apitest

import (
	"fmt"
	"testing"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/xmlconf"
)

// domainXML returns the parsed live (or, with inactive, persistent)
// definition of d.
func (s *suite) domainXML(t testing.TB, d *api.Domain, inactive bool) *xmlconf.Domain {
	t.Helper()
	var flags api.DomainXMLFlags
	if inactive {
		flags = api.DomainXMLInactive
	}
	x, err := d.GetXMLDesc(s.ctx, flags)
	must(t, err, "GetXMLDesc")
	def, err := xmlconf.ParseDomain([]byte(x))
	if err != nil {
		t.Fatalf("GetXMLDesc output does not parse: %v\n%s", err, x)
	}
	return def
}

func interfaceXML(network, mac string) string {
	return fmt.Sprintf("<interface type='network'><mac address='%s'/><source network='%s'/><model type='virtio'/></interface>", mac, network)
}

func (s *suite) testDevices(t *testing.T) {
	// One active network for the interface tests.
	nw, _ := s.network(t, "devnet", nil)
	must(t, nw.Create(s.ctx), "start network "+nw.Name())

	t.Run("attach-detach-disk-inactive", func(t *testing.T) {
		path, _ := dataDisk(t, 4096)
		d, def := s.defineDomain(t, "attachdisk", nil)
		target := freeTarget(def)
		must(t, d.AttachDevice(s.ctx, diskXML(path, target)), "AttachDevice to an inactive domain")
		if s.domainXML(t, d, true).FindDisk(target) == nil {
			t.Fatalf("disk %s is not in the configuration after AttachDevice", target)
		}
		wantErr(t, d.AttachDevice(s.ctx, diskXML(path, target)), api.ErrOperationFailed)
		must(t, d.DetachDevice(s.ctx, diskXML(path, target)), "DetachDevice")
		if s.domainXML(t, d, true).FindDisk(target) != nil {
			t.Fatalf("disk %s is still in the configuration after DetachDevice", target)
		}
		wantFailure(t, d.DetachDevice(s.ctx, diskXML(path, target)))
		wantErr(t, d.AttachDevice(s.ctx, "<disk"), api.ErrXMLError)
	})
	t.Run("attach-detach-disk-running", func(t *testing.T) {
		path, _ := dataDisk(t, 4096)
		d, def := s.runningDomain(t, "hotplugdisk", nil)
		target := freeTarget(def)
		must(t, d.AttachDevice(s.ctx, diskXML(path, target)), "AttachDevice to a running domain")
		if s.domainXML(t, d, false).FindDisk(target) == nil {
			t.Fatalf("disk %s is not in the live definition after AttachDevice", target)
		}
		if s.domainXML(t, d, true).FindDisk(target) != nil {
			t.Fatalf("AttachDevice to a running domain changed its configuration too")
		}
		_, err := d.BlockStats(s.ctx, target)
		must(t, err, "BlockStats of the hot-plugged disk")
		must(t, d.DetachDevice(s.ctx, diskXML(path, target)), "DetachDevice from a running domain")
		s.eventually(t, "disk unplugged", func() (bool, error) {
			return s.domainXML(t, d, false).FindDisk(target) == nil, nil
		})
	})
	t.Run("attach-detach-interface-inactive", func(t *testing.T) {
		d, _ := s.defineDomain(t, "attachnic", nil)
		mac := "52:54:00:5e:00:01"
		must(t, d.AttachDevice(s.ctx, interfaceXML(nw.Name(), mac)), "AttachDevice(interface)")
		if s.domainXML(t, d, true).FindInterface(mac) == nil {
			t.Fatalf("interface %s is not in the configuration after AttachDevice", mac)
		}
		wantErr(t, d.AttachDevice(s.ctx, interfaceXML(nw.Name(), mac)), api.ErrOperationFailed)
		must(t, d.DetachDevice(s.ctx, interfaceXML(nw.Name(), mac)), "DetachDevice(interface)")
		if s.domainXML(t, d, true).FindInterface(mac) != nil {
			t.Fatalf("interface %s is still there after DetachDevice", mac)
		}
		wantFailure(t, d.DetachDevice(s.ctx, interfaceXML(nw.Name(), mac)))
	})
	t.Run("interface-hotplug-and-stats", func(t *testing.T) {
		d, _ := s.runningDomain(t, "nicstats", nil)
		mac := "52:54:00:5e:00:02"
		must(t, d.AttachDevice(s.ctx, interfaceXML(nw.Name(), mac)), "AttachDevice(interface) to a running domain")
		nic := s.domainXML(t, d, false).FindInterface(mac)
		if nic == nil {
			t.Fatalf("interface %s is not in the live definition", mac)
		}
		if nic.Target == "" {
			t.Fatalf("live interface %s has no target device", mac)
		}
		first, err := d.InterfaceStats(s.ctx, nic.Target)
		must(t, err, "InterfaceStats")
		second, err := d.InterfaceStats(s.ctx, nic.Target)
		must(t, err, "InterfaceStats")
		if first.RxBytes < -1 || second.RxBytes < first.RxBytes || second.TxBytes < first.TxBytes {
			t.Fatalf("interface counters went from %+v to %+v", first, second)
		}
		_, err = d.InterfaceStats(s.ctx, "nosuchif0")
		wantErr(t, err, api.ErrInvalidArg)
		must(t, d.DetachDevice(s.ctx, interfaceXML(nw.Name(), mac)), "DetachDevice(interface) from a running domain")
		s.eventually(t, "interface unplugged", func() (bool, error) {
			return s.domainXML(t, d, false).FindInterface(mac) == nil, nil
		})
		must(t, d.Destroy(s.ctx), "Destroy")
		_, err = d.InterfaceStats(s.ctx, nic.Target)
		wantErr(t, err, api.ErrOperationInvalid)
	})
}
