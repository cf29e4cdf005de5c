package vmm

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BenchmarkSaveRestore saves a 2 GiB guest whose workload wrote 1900 MiB
// of memory and restores it, against cp of a 2 GiB file on the same disk
// (with and without the sync that Save does). Metrics are MiB/s of guest
// RAM (save, restore) and of the file (cp), and the time ratios.
//
// Where the host's memory is itself a guest's with free page reporting
// (the nested test machines), memory the host has not used for a while
// is slow to fault in, and a file deleted just before gives its page cache
// to the next writer warm: each timed step therefore starts after the
// host had time to report what the previous one freed, and touch-MiB/s
// is how fast this host faults in fresh anonymous memory.
func BenchmarkSaveRestore(b *testing.B) {
	const memKiB, mib = 2 << 20, 1900
	const settle = 4 * time.Second
	dir := b.TempDir()
	src := filepath.Join(dir, "cp-src")
	writeBenchFile(b, src, memKiB<<10)
	var save, restore, cp, cpSync, touch time.Duration
	var size int64
	for i := 0; i < b.N; i++ {
		tv := spawnGuest(b, guestOpts{memKiB: memKiB,
			cmdline: fmt.Sprintf("govirt.test=dirty,halt govirt.dirty_mib=%d govirt.dirty_rounds=1", mib)})
		tv.waitRound(b, 1, 300*time.Second)
		path := filepath.Join(dir, "guest.save")
		time.Sleep(settle)
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Second)
		t0 := time.Now()
		err := tv.c.Save(ctx, path)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		save += time.Since(t0)
		if lb, err := os.ReadFile(tv.cfg.LogFile); err == nil {
			for _, l := range strings.Split(string(lb), "\n") {
				if strings.Contains(l, "save image written") {
					b.Log(l)
				}
			}
		}
		st, err := os.Stat(path)
		if err != nil {
			b.Fatal(err)
		}
		size = st.Size()
		h, err := ReadSaveHeader(path)
		if err != nil {
			b.Fatal(err)
		}
		cfg := newRuntimeConfig(b, tv.cfg.Name, h.XML)
		cfg.RestoreFrom = path
		tv.gone(b)
		time.Sleep(settle)
		t0 = time.Now()
		rv := spawnConfig(b, cfg)
		restore += time.Since(t0)
		if m := rv.mailbox(b); m.DirtyRound != 1 || m.DirtyMiB != mib {
			b.Fatalf("restored mailbox %+v", m)
		}
		benchDestroy(b, rv.cfg, rv.proc)
		if err := os.Remove(path); err != nil {
			b.Fatal(err)
		}

		dst := filepath.Join(dir, "cp-dst")
		time.Sleep(settle)
		t0 = time.Now()
		if out, err := exec.Command("cp", src, dst).CombinedOutput(); err != nil {
			b.Fatalf("cp: %v %s", err, out)
		}
		cp += time.Since(t0)
		if out, err := exec.Command("sync", dst).CombinedOutput(); err != nil {
			b.Fatalf("sync: %v %s", err, out)
		}
		cpSync += time.Since(t0)
		if err := os.Remove(dst); err != nil {
			b.Fatal(err)
		}
		time.Sleep(settle)
		touch += touchMemory(b, memKiB<<10)
	}
	n := float64(b.N)
	ram := float64(memKiB >> 10)
	b.ReportMetric(ram/(save.Seconds()/n), "save-MiB/s")
	b.ReportMetric(ram/(restore.Seconds()/n), "restore-MiB/s")
	b.ReportMetric(ram/(cp.Seconds()/n), "cp-MiB/s")
	b.ReportMetric(ram/(cpSync.Seconds()/n), "cp+sync-MiB/s")
	b.ReportMetric(ram/(touch.Seconds()/n), "touch-MiB/s")
	b.ReportMetric(save.Seconds()/cpSync.Seconds(), "save/cp+sync")
	b.ReportMetric(restore.Seconds()/cp.Seconds(), "restore/cp")
	b.ReportMetric(float64(size)/(1<<20), "image-MiB")
}

// touchMemory maps n bytes of anonymous memory, writes a byte per page
// and reports how long that took.
func touchMemory(b *testing.B, n int) time.Duration {
	t0 := time.Now()
	m, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < n; i += 4096 {
		m[i] = 1
	}
	d := time.Since(t0)
	if err := unix.Munmap(m); err != nil {
		b.Fatal(err)
	}
	return d
}

// writeBenchFile writes n bytes of non-zero data.
func writeBenchFile(b *testing.B, path string, n int64) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 4<<20)
	for i := range buf {
		buf[i] = byte(i*131 + 7)
	}
	for done := int64(0); done < n; done += int64(len(buf)) {
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkMigrateLive migrates a 1 GiB guest whose ring-3 workload keeps
// rewriting a region of the given size, between two VMMs over loopback.
func BenchmarkMigrateLive(b *testing.B) {
	for _, mib := range []int{16, 64, 256} {
		b.Run(fmt.Sprintf("dirty=%dMiB", mib), func(b *testing.B) {
			var total, down time.Duration
			var bytes, rounds uint64
			for i := 0; i < b.N; i++ {
				src := dirtyGuest(b, 1<<20, mib)
				cookie := newCookie(b)
				dst, addr := spawnIncoming(b, src, cookie)
				ctx, cancel := context.WithTimeout(context.Background(), 300*time.Second)
				st, err := src.c.Migrate(ctx, addr, MigrateOptions{Live: true, Cookie: cookie})
				cancel()
				if err != nil {
					b.Fatal(err)
				}
				total += st.Total
				down += st.Downtime
				bytes += st.Bytes
				rounds += st.Rounds
				checkMailboxSum(b, dst.waitRound(b, dst.mailbox(b).DirtyRound+1, 60*time.Second))
				benchDestroy(b, dst.cfg, dst.proc)
			}
			n := float64(b.N)
			b.ReportMetric(total.Seconds()*1000/n, "total-ms")
			b.ReportMetric(down.Seconds()*1000/n, "downtime-ms")
			b.ReportMetric(float64(bytes)/n/(1<<20), "MiB-sent")
			b.ReportMetric(float64(rounds)/n, "rounds")
		})
	}
}
