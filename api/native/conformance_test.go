package native

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/api/apitest"
)

func TestConformance(t *testing.T) {
	img := requireKVM(t)
	uri := embedURI(t)
	apitest.Run(t, apitest.Target{
		Name: "kvm:///embed",
		Open: func(t *testing.T, ro bool) *api.Conn {
			c := open(t, uri, ro)
			t.Cleanup(func() { c.Close(context.Background()) })
			return c
		},
		DomainXML: func(name string) string { return guestXML(img, name) },
		NetworkXML: func(name string, i int) string {
			return fmt.Sprintf(`<network><name>%s</name><bridge name='gvc%d'/><forward mode='nat'/>
<ip address='10.%d.%d.1' netmask='255.255.255.0'><dhcp><range start='10.%d.%d.2' end='10.%d.%d.254'/></dhcp></ip></network>`,
				name, i, 200+i/256, i%256, 200+i/256, i%256, 200+i/256, i%256)
		},
		PoolXML: func(name, dir string) string {
			return fmt.Sprintf("<pool type='dir'><name>%s</name><target><path>%s</path></target></pool>", name, dir)
		},
		// One host: migration between two native hosts is tested with two
		// daemons in network namespaces elsewhere.
		MigrationPeer:             nil,
		InactiveVcpusChangeConfig: true,
		StateTimeout:              2 * time.Minute,
	})
}
