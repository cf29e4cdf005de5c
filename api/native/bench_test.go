package native

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/govirt/govirt/xmlconf"
)

// BenchmarkCreateToFirstConsoleByte measures DomainCreateXML through the
// driver until the guest's first console byte can be read from its pty.
func BenchmarkCreateToFirstConsoleByte(b *testing.B) {
	img := requireKVM(b)
	ctx := context.Background()
	c := open(b, embedURI(b), false)
	defer c.Close(ctx)
	var total time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		d, err := c.DomainCreateXML(ctx, guestXML(img, fmt.Sprintf("fb%d", i)), 0)
		if err != nil {
			b.Fatal(err)
		}
		x, err := d.GetXMLDesc(ctx, 0)
		if err != nil {
			b.Fatal(err)
		}
		def, err := xmlconf.ParseDomain([]byte(x))
		if err != nil {
			b.Fatal(err)
		}
		f, err := os.OpenFile(def.Devices.Serials[0].Source.Path, os.O_RDONLY|unix.O_NOCTTY, 0)
		if err != nil {
			b.Fatal(err)
		}
		one := make([]byte, 1)
		if _, err := f.Read(one); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		f.Close()
		if err := d.Destroy(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/first-byte")
}

// BenchmarkStart20Concurrently starts 20 test guests at once through the
// driver and reports the time until all run.
func BenchmarkStart20Concurrently(b *testing.B) {
	img := requireKVM(b)
	ctx := context.Background()
	c := open(b, embedURI(b), false)
	defer c.Close(ctx)
	for i := 0; i < b.N; i++ {
		start := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for j := 0; j < 20; j++ {
			wg.Add(1)
			go func(j int) {
				defer wg.Done()
				_, err := c.DomainCreateXML(ctx, guestXML(img, fmt.Sprintf("c%d-%d", i, j)), 0)
				errs <- err
			}(j)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(time.Since(start).Milliseconds()), "ms/20-guests")
		doms, err := c.ListAllDomains(ctx, 0)
		if err != nil {
			b.Fatal(err)
		}
		for _, d := range doms {
			if err := d.Destroy(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
}
