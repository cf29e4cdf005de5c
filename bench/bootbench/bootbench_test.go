package bootbench

import (
	"bytes"
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var longTests = flag.Bool("long", os.Getenv("GOVIRT_LONG_TESTS") != "", "run the long tests (stock Linux boot)")

func requireTools(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s: %v", tool, err)
		}
	}
}

// cpioList extracts an archive with the system cpio into a fresh
// directory and returns it.
func cpioExtract(t *testing.T, archive []byte) string {
	t.Helper()
	requireTools(t, "cpio")
	dir := t.TempDir()
	cmd := exec.Command("cpio", "-idm", "--quiet", "--no-absolute-filenames")
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(archive)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cpio: %v: %s", err, out)
	}
	return dir
}

func TestWriteCPIO(t *testing.T) {
	tests := []struct {
		name    string
		entries []CPIOEntry
		check   func(t *testing.T, dir string)
		wantErr string
	}{
		{"files, dirs and a symlink", []CPIOEntry{
			{Name: "bin", Mode: ModeDir | 0o755},
			{Name: "bin/tool", Mode: ModeFile | 0o755, Data: []byte("#!/bin/sh\necho odd length\n")},
			{Name: "bin/link", Mode: ModeSymlink | 0o777, Data: []byte("tool")},
			{Name: "empty", Mode: ModeFile | 0o644},
		}, func(t *testing.T, dir string) {
			b, err := os.ReadFile(filepath.Join(dir, "bin/tool"))
			if err != nil || string(b) != "#!/bin/sh\necho odd length\n" {
				t.Fatalf("bin/tool: %q %v", b, err)
			}
			st, err := os.Stat(filepath.Join(dir, "bin/tool"))
			if err != nil || st.Mode().Perm() != 0o755 {
				t.Fatalf("bin/tool mode %v %v", st.Mode(), err)
			}
			if target, err := os.Readlink(filepath.Join(dir, "bin/link")); err != nil || target != "tool" {
				t.Fatalf("bin/link -> %q %v", target, err)
			}
			if st, err := os.Stat(filepath.Join(dir, "empty")); err != nil || st.Size() != 0 {
				t.Fatalf("empty: %v", err)
			}
		}, ""},
		{"absolute name", []CPIOEntry{{Name: "/init", Mode: ModeFile}}, nil, "bad name"},
		{"directory with data", []CPIOEntry{{Name: "d", Mode: ModeDir, Data: []byte{1}}}, nil, "no data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := WriteCPIO(&buf, tt.entries)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if buf.Len()%4 != 0 || !bytes.Contains(buf.Bytes(), []byte("TRAILER!!!")) {
				t.Fatal("archive not padded or without trailer")
			}
			tt.check(t, cpioExtract(t, buf.Bytes()))
		})
	}
}

func TestBuildInitramfs(t *testing.T) {
	requireTools(t, "gcc", "cpio")
	if _, err := os.Stat(BusyboxPath); err != nil {
		t.Skipf("no %s (busybox-static): %v", BusyboxPath, err)
	}
	dir := t.TempDir()
	path, err := BuildInitramfs(context.Background(), dir, true)
	if err != nil {
		t.Fatal(err)
	}
	archive, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// cpio cannot create the console node without privileges it may
	// lack; list instead of extracting.
	cmd := exec.Command("cpio", "-it", "--quiet")
	cmd.Stdin = bytes.NewReader(archive)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"init", "bin/busybox", "bin/sh", "dev/console"} {
		if !strings.Contains("\n"+string(out), "\n"+want+"\n") {
			t.Errorf("archive lacks %s:\n%s", want, out)
		}
	}
	// /init is a static executable that writes the marker port: the
	// outb to 0x3f0 must be in its code (the program is not run here: it
	// would write the host's port).
	initBin, err := os.ReadFile(filepath.Join(dir, "init"))
	if err != nil {
		t.Fatal(err)
	}
	if !isStaticELF(initBin) || !bytes.Contains(initBin, []byte("GOVIRT-INIT")) {
		t.Fatal("/init is not a static executable with its marker line")
	}
	// mov $0x3f0,%edx (or %dx); out %al,(%dx)
	if !bytes.Contains(initBin, []byte{0xBA, 0xF0, 0x03, 0x00, 0x00, 0xEE}) && !bytes.Contains(initBin, []byte{0x66, 0xBA, 0xF0, 0x03, 0xEE}) {
		t.Fatal("/init does not write port 0x3f0")
	}
}

