package storage

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/govirt/govirt/xmlconf"
)

func TestParseMountInfo(t *testing.T) {
	const info = `22 27 0:21 / /proc rw,relatime - proc proc rw
36 27 7:0 / /srv/pool\040one rw,relatime shared:5 - ext4 /dev/loop0 rw
37 27 0:45 / /mnt/nfs rw,nosuid,nodev,noexec master:1 propagation_from:2 - nfs 10.0.0.1:/export\040x rw,vers=4.2
38 27 259:1 /sub /bind rw - xfs /dev/nvme0n1p1 rw
`
	got, err := parseMountInfo([]byte(info))
	mustOK(t, err, "parse")
	want := []mountEntry{
		{Major: 0, Minor: 21, Root: "/", MountPoint: "/proc", FSType: "proc", Source: "proc"},
		{Major: 7, Minor: 0, Root: "/", MountPoint: "/srv/pool one", FSType: "ext4", Source: "/dev/loop0"},
		{Major: 0, Minor: 45, Root: "/", MountPoint: "/mnt/nfs", FSType: "nfs", Source: "10.0.0.1:/export x"},
		{Major: 259, Minor: 1, Root: "/sub", MountPoint: "/bind", FSType: "xfs", Source: "/dev/nvme0n1p1"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	for _, bad := range []string{
		"22 27 0:21 / /proc rw proc proc rw\n", // no separator
		"22 27 x:21 / /proc rw - proc proc rw\n",
		"22 27 0:21 / /proc rw -\n",
	} {
		if _, err := parseMountInfo([]byte(bad)); err == nil {
			t.Errorf("parsed malformed line %q", bad)
		}
	}
	// This process's own mountinfo parses and has the root.
	data, err := os.ReadFile("/proc/self/mountinfo")
	mustOK(t, err, "read mountinfo")
	ents, err := parseMountInfo(data)
	mustOK(t, err, "parse own mountinfo")
	root := false
	for _, e := range ents {
		root = root || e.MountPoint == "/"
	}
	if !root {
		t.Fatal("no / in own mountinfo")
	}
}

func TestUnescapeMount(t *testing.T) {
	for in, want := range map[string]string{
		`/a\040b`:   "/a b",
		`/tab\011x`: "/tab\tx",
		`/bs\134`:   `/bs\`,
		`/short\04`: `/short\04`,
		`/plain`:    "/plain",
		`/bad\999`:  `/bad\999`,
	} {
		if got := unescapeMount(in); got != want {
			t.Errorf("unescapeMount(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseShowmountExports(t *testing.T) {
	// As "showmount --no-headers --exports nfs1" prints it.
	out := `/srv/export                 (everyone)
/srv/vm images              10.0.0.0/24,192.168.1.5
/home                       *

not-an-export line
/export/with/trailing       host1   
`
	got := parseShowmountExports([]byte(out))
	want := []string{"/srv/export", "/srv/vm images", "/home", "/export/with/trailing"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	// With headers (no --no-headers) the header line is skipped.
	if got := parseShowmountExports([]byte("Export list for nfs1:\n/a *\n")); !reflect.DeepEqual(got, []string{"/a"}) {
		t.Fatalf("with header: %q", got)
	}
}

func TestParseLVMReport(t *testing.T) {
	out := `  {
      "report": [
          {
              "pv": [
                  {"pv_name":"/dev/loop1", "vg_name":"vg0"},
                  {"pv_name":"/dev/loop0", "vg_name":"vg0"},
                  {"pv_name":"/dev/sdb", "vg_name":""},
                  {"pv_name":"/dev/sdc1", "vg_name":"data"}
              ]
          }
      ]
  }
`
	rows, err := parseLVMReport([]byte(out))
	mustOK(t, err, "parse")
	if len(rows) != 4 || rows[2]["pv_name"] != "/dev/sdb" {
		t.Fatalf("rows %v", rows)
	}
	got := groupPVs(rows)
	want := &xmlconf.PoolSourceList{Sources: []xmlconf.PoolSource{
		{Name: "data", Format: "lvm2", Devices: []xmlconf.PoolDevice{{Path: "/dev/sdc1"}}},
		{Name: "vg0", Format: "lvm2", Devices: []xmlconf.PoolDevice{{Path: "/dev/loop0"}, {Path: "/dev/loop1"}}},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	if _, err := parseLVMReport([]byte("garbage")); err == nil {
		t.Fatal("parsed garbage")
	}
	if _, err := parseBytes(map[string]string{"lv_size": "12x"}, "lv_size"); err == nil {
		t.Fatal("parsed a bad size")
	}
}

const gptJSON = `{
   "partitiontable": {
      "label": "gpt",
      "id": "2106BE02-96A9-2E44-BFC0-38625C729F64",
      "device": "/dev/loop0",
      "unit": "sectors",
      "firstlba": 2048,
      "lastlba": 409566,
      "sectorsize": 512,
      "partitions": [
         {"node": "/dev/loop0p3", "start": 206848, "size": 102400, "type": "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F"},
         {"node": "/dev/loop0p1", "start": 2048, "size": 102400, "type": "0FC63DAF-8483-4772-8E79-3D69D8477DE4"}
      ]
   }
}`

func TestPartitionTable(t *testing.T) {
	tab, err := parseSfdiskJSON([]byte(gptJSON))
	mustOK(t, err, "parse")
	tab.Sectors = 409600
	if tab.Partitions[0].Num != 1 || tab.Partitions[1].Num != 3 {
		t.Fatalf("partitions not sorted by number: %+v", tab.Partitions)
	}
	// Free: 104448..206847 (gap between 1 and 3) and 309248..409566.
	free := tab.freeExtents()
	want := []extent{{104448, 206847}, {309248, 409566}}
	if !reflect.DeepEqual(free, want) {
		t.Fatalf("free %v, want %v", free, want)
	}
	// Aligned: the tail ends at 409566, rounded down to 407552.
	if got, want := tab.available(), uint64((206848-104448)+(407552-309248))*512; got != want {
		t.Fatalf("available %d, want %d", got, want)
	}
	n, err := tab.nextNumber()
	if err != nil || n != 2 {
		t.Fatalf("next number %d, %v", n, err)
	}
	// Best fit: 40 MiB fits both; the aligned tail (48 MiB) is smaller
	// than the 50 MiB gap.
	start, sectors, err := tab.place(40 << 20)
	if err != nil || start != 309248 || sectors != 81920 {
		t.Fatalf("place 40MiB = %d, %d, %v", start, sectors, err)
	}
	// A size that is no multiple of 1 MiB rounds up.
	if _, sectors, _ := tab.place(1); sectors != 2048 {
		t.Fatalf("place 1 byte = %d sectors", sectors)
	}
	// 49 MiB only fits the gap.
	start, _, err = tab.place(49 << 20)
	if err != nil || start != 104448 {
		t.Fatalf("place 49MiB = %d, %v", start, err)
	}
	_, _, err = tab.place(50<<20 + 1)
	wantCode(t, err, xmlconf.ErrOperationFailed)
	if !strings.Contains(err.Error(), "no large enough free extent") {
		t.Fatalf("error %q", err)
	}
	if got := partFormat("gpt", tab.Partitions[1].Type); got != "linux-swap" {
		t.Fatalf("format %q", got)
	}
	info := tab.info()
	if info.Capacity != 409600*512 || info.Allocation != 2*102400*512 {
		t.Fatalf("info %+v", info)
	}
	// DOS: at most four primaries; the extended container is no volume.
	dos := &partTable{Label: "dos", SectorSize: 512, Sectors: 1 << 20, Partitions: []partItem{
		{Num: 1, Start: 2048, Size: 2048, Type: "83"}, {Num: 2, Start: 4096, Size: 2048, Type: "8e"},
		{Num: 3, Start: 6144, Size: 2048, Type: "82"}, {Num: 4, Start: 8192, Size: 4096, Type: "f"},
	}}
	_, err = dos.nextNumber()
	wantCode(t, err, xmlconf.ErrOperationFailed)
	if !dos.isExtended(&dos.Partitions[3]) || partFormat("dos", "8E") != "linux-lvm" {
		t.Fatal("dos types misread")
	}
	if k := dos.wantedKernelPart(&dos.Partitions[3]); k.length != 1024 {
		t.Fatalf("extended partition kernel length %d", k.length)
	}
	for _, bad := range []string{`{}`, `{"partitiontable":{"label":"gpt","sectorsize":513}}`,
		`{"partitiontable":{"label":"gpt","partitions":[{"node":"/dev/sda","start":1,"size":1}]}}`} {
		if _, err := parseSfdiskJSON([]byte(bad)); err == nil {
			t.Errorf("parsed %s", bad)
		}
	}
}

func TestPartName(t *testing.T) {
	for kname, want := range map[string]string{"sda": "sda3", "loop0": "loop0p3", "nvme0n1": "nvme0n1p3", "vdb": "vdb3", "mmcblk0": "mmcblk0p3"} {
		if got := (disk{kname: kname}).partName(3); got != want {
			t.Errorf("partName(%s) = %s, want %s", kname, got, want)
		}
	}
}

func TestCheckVolumeName(t *testing.T) {
	for name, ok := range map[string]bool{
		"disk.img": true, "a b": true, "ünï": true, "": false, ".": false, "..": false, "a/b": false,
		"/abs": false, "../x": false, "nul\x00": false, strings.Repeat("x", 255): true, strings.Repeat("x", 256): false,
	} {
		err := checkVolumeName(name)
		if ok != (err == nil) {
			t.Errorf("checkVolumeName(%q) = %v", name, err)
		}
		if err != nil {
			wantCode(t, err, xmlconf.ErrInvalidArg)
		}
	}
	for name, ok := range map[string]bool{
		"lv0": true, "data_1.2+3-x": true, "-lv": false, "a b": false, "snapshot1": false, "x_tmeta": false,
		"pvmove0": false, ".": false, strings.Repeat("l", 128): false, "é": false,
	} {
		if err := checkLVMName("logical volume", name); ok != (err == nil) {
			t.Errorf("checkLVMName(%q) = %v", name, err)
		}
	}
}

func TestParsePermissions(t *testing.T) {
	cases := []struct {
		name     string
		perm     *xmlconf.Permissions
		mode     uint32
		uid, gid int
		code     xmlconf.ErrorNumber
	}{
		{"nil", nil, 0o600, noChange, noChange, 0},
		{"mode", &xmlconf.Permissions{Mode: "0755"}, 0o755, noChange, noChange, 0},
		{"ids", &xmlconf.Permissions{Mode: "640", Owner: "107", Group: "-1"}, 0o640, 107, noChange, 0},
		{"bad mode", &xmlconf.Permissions{Mode: "0788"}, 0, 0, 0, xmlconf.ErrInvalidArg},
		{"big mode", &xmlconf.Permissions{Mode: "17777"}, 0, 0, 0, xmlconf.ErrInvalidArg},
		{"name owner", &xmlconf.Permissions{Owner: "qemu"}, 0, 0, 0, xmlconf.ErrInvalidArg},
		{"negative group", &xmlconf.Permissions{Group: "-2"}, 0, 0, 0, xmlconf.ErrInvalidArg},
		{"uid overflow", &xmlconf.Permissions{Owner: "4294967296"}, 0, 0, 0, xmlconf.ErrInvalidArg},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mode, uid, gid, err := parsePermissions(c.perm, 0o600)
			if c.code != 0 {
				wantCode(t, err, c.code)
				return
			}
			if err != nil || mode != c.mode || uid != c.uid || gid != c.gid {
				t.Fatalf("got %o %d %d %v", mode, uid, gid, err)
			}
		})
	}
}

func TestProbeImage(t *testing.T) {
	dir := t.TempDir()
	qcow2 := make([]byte, 512)
	copy(qcow2, "QFI\xfb")
	binary.BigEndian.PutUint32(qcow2[4:], 3)
	binary.BigEndian.PutUint64(qcow2[24:], 10<<30)
	vmdk := make([]byte, 512)
	copy(vmdk, "KDMV")
	binary.LittleEndian.PutUint64(vmdk[12:], 2048)
	iso := make([]byte, 16*2048+8)
	copy(iso[16*2048+1:], "CD001")
	vdi := make([]byte, 512)
	binary.LittleEndian.PutUint32(vdi[64:], 0xbeda107f)
	binary.LittleEndian.PutUint64(vdi[368:], 1<<20)
	cases := []struct {
		name string
		data []byte
		want imageFormat
	}{
		{"empty", nil, imageFormat{Format: "raw"}},
		{"zeros", make([]byte, 4096), imageFormat{Format: "raw"}},
		{"qcow2", qcow2, imageFormat{Format: "qcow2", VirtualSize: 10 << 30}},
		{"short qcow2", []byte("QFI\xfb\x00\x00\x00\x03"), imageFormat{Format: "qcow2"}},
		{"vmdk", vmdk, imageFormat{Format: "vmdk", VirtualSize: 1 << 20}},
		{"iso", iso, imageFormat{Format: "iso"}},
		{"vdi", vdi, imageFormat{Format: "vdi", VirtualSize: 1 << 20}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, c.name)
			mustOK(t, os.WriteFile(p, c.data, 0o600), "write")
			f, err := os.Open(p)
			mustOK(t, err, "open")
			defer f.Close()
			if got := probeImage(f); got != c.want {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestParseBlkidExport(t *testing.T) {
	s := parseBlkidExport([]byte("DEVNAME=/dev/loop0\nUUID=x\nTYPE=ext4\nUSAGE=filesystem\n"))
	if s.Type != "ext4" || s.PTType != "" || s.empty() {
		t.Fatalf("%+v", s)
	}
	s = parseBlkidExport([]byte("DEVNAME=/dev/loop0\nPTUUID=6220739d\nPTTYPE=dos\n"))
	if s.PTType != "dos" || s.String() != "dos" {
		t.Fatalf("%+v", s)
	}
	if !parseBlkidExport(nil).empty() {
		t.Fatal("nothing is not empty")
	}
}

func TestBLKPGABI(t *testing.T) {
	// _IO(0x12, 105): no direction, no size.
	if want := uintptr(0x12<<8 | 105); blkpgIoctl != want {
		t.Fatalf("BLKPG = %#x, want %#x", blkpgIoctl, want)
	}
	// struct blkpg_partition is 152 bytes on amd64 (2*8 + 4 + 64 + 64,
	// padded to 8); struct blkpg_ioctl_arg is 24.
	if part, arg := blkpgSizes(); runtime.GOARCH == "amd64" && (part != 152 || arg != 24) {
		t.Fatalf("sizeof blkpg_partition = %d, blkpg_ioctl_arg = %d", part, arg)
	}
	if unix.BLKPG_ADD_PARTITION != 1 || unix.BLKPG_DEL_PARTITION != 2 {
		t.Fatal("BLKPG op numbers")
	}
	b := alignedZeros(3<<20, 4096)
	if len(b) != 3<<20 || !isAligned(b, 4096) || !allZero(b) {
		t.Fatal("alignedZeros")
	}
}
