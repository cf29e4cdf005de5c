package storage

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/govirt/govirt/xmlconf"
)

// startDirPool builds and starts a dir pool at target.
func startDirPool(t *testing.T, target string) *Pool {
	t.Helper()
	p, err := Open(&xmlconf.StoragePool{Type: "dir", Name: "t", Target: &xmlconf.PoolTarget{Path: target}}, testOptions(t))
	mustOK(t, err, "open")
	ctx := context.Background()
	mustOK(t, p.Build(ctx, BuildNew), "build")
	mustOK(t, p.Start(ctx), "start")
	return p
}

func TestDirBuildPermissions(t *testing.T) {
	requireRoot(t)
	target := filepath.Join(t.TempDir(), "a", "b", "pool")
	p, err := Open(&xmlconf.StoragePool{Type: "dir", Name: "perm", Target: &xmlconf.PoolTarget{
		Path: target, Permissions: &xmlconf.Permissions{Mode: "0750", Owner: "1234", Group: "5678"},
	}}, testOptions(t))
	mustOK(t, err, "open")
	mustOK(t, p.Build(context.Background(), BuildNew), "build")
	var st unix.Stat_t
	mustOK(t, unix.Stat(target, &st), "stat")
	if st.Mode&0o7777 != 0o750 || st.Uid != 1234 || st.Gid != 5678 {
		t.Fatalf("pool dir mode %o owner %d:%d", st.Mode&0o7777, st.Uid, st.Gid)
	}
	// Default mode when none is given.
	target2 := filepath.Join(t.TempDir(), "pool")
	p2, err := Open(&xmlconf.StoragePool{Type: "dir", Name: "perm2", Target: &xmlconf.PoolTarget{Path: target2}}, Options{})
	mustOK(t, err, "open")
	mustOK(t, p2.Build(context.Background(), BuildNew), "build")
	mustOK(t, unix.Stat(target2, &st), "stat")
	if st.Mode&0o7777 != defaultPoolDirMode {
		t.Fatalf("default pool dir mode %o", st.Mode&0o7777)
	}
	// A file in the way is refused.
	file := filepath.Join(t.TempDir(), "file")
	mustOK(t, os.WriteFile(file, nil, 0o600), "write")
	p3, err := Open(&xmlconf.StoragePool{Type: "dir", Name: "perm3", Target: &xmlconf.PoolTarget{Path: file}}, Options{})
	mustOK(t, err, "open")
	wantCode(t, p3.Build(context.Background(), BuildNew), xmlconf.ErrOperationFailed)
	wantCode(t, p3.Start(context.Background()), xmlconf.ErrOperationFailed)

	// Volume ownership and mode as requested.
	mustOK(t, p.Start(context.Background()), "start")
	v, err := p.CreateVolume(context.Background(), &xmlconf.StorageVolume{Name: "owned", Capacity: 1 << 20,
		Target: xmlconf.VolTarget{Permissions: &xmlconf.Permissions{Mode: "0604", Owner: "107", Group: "108"}}})
	mustOK(t, err, "create")
	mustOK(t, unix.Stat(v.Target.Path, &st), "stat")
	if st.Mode&0o7777 != 0o604 || st.Uid != 107 || st.Gid != 108 {
		t.Fatalf("volume mode %o owner %d:%d", st.Mode&0o7777, st.Uid, st.Gid)
	}
	if v.Target.Permissions.Owner != "107" || v.Target.Permissions.Mode != "0604" {
		t.Fatalf("reported permissions %+v", v.Target.Permissions)
	}
}

func TestDirPreallocation(t *testing.T) {
	p := startDirPool(t, filepath.Join(t.TempDir(), "pool"))
	ctx := context.Background()
	cases := []struct {
		name       string
		capacity   uint64
		allocation uint64
		set        bool
	}{
		{"sparse", 64 << 20, 0, false},
		{"zero allocation", 64 << 20, 0, true},
		{"partial", 64 << 20, 16 << 20, true},
		{"full", 32 << 20, 32 << 20, true},
		{"empty", 0, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, err := p.CreateVolume(ctx, &xmlconf.StorageVolume{Name: c.name, Capacity: c.capacity, Allocation: c.allocation, AllocationSet: c.set})
			mustOK(t, err, "create")
			st, err := os.Stat(v.Target.Path)
			mustOK(t, err, "stat")
			blocks := statBlocks(t, v.Target.Path)
			if uint64(st.Size()) != c.capacity || v.Capacity != c.capacity {
				t.Fatalf("size %d, capacity %d, want %d", st.Size(), v.Capacity, c.capacity)
			}
			if uint64(blocks) < c.allocation || uint64(blocks) > c.allocation+(1<<20) {
				t.Fatalf("allocated %d bytes, want %d", blocks, c.allocation)
			}
			if v.Allocation != uint64(blocks) || v.Key != v.Target.Path || v.Type != "file" {
				t.Fatalf("reported %+v", v)
			}
			if st.Mode().Perm() != 0o600 {
				t.Fatalf("default volume mode %o", st.Mode().Perm())
			}
		})
	}
}