func TestParseSmaps(t *testing.T) {
	const smaps = `55d0c0000000-55d0c0100000 r-xp 00000000 fe:01 123 /usr/bin/qemu-system-x86_64
Size:               1024 kB
Rss:                 800 kB
Pss:                 400 kB
Shared_Clean:        800 kB
Private_Clean:         0 kB
Private_Dirty:         0 kB
7f0000000000-7f0010000000 rw-s 00000000 00:01 9 /memfd:memory-backend-memfd (deleted)
Size:             262144 kB
Rss:               20480 kB
Pss:               20480 kB
Private_Clean:         0 kB
Private_Dirty:     20480 kB
7f1000000000-7f1008000000 rw-p 00000000 00:00 0 
Size:             131072 kB
Rss:               65536 kB
Pss:               65536 kB
Private_Clean:         0 kB
Private_Dirty:     65536 kB
7f2000000000-7f2000021000 rw-p 00000000 00:00 0 [heap]
Size:                132 kB
Rss:                 100 kB
Pss:                 100 kB
Private_Clean:        20 kB
Private_Dirty:        80 kB
`
	m, err := parseSmaps(strings.NewReader(smaps), [][2]uint64{{0x7f1000000000, 0x7f1008000000}})
	if err != nil {
		t.Fatal(err)
	}
	want := Memory{
		RSS: (800 + 20480 + 65536 + 100) << 10, PSS: (400 + 20480 + 65536 + 100) << 10, Private: (20480 + 65536 + 100) << 10,
		GuestRSS: (20480 + 65536) << 10, GuestPSS: (20480 + 65536) << 10, GuestPrivate: (20480 + 65536) << 10,
	}
	if m != want {
		t.Fatalf("got %+v, want %+v", m, want)
	}
	rss, pss, private := m.Overhead()
	if rss != 900<<10 || pss != 500<<10 || private != 100<<10 {
		t.Fatalf("overhead rss %d pss %d private %d", rss, pss, private)
	}
}

func TestParseSmapsErrors(t *testing.T) {
	tests := []struct{ name, smaps string }{
		{"bad number", "7f2000000000-7f2000021000 rw-p 00000000 00:00 0 \nRss:  lots kB\n"},
		{"no value", "7f2000000000-7f2000021000 rw-p 00000000 00:00 0 \nPss:\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := parseSmaps(strings.NewReader(tt.smaps), nil); err == nil {
				t.Fatal("parseSmaps succeeded")
			}
		})
	}
}

func TestBaseCmdlineClearsEveryHiddenFeature(t *testing.T) {
	c := BaseCmdline()
	for _, f := range HiddenFeatures {
		n, ok := clearCPUIDBits[f]
		if !ok || n == 0 {
			t.Errorf("no clearcpuid number for %s", f)
		}
		if !strings.Contains(c, ","+strconv.Itoa(n)) && !strings.Contains(c, "="+strconv.Itoa(n)) {
			t.Errorf("command line %q lacks %s (%d)", c, f, n)
		}
	}
}

// TestParseSmapsMergedGuestVMA: the kernel merges the guest regions below
// and above the MMIO hole into one VMA when they are adjacent; it still
// counts as guest RAM.
func TestParseSmapsMergedGuestVMA(t *testing.T) {
	const smaps = `7f0000000000-7f0100000000 rw-p 00000000 00:00 0 
Rss:              102400 kB
7f2000000000-7f2000021000 rw-p 00000000 00:00 0 [heap]
Rss:                 100 kB
`
	ranges := [][2]uint64{{0x7f0000000000, 0x7f00c0000000}, {0x7f00c0000000, 0x7f0100000000}}
	m, err := parseSmaps(strings.NewReader(smaps), ranges)
	if err != nil {
		t.Fatal(err)
	}
	if m.GuestRSS != 102400<<10 || m.RSS != (102400+100)<<10 {
		t.Fatalf("total %d guest %d", m.RSS, m.GuestRSS)
	}
}
