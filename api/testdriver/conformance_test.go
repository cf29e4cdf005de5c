package testdriver_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/api/apitest"
	_ "github.com/govirt/govirt/api/testdriver"
)

// nodeURI is the test:///PATH.xml URI of the node document in testdata.
func nodeURI(t testing.TB, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return "test://" + p
}

func open(t testing.TB, uri string, readOnly bool) *api.Conn {
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
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func testDomainXML(name string) string {
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

func testNetworkXML(name string, i int) string {
	return fmt.Sprintf(`<network>
  <name>%s</name>
  <bridge name='tbr%d'/>
  <forward mode='nat'/>
  <ip address='10.%d.%d.1' netmask='255.255.255.0'>
    <dhcp><range start='10.%d.%d.2' end='10.%d.%d.254'/></dhcp>
  </ip>
</network>`, name, i, 100+i/256, i%256, 100+i/256, i%256, 100+i/256, i%256)
}

func testPoolXML(name, dir string) string {
	return fmt.Sprintf("<pool type='dir'><name>%s</name><target><path>%s</path></target></pool>", name, dir)
}

func TestConformance(t *testing.T) {
	node := nodeURI(t, "node.xml")
	targets := []apitest.Target{
		{
			Name:            "test:///default",
			LiveVcpuHotplug: true,
			Open:            func(t *testing.T, ro bool) *api.Conn { return open(t, "test:///default", ro) },
			MigrationPeer:   func(t *testing.T) *api.Conn { return open(t, node, false) },
		},
		{
			Name:            node,
			LiveVcpuHotplug: true,
			Open:            func(t *testing.T, ro bool) *api.Conn { return open(t, node, ro) },
			MigrationPeer:   func(t *testing.T) *api.Conn { return open(t, node, false) },
		},
	}
	for _, target := range targets {
		target.DomainXML = testDomainXML
		target.NetworkXML = testNetworkXML
		target.PoolXML = testPoolXML
		t.Run(target.Name, func(t *testing.T) { apitest.Run(t, target) })
	}
}
