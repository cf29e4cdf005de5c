package vmm

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/govirt/govirt/test/smaps"
)

// benchVMMBinary is the VMM binary the benchmarks spawn: the test binary
// itself, or GOVIRT_VMM_BINARY (e.g. a built govirt) with "__vmm".
func benchVMMBinary() string {
	if b := os.Getenv("GOVIRT_VMM_BINARY"); b != "" {
		return b
	}
	return os.Args[0]
}

// benchConfig makes a runtime dir and config for one benchmark VMM.
func benchConfig(b *testing.B, name, xml string) (*Config, func()) {
	dir, err := os.MkdirTemp("", "gvbench")
	if err != nil {
		b.Fatal(err)
	}
	cfg := &Config{Name: name, DomainXML: xml, RuntimeDir: dir,
		ControlSocket: filepath.Join(dir, "ctl.sock"), LogFile: filepath.Join(dir, "vmm.log")}
	return cfg, func() { os.RemoveAll(dir) }
}

func benchDestroy(b *testing.B, cfg *Config, p *Process) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if c, err := Dial(ctx, cfg.ControlSocket); err == nil {
		if err := c.Destroy(ctx); err != nil {
			b.Error(err)
		}
	}
	if err := p.Kill(); err != nil {
		b.Error(err)
	}
	if err := p.WaitExit(ctx); err != nil {
		b.Error(err)
	}
}

// BenchmarkSpawnToFirstConsoleByte: from calling Spawn to the guest's
// first serial byte arriving on a unix socket the VMM connects to.
func BenchmarkSpawnToFirstConsoleByte(b *testing.B) {
	requireKVM(b)
	img := testGuest(b)
	var total time.Duration
	for i := 0; i < b.N; i++ {
		sockDir, err := os.MkdirTemp("", "gvcon")
		if err != nil {
			b.Fatal(err)
		}
		sock := filepath.Join(sockDir, "c")
		ln, err := net.Listen("unix", sock)
		if err != nil {
			b.Fatal(err)
		}
		first := make(chan time.Time, 1)
		go func() {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			defer conn.Close()
			var one [1]byte
			if _, err := conn.Read(one[:]); err == nil {
				first <- time.Now()
			}
		}()
		cfg, cleanup := benchConfig(b, "bench", domainXML(img, "bench", guestOpts{cmdline: "govirt.test=halt",
			serial: fmt.Sprintf("<serial type='unix'><source mode='connect' path='%s'/></serial>", sock)}))
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		t0 := time.Now()
		p, err := Spawn(ctx, benchVMMBinary(), []string{"__vmm"}, cfg)
		if err != nil {
			b.Fatal(err)
		}
		select {
		case t1 := <-first:
			total += t1.Sub(t0)
		case <-ctx.Done():
			b.Fatal("no console byte")
		}
		cancel()
		benchDestroy(b, cfg, p)
		ln.Close()
		cleanup()
		os.RemoveAll(sockDir)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "ms/first-byte")
}

// smapsUsage is a process's memory from /proc/PID/smaps, in KiB: RSS,
// PSS (shared pages divided among the processes mapping them), private
// (Private_Clean + Private_Dirty: pages no other process maps) and
// anonymous, each for the whole process and for guest RAM.
type smapsUsage struct {
	rss, pss, private, anon                     uint64
	guestRSS, guestPSS, guestPrivate, guestAnon uint64
}

// overhead is u beyond guest RAM, in MiB: RSS, PSS, private, anonymous.
func (u smapsUsage) overhead() (rss, pss, private, anon float64) {
	mib := func(total, guest uint64) float64 { return float64(total-guest) / 1024 }
	return mib(u.rss, u.guestRSS), mib(u.pss, u.guestPSS), mib(u.private, u.guestPrivate), mib(u.anon, u.guestAnon)
}

// readSmaps reads a VMM's smaps. Guest RAM is the anonymous mapping of
// guestKiB (the kernel may have merged it with a small neighbour, so up to
// 2 MiB more).
func readSmaps(b *testing.B, pid int, guestKiB uint64) smapsUsage {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	u, err := parseSmapsUsage(f, guestKiB)
	if err != nil {
		b.Fatal(err)
	}
	return u
}

func parseSmapsUsage(r io.Reader, guestKiB uint64) (smapsUsage, error) {
	guestSeen := false
	total, guest, err := smaps.Parse(r, func(m smaps.Mapping) bool {
		kib := (m.End - m.Start) >> 10
		in := len(m.Fields()) == 5 && kib >= guestKiB && kib <= guestKiB+2048
		guestSeen = guestSeen || in
		return in
	})
	if err != nil {
		return smapsUsage{}, err
	}
	if !guestSeen {
		return smapsUsage{}, fmt.Errorf("no mapping of %d KiB (guest ram) in smaps", guestKiB)
	}
	return smapsUsage{
		rss: total.RSS, pss: total.PSS, private: total.Private, anon: total.Anon,
		guestRSS: guest.RSS, guestPSS: guest.PSS, guestPrivate: guest.Private, guestAnon: guest.Anon,
	}, nil
}