// TestDirRefreshForeignEntries: files put there by others are volumes
// (with their format probed), directories are dir volumes, and sockets,
// dangling links and vanished entries are skipped.
func TestDirRefreshForeignEntries(t *testing.T) {
	target := filepath.Join(t.TempDir(), "pool")
	p := startDirPool(t, target)
	hdr := make([]byte, 512)
	copy(hdr, "QFI\xfb")
	binary.BigEndian.PutUint32(hdr[4:], 3)
	binary.BigEndian.PutUint64(hdr[24:], 20<<30)
	mustOK(t, os.WriteFile(filepath.Join(target, "guest.qcow2"), hdr, 0o644), "write qcow2")
	mustOK(t, os.WriteFile(filepath.Join(target, "plain.img"), make([]byte, 4096), 0o644), "write raw")
	mustOK(t, os.Mkdir(filepath.Join(target, "subdir"), 0o755), "mkdir")
	mustOK(t, os.Symlink("/nonexistent", filepath.Join(target, "dangling")), "symlink")
	mustOK(t, os.Symlink("plain.img", filepath.Join(target, "link.img")), "symlink")
	l, err := net.Listen("unix", filepath.Join(target, "sock"))
	mustOK(t, err, "listen")
	defer l.Close()
	mustOK(t, p.Refresh(context.Background()), "refresh")
	got := map[string]*xmlconf.StorageVolume{}
	for _, v := range p.Volumes() {
		got[v.Name] = v
	}
	if len(got) != 4 {
		t.Fatalf("volumes %v", volNames(p.Volumes()))
	}
	if v := got["guest.qcow2"]; v.Target.Format != "qcow2" || v.Capacity != 20<<30 || v.Physical != 512 {
		t.Errorf("qcow2 volume %+v", v)
	}
	if v := got["plain.img"]; v.Target.Format != "raw" || v.Capacity != 4096 {
		t.Errorf("raw volume %+v", v)
	}
	if v := got["subdir"]; v.Type != "dir" {
		t.Errorf("dir volume %+v", v)
	}
	if v := got["link.img"]; v.Type != "file" || v.Capacity != 4096 {
		t.Errorf("symlinked volume %+v", v)
	}
	// Deleting the link leaves its target; deleting the dir volume works.
	mustOK(t, p.DeleteVolume(context.Background(), "link.img", true), "delete link")
	if _, err := os.Stat(filepath.Join(target, "plain.img")); err != nil {
		t.Fatalf("link target gone: %v", err)
	}
	mustOK(t, p.DeleteVolume(context.Background(), "subdir", false), "delete dir volume")
	// A volume removed behind the pool's back: delete says it is gone.
	mustOK(t, os.Remove(filepath.Join(target, "plain.img")), "remove")
	wantCode(t, p.DeleteVolume(context.Background(), "plain.img", false), xmlconf.ErrNoStorageVol)
	_, err = p.Volume("plain.img")
	wantCode(t, err, xmlconf.ErrNoStorageVol)
}

func TestDirUnsupportedVolumes(t *testing.T) {
	p := startDirPool(t, filepath.Join(t.TempDir(), "pool"))
	ctx := context.Background()
	_, err := p.CreateVolume(ctx, &xmlconf.StorageVolume{Name: "q", Capacity: 1 << 20, Target: xmlconf.VolTarget{Format: "qcow2"}})
	wantCode(t, err, xmlconf.ErrConfigUnsupported)
	_, err = p.CreateVolume(ctx, &xmlconf.StorageVolume{Name: "b", Capacity: 1 << 20, Type: "block"})
	wantCode(t, err, xmlconf.ErrConfigUnsupported)
	_, err = p.CreateVolume(ctx, &xmlconf.StorageVolume{Name: "bs", Capacity: 1 << 20, BackingStore: &xmlconf.RawElement{}})
	wantCode(t, err, xmlconf.ErrConfigUnsupported)
	_, err = p.CreateVolume(ctx, nil)
	wantCode(t, err, xmlconf.ErrInvalidArg)
	if n := len(p.Volumes()); n != 0 {
		t.Fatalf("%d volumes", n)
	}
}

