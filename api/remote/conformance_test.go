package remote_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/api/apitest"
	"github.com/govirt/govirt/api/daemon"
)

func openMode(t testing.TB, uri string, readOnly bool) *api.Conn {
	t.Helper()
	var c *api.Conn
	var err error
	if readOnly {
		c, err = api.OpenReadOnly(context.Background(), uri)
	} else {
		c, err = api.Open(context.Background(), uri)
	}
	if err != nil {
		t.Fatalf("open %s: %v", uri, err)
	}
	t.Cleanup(func() {
		if err := c.Close(context.Background()); err != nil {
			t.Errorf("close %s: %v", uri, err)
		}
	})
	return c
}

func domainXML(name string) string {
	return fmt.Sprintf(`<domain type='test'>
  <name>%s</name>
  <memory unit='MiB'>256</memory>
  <vcpu>2</vcpu>
  <os><type>hvm</type></os>
  <devices>
    <disk type='file' device='disk'>
      <source file='/guest/%s.img'/>
      <target dev='vda' bus='virtio'/>
    </disk>
  </devices>
</domain>`, name, name)
}

func networkXML(name string, i int) string {
	return fmt.Sprintf(`<network>
  <name>%s</name>
  <bridge name='rbr%d'/>
  <forward mode='nat'/>
  <ip address='10.%d.%d.1' netmask='255.255.255.0'>
    <dhcp><range start='10.%d.%d.2' end='10.%d.%d.254'/></dhcp>
  </ip>
</network>`, name, i, 150+i/256, i%256, 150+i/256, i%256, 150+i/256, i%256)
}

func poolXML(name, dir string) string {
	return fmt.Sprintf("<pool type='dir'><name>%s</name><target><path>%s</path></target></pool>", name, dir)
}

// TestConformance runs the API conformance suite over the remote driver:
// a daemon serving test:///default, and a second daemon serving a
// test:///PATH.xml host as the migration peer. The suite checks the same
// error codes as in process.
func TestConformance(t *testing.T) {
	peerXML, err := filepath.Abs(filepath.Join("testdata", "peer.xml"))
	if err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, daemon.Config{URI: "test:///default"})
	peer := startDaemon(t, daemon.Config{URI: "test://" + peerXML})
	targets := []apitest.Target{
		{
			Name:            "remote unix " + d.uri(),
			Open:            func(t *testing.T, ro bool) *api.Conn { return openMode(t, d.uri(), ro) },
			LiveVcpuHotplug: true,
		},
	}
	for _, target := range targets {
		target.DomainXML = domainXML
		target.NetworkXML = networkXML
		target.PoolXML = poolXML
		target.MigrationPeer = func(t *testing.T) *api.Conn { return openMode(t, peer.uri(), false) }
		t.Run(target.Name, func(t *testing.T) { apitest.Run(t, target) })
	}
}