// BenchmarkVMMRSSOverhead: the VMM's resident memory beyond the guest
// pages it touched, for 1 vCPU and 128 MiB, once the guest has booted.
// It reports the overhead's RSS, PSS, private and anonymous MiB:
//   - RSS counts every page of the binary the VMM has mapped. Those are
//     shared through the page cache with every other VMM and the daemon
//     (here: with the benchmark process, when it is the VMM binary).
//   - PSS divides each shared page among the processes mapping it.
//   - private is what no other process maps: with GOVIRT_VMM_BINARY set to
//     a binary nothing else runs, that includes the binary's pages too.
//   - anonymous is the VMM's own memory (Go heap, stacks, runtime
//     metadata), what each more guest costs.
func BenchmarkVMMRSSOverhead(b *testing.B) {
	requireKVM(b)
	img := testGuest(b)
	const memKiB = 128 << 10
	var rss, pss, private, anon float64
	for i := 0; i < b.N; i++ {
		path := filepath.Join(b.TempDir(), "console")
		cfg, cleanup := benchConfig(b, "rss", domainXML(img, "rss", guestOpts{cmdline: "govirt.test=halt", memKiB: memKiB,
			serial: fmt.Sprintf("<serial type='file'><source path='%s'/></serial>", path)}))
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		p, err := Spawn(ctx, benchVMMBinary(), []string{"__vmm"}, cfg)
		if err != nil {
			b.Fatal(err)
		}
		for {
			out, err := os.ReadFile(path)
			if err == nil && strings.Contains(string(out), "GVTEST halt") {
				break
			}
			if ctx.Err() != nil {
				b.Fatal("guest did not boot")
			}
			time.Sleep(5 * time.Millisecond)
		}
		// Let the VMM settle (SettleRuntime after start).
		time.Sleep(300 * time.Millisecond)
		r, p2, pr, a := readSmaps(b, p.PID, memKiB).overhead()
		rss, pss, private, anon = rss+r, pss+p2, private+pr, anon+a
		cancel()
		benchDestroy(b, cfg, p)
		cleanup()
	}
	n := float64(b.N)
	b.ReportMetric(rss/n, "MiB-overhead-rss")
	b.ReportMetric(pss/n, "MiB-overhead-pss")
	b.ReportMetric(private/n, "MiB-overhead-private")
	b.ReportMetric(anon/n, "MiB-overhead-anon")
}

// BenchmarkSpawn20Concurrent: 20 VMMs spawned at once, time until every
// one reports running.
func BenchmarkSpawn20Concurrent(b *testing.B) {
	requireKVM(b)
	img := testGuest(b)
	const n = 20
	var total time.Duration
	for i := 0; i < b.N; i++ {
		cfgs := make([]*Config, n)
		cleanups := make([]func(), n)
		for j := range cfgs {
			name := fmt.Sprintf("c%d", j)
			cfgs[j], cleanups[j] = benchConfig(b, name, domainXML(img, name, guestOpts{cmdline: "govirt.test=halt", serial: "<serial type='null'/>"}))
		}
		procs := make([]*Process, n)
		errs := make([]error, n)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		var wg sync.WaitGroup
		t0 := time.Now()
		for j := range cfgs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				procs[j], errs[j] = Spawn(ctx, benchVMMBinary(), []string{"__vmm"}, cfgs[j])
			}()
		}
		wg.Wait()
		total += time.Since(t0)
		cancel()
		for j := range cfgs {
			if errs[j] != nil {
				b.Error(errs[j])
				continue
			}
			benchDestroy(b, cfgs[j], procs[j])
		}
		for _, c := range cleanups {
			c()
		}
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "ms/20-running")
}

func TestParseSmapsUsage(t *testing.T) {
	const smaps = `00400000-00996000 r-xp 00000000 fe:01 123 /usr/bin/govirt
Rss:                4000 kB
Pss:                2000 kB
Private_Clean:         0 kB
Private_Dirty:         0 kB
Anonymous:             0 kB
7f1000000000-7f1008021000 rw-p 00000000 00:00 0 
Rss:                1284 kB
Pss:                1284 kB
Private_Clean:         0 kB
Private_Dirty:      1284 kB
Anonymous:          1284 kB
7f2000000000-7f2000400000 rw-p 00000000 00:00 0 
Rss:                1000 kB
Pss:                1000 kB
Private_Clean:         0 kB
Private_Dirty:      1000 kB
Anonymous:          1000 kB
`
	tests := []struct {
		name     string
		smaps    string
		guestKiB uint64
		want     smapsUsage
		wantErr  string
	}{
		{"guest merged with a neighbour", smaps, 128 << 10, smapsUsage{
			rss: 6284, pss: 4284, private: 2284, anon: 2284,
			guestRSS: 1284, guestPSS: 1284, guestPrivate: 1284, guestAnon: 1284}, ""},
		{"no guest mapping", smaps, 256 << 10, smapsUsage{}, "no mapping"},
		{"bad value", "7f2000000000-7f2000400000 rw-p 00000000 00:00 0 \nRss: many kB\n", 4 << 10, smapsUsage{}, "many"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := parseSmapsUsage(strings.NewReader(tt.smaps), tt.guestKiB)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if u != tt.want {
				t.Fatalf("got %+v, want %+v", u, tt.want)
			}
			if rss, pss, private, anon := u.overhead(); rss != 5000.0/1024 || pss != 3000.0/1024 || private != 1000.0/1024 || anon != 1000.0/1024 {
				t.Fatalf("overhead %v %v %v %v", rss, pss, private, anon)
			}
		})
	}
}