// TestDirTooLarge: a capacity the filesystem cannot hold fails with the
// errno and leaves no file.
func TestDirTooLarge(t *testing.T) {
	target := filepath.Join(t.TempDir(), "pool")
	p := startDirPool(t, target)
	_, err := p.CreateVolume(context.Background(), &xmlconf.StorageVolume{Name: "huge", Capacity: 1 << 62})
	wantCode(t, err, xmlconf.ErrSystemError)
	if !errors.Is(err, unix.EFBIG) {
		t.Fatalf("error %q is not EFBIG", err)
	}
	if _, err := os.Lstat(filepath.Join(target, "huge")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("half-made volume left: %v", err)
	}
}

// TestDirENOSPC fills a tiny tmpfs: preallocation fails with ENOSPC, the
// partial file is removed and the pool's accounting is as before.
func TestDirENOSPC(t *testing.T) {
	mnt := mountTmpfs(t, "4m")
	target := filepath.Join(mnt, "pool")
	p := startDirPool(t, target)
	ctx := context.Background()
	_, _, avail := p.Info()
	_, err := p.CreateVolume(ctx, &xmlconf.StorageVolume{Name: "big", Capacity: 8 << 20, Allocation: 8 << 20, AllocationSet: true})
	wantCode(t, err, xmlconf.ErrSystemError)
	if !errors.Is(err, unix.ENOSPC) || !strings.Contains(err.Error(), "cannot allocate 8388608 bytes in volume") {
		t.Fatalf("error %q", err)
	}
	t.Logf("full disk: %v", err)
	if _, err := os.Lstat(filepath.Join(target, "big")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("partial volume left: %v", err)
	}
	mustOK(t, p.Refresh(ctx), "refresh")
	if n := len(p.Volumes()); n != 0 {
		t.Fatalf("%d volumes after failed create", n)
	}
	if _, _, a := p.Info(); a != avail {
		t.Fatalf("available %d after failed create, was %d", a, avail)
	}
	// What fits still works, and the name is free again.
	v, err := p.CreateVolume(ctx, &xmlconf.StorageVolume{Name: "big", Capacity: 8 << 20, Allocation: 2 << 20, AllocationSet: true})
	mustOK(t, err, "create smaller")
	if v.Allocation < 2<<20 {
		t.Fatalf("allocation %d", v.Allocation)
	}
}

// TestDirZeroedDeleteInterrupted stops a zeroed delete after its first
// chunk: the error says how far it got, the volume is still there (listed
// and on disk), and a second zeroed delete finishes the job.
func TestDirZeroedDeleteInterrupted(t *testing.T) {
	target := filepath.Join(t.TempDir(), "pool")
	p := startDirPool(t, target)
	const size = 64 << 20
	v, err := p.CreateVolume(context.Background(), &xmlconf.StorageVolume{Name: "data", Capacity: size})
	mustOK(t, err, "create")
	data := []byte(strings.Repeat("x", size))
	mustOK(t, os.WriteFile(v.Target.Path, data, 0o600), "fill")

	ctx, cancel := context.WithCancel(context.Background())
	var once sync.Once
	ctx = context.WithValue(ctx, zeroHookKey{}, func(done uint64) { once.Do(cancel) })
	err = p.DeleteVolume(ctx, "data", true)
	wantCode(t, err, xmlconf.ErrOperationAborted)
	if !strings.Contains(err.Error(), "stopped after") || !errors.Is(err, context.Canceled) {
		t.Fatalf("error %q", err)
	}
	t.Logf("interrupted: %v", err)
	if _, err := p.Volume("data"); err != nil {
		t.Fatalf("volume gone from the pool after an interrupted delete: %v", err)
	}
	mustOK(t, p.Refresh(context.Background()), "refresh")
	got, err := p.Volume("data")
	mustOK(t, err, "volume after refresh")
	if got.Capacity != size {
		t.Fatalf("capacity %d", got.Capacity)
	}
	b := readRegion(t, v.Target.Path, 0, size)
	if allZero(b) {
		t.Fatal("the whole volume was zeroed although the pass was stopped")
	}
	if allZero(b[size-1<<20:]) && allZero(b[:1<<20]) {
		t.Log("note: both ends zeroed before the stop")
	}
	f, err := os.Open(v.Target.Path)
	mustOK(t, err, "open")
	defer f.Close()
	mustOK(t, p.DeleteVolume(context.Background(), "data", true), "zeroed delete")
	buf := make([]byte, size)
	if _, err := f.ReadAt(buf, 0); err != nil {
		t.Fatal(err)
	}
	if !allZero(buf) {
		t.Fatal("data left after zeroed delete")
	}
}

