package remote_test

import (
	"errors"
	"testing"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket/dialers"

	"github.com/govirt/govirt/api/daemon"
)

// TestGoLibvirtClient drives the daemon with digitalocean/go-libvirt, the
// pure-Go client fleet managers use: it has its own XDR code and sends
// optional-data flags and AUTH_LIST its own way.
func TestGoLibvirtClient(t *testing.T) {
	d := startDaemon(t, daemon.Config{})
	l := golibvirt.NewWithDialer(dialers.NewLocal(dialers.WithSocket(d.sock), dialers.WithLocalTimeout(5*time.Second)))
	if err := l.ConnectToURI(golibvirt.QEMUSystem); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Disconnect(); err != nil {
			t.Errorf("disconnect: %v", err)
		}
	})

	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"list domains", func(t *testing.T) {
			doms, n, err := l.ConnectListAllDomains(1, golibvirt.ConnectListDomainsActive|golibvirt.ConnectListDomainsInactive)
			if err != nil {
				t.Fatal(err)
			}
			if n != 1 || len(doms) != 1 || doms[0].Name != "test" || doms[0].ID != 1 {
				t.Fatalf("domains %+v (ret %d), want test with id 1", doms, n)
			}
		}},
		{"node info", func(t *testing.T) {
			model, mem, cpus, mhz, _, _, _, _, err := l.NodeGetInfo()
			if err != nil {
				t.Fatal(err)
			}
			var m []byte
			for _, c := range model {
				if c == 0 {
					break
				}
				m = append(m, byte(c))
			}
			if string(m) != "i686" || mem != 3145728 || cpus != 16 || mhz != 1400 {
				t.Fatalf("node info %q %d %d %d", m, mem, cpus, mhz)
			}
		}},
		{"lookup a missing domain", func(t *testing.T) {
			_, err := l.DomainLookupByName("nosuch")
			if !golibvirt.IsNotFound(err) {
				t.Fatalf("lookup = %v, want NO_DOMAIN", err)
			}
		}},
		{"define and start", func(t *testing.T) {
			dom, err := l.DomainDefineXML(domainXML("golibvirt"))
			if err != nil {
				t.Fatal(err)
			}
			if dom.Name != "golibvirt" || dom.ID != -1 {
				t.Fatalf("defined %+v", dom)
			}
			if err := l.DomainCreate(dom); err != nil {
				t.Fatal(err)
			}
			state, _, err := l.DomainGetState(dom, 0)
			if err != nil || golibvirt.DomainState(state) != golibvirt.DomainRunning {
				t.Fatalf("state %d, %v; want running", state, err)
			}
			running, err := l.DomainLookupByName("golibvirt")
			if err != nil || running.ID < 2 {
				t.Fatalf("lookup of the started domain: %+v, %v", running, err)
			}
			st, maxMem, _, nvcpu, _, err := l.DomainGetInfo(running)
			if err != nil || st != uint8(golibvirt.DomainRunning) || maxMem != 256*1024 || nvcpu != 2 {
				t.Fatalf("info %d %d %d, %v", st, maxMem, nvcpu, err)
			}
			if err := l.DomainDestroy(running); err != nil {
				t.Fatal(err)
			}
			if err := l.DomainUndefine(running); err != nil {
				t.Fatal(err)
			}
		}},
		{"unsupported procedure", func(t *testing.T) {
			// go-libvirt recognises libvirt's "unknown procedure"
			// reply and turns it into its ErrUnsupported.
			_, err := l.ConnectGetSysinfo(0)
			if !errors.Is(err, golibvirt.ErrUnsupported) {
				t.Fatalf("err = %#v, want go-libvirt's ErrUnsupported", err)
			}
		}},
	}
	for _, s := range steps {
		if !t.Run(s.name, s.run) {
			break
		}
	}
}