// TestZeroFileSpans: holes stay holes, data is zeroed, an unaligned tail
// is zeroed too.
func TestZeroFileSpans(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	f, err := os.Create(path)
	mustOK(t, err, "create")
	const size = 10<<20 + 123 // unaligned tail
	mustOK(t, f.Truncate(size), "truncate")
	pattern := []byte(strings.Repeat("y", 1<<20))
	for _, off := range []int64{0, 5 << 20, size - 1<<20} {
		if _, err := f.WriteAt(pattern, off); err != nil {
			t.Fatal(err)
		}
	}
	mustOK(t, f.Sync(), "sync")
	before := statBlocks(t, path)
	mustOK(t, zeroFile(context.Background(), path), "zero")
	buf := make([]byte, size)
	if _, err := f.ReadAt(buf, 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if !allZero(buf) {
		t.Fatal("not zero")
	}
	if after := statBlocks(t, path); after > before+(64<<10) {
		t.Fatalf("zeroing filled holes: %d -> %d bytes allocated", before, after)
	}
}

// TestDirBackingGone removes a started pool's directory: refresh and
// create fail with the errno, naming the path.
func TestDirBackingGone(t *testing.T) {
	target := filepath.Join(t.TempDir(), "pool")
	p := startDirPool(t, target)
	mustOK(t, os.RemoveAll(target), "remove target")
	err := p.Refresh(context.Background())
	wantCode(t, err, xmlconf.ErrSystemError)
	if !errors.Is(err, unix.ENOENT) || !strings.Contains(err.Error(), target) {
		t.Fatalf("refresh error %q", err)
	}
	_, err = p.CreateVolume(context.Background(), &xmlconf.StorageVolume{Name: "v", Capacity: 1})
	wantCode(t, err, xmlconf.ErrSystemError)
	t.Logf("backing gone: %v", err)
	if active, err := p.CheckActive(context.Background()); active || err != nil {
		t.Fatalf("CheckActive = %v, %v", active, err)
	}
}

// TestPoolConcurrentCreates: goroutines racing for the same names get
// each name exactly once; the rest get STORAGE_VOL_EXIST.
func TestPoolConcurrentCreates(t *testing.T) {
	p := startDirPool(t, filepath.Join(t.TempDir(), "pool"))
	const workers, names = 8, 25
	var mu sync.Mutex
	won := map[string]int{}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < names; i++ {
				name := "v" + string(rune('a'+i))
				_, err := p.CreateVolume(context.Background(), &xmlconf.StorageVolume{Name: name, Capacity: 1 << 30, Allocation: 64 << 10, AllocationSet: true})
				if err == nil {
					mu.Lock()
					won[name]++
					mu.Unlock()
				} else if !errors.Is(err, xmlconf.ErrStorageVolExist) {
					t.Errorf("create %s: %v", name, err)
				}
				p.Volumes()
				p.Info()
			}
		}()
	}
	wg.Wait()
	for i := 0; i < names; i++ {
		if n := won["v"+string(rune('a'+i))]; n != 1 {
			t.Errorf("volume %d created %d times", i, n)
		}
	}
	mustOK(t, p.Refresh(context.Background()), "refresh")
	if n := len(p.Volumes()); n != names {
		t.Fatalf("%d volumes, want %d", n, names)
	}
	// Concurrent deletes of one name: one wins.
	var ok, invalid, missing int
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := p.DeleteVolume(context.Background(), "va", false)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, xmlconf.ErrOperationInvalid):
				invalid++
			case errors.Is(err, xmlconf.ErrNoStorageVol):
				missing++
			default:
				t.Errorf("delete: %v", err)
			}
		}()
	}
	wg.Wait()
	if ok != 1 || ok+invalid+missing != workers {
		t.Fatalf("deletes: %d ok, %d busy, %d missing", ok, invalid, missing)
	}
}

// TestPoolStopRacesCreates: Stop either waits for no volume job or is
// refused while one runs, and no create succeeds once Stop has begun.
func TestPoolStopRacesCreates(t *testing.T) {
	target := filepath.Join(t.TempDir(), "pool")
	p := startDirPool(t, target)
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	created := 0
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				_, err := p.CreateVolume(ctx, &xmlconf.StorageVolume{Name: fmt.Sprintf("w%d-%d", w, i), Capacity: 1 << 20})
				if errors.Is(err, xmlconf.ErrOperationInvalid) {
					return
				}
				if err != nil {
					t.Errorf("create: %v", err)
					return
				}
				mu.Lock()
				created++
				mu.Unlock()
			}
		}()
	}
	for {
		err := p.Stop(ctx)
		if err == nil {
			break
		}
		if !errors.Is(err, xmlconf.ErrOperationInvalid) {
			t.Fatalf("stop: %v", err)
		}
	}
	wg.Wait()
	ents, err := os.ReadDir(target)
	mustOK(t, err, "read dir")
	if len(ents) != created {
		t.Fatalf("%d files, %d successful creates", len(ents), created)
	}
}
