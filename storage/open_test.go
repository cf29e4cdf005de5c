package storage

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/govirt/govirt/xmlconf"
)

func TestTypes(t *testing.T) {
	if got := Types(); !reflect.DeepEqual(got, []string{"dir", "disk", "fs", "logical", "netfs"}) {
		t.Fatalf("Types() = %v", got)
	}
}

func TestOpenErrors(t *testing.T) {
	dev := []xmlconf.PoolDevice{{Path: "/dev/loop7"}}
	tgt := &xmlconf.PoolTarget{Path: "/srv/pool"}
	cases := []struct {
		name string
		def  *xmlconf.StoragePool
		code xmlconf.ErrorNumber
		msg  string
	}{
		{"nil", nil, xmlconf.ErrInvalidArg, "no storage pool definition"},
		{"no name", &xmlconf.StoragePool{Type: "dir", Target: tgt}, xmlconf.ErrInvalidArg, "no name"},
		{"iscsi", &xmlconf.StoragePool{Type: "iscsi", Name: "p"}, xmlconf.ErrConfigUnsupported, "storage pool type 'iscsi' is not supported"},
		{"dir without target", &xmlconf.StoragePool{Type: "dir", Name: "p"}, xmlconf.ErrInvalidArg, "has no target path"},
		{"relative target", &xmlconf.StoragePool{Type: "dir", Name: "p", Target: &xmlconf.PoolTarget{Path: "pool"}}, xmlconf.ErrInvalidArg, "is not absolute"},
		{"root target", &xmlconf.StoragePool{Type: "dir", Name: "p", Target: &xmlconf.PoolTarget{Path: "/"}}, xmlconf.ErrInvalidArg, "cannot use '/'"},
		{"dir bad mode", &xmlconf.StoragePool{Type: "dir", Name: "p", Target: &xmlconf.PoolTarget{Path: "/srv/p", Permissions: &xmlconf.Permissions{Mode: "x"}}}, xmlconf.ErrInvalidArg, "malformed octal mode"},
		{"fs without device", &xmlconf.StoragePool{Type: "fs", Name: "p", Target: tgt}, xmlconf.ErrInvalidArg, "exactly one source device"},
		{"fs relative device", &xmlconf.StoragePool{Type: "fs", Name: "p", Target: tgt, Source: xmlconf.PoolSource{Devices: []xmlconf.PoolDevice{{Path: "sdb"}}}}, xmlconf.ErrInvalidArg, "not absolute"},
		{"fs bad format", &xmlconf.StoragePool{Type: "fs", Name: "p", Target: tgt, Source: xmlconf.PoolSource{Devices: dev, Format: "ntfs3g"}}, xmlconf.ErrConfigUnsupported, "unknown filesystem format"},
		{"netfs no host", &xmlconf.StoragePool{Type: "netfs", Name: "p", Target: tgt, Source: xmlconf.PoolSource{Dir: "/e"}}, xmlconf.ErrInvalidArg, "exactly one source host"},
		{"netfs option injection", &xmlconf.StoragePool{Type: "netfs", Name: "p", Target: tgt, Source: xmlconf.PoolSource{Hosts: []xmlconf.PoolHost{{Name: "-oremount"}}, Dir: "/e"}}, xmlconf.ErrInvalidArg, "invalid source host"},
		{"netfs relative export", &xmlconf.StoragePool{Type: "netfs", Name: "p", Target: tgt, Source: xmlconf.PoolSource{Hosts: []xmlconf.PoolHost{{Name: "h"}}, Dir: "e"}}, xmlconf.ErrInvalidArg, "not an absolute path"},
		{"netfs comma in dir", &xmlconf.StoragePool{Type: "netfs", Name: "p", Target: tgt, Source: xmlconf.PoolSource{Hosts: []xmlconf.PoolHost{{Name: "h"}}, Dir: "/e,rw"}}, xmlconf.ErrInvalidArg, "source directory"},
		{"netfs bad format", &xmlconf.StoragePool{Type: "netfs", Name: "p", Target: tgt, Source: xmlconf.PoolSource{Hosts: []xmlconf.PoolHost{{Name: "h"}}, Dir: "/e", Format: "afs"}}, xmlconf.ErrConfigUnsupported, "'afs' is not supported"},
		{"logical bad vg", &xmlconf.StoragePool{Type: "logical", Name: "p", Source: xmlconf.PoolSource{Name: "-vg"}}, xmlconf.ErrInvalidArg, "not a valid volume group name"},
		{"logical bad pool name as vg", &xmlconf.StoragePool{Type: "logical", Name: "my pool"}, xmlconf.ErrInvalidArg, "not a valid volume group name"},
		{"disk two devices", &xmlconf.StoragePool{Type: "disk", Name: "p", Source: xmlconf.PoolSource{Devices: append(dev, dev...)}}, xmlconf.ErrInvalidArg, "exactly one source device"},
		{"disk bad label", &xmlconf.StoragePool{Type: "disk", Name: "p", Source: xmlconf.PoolSource{Devices: dev, Format: "sun"}}, xmlconf.ErrConfigUnsupported, "'sun' is not supported"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Open(c.def, Options{})
			wantCode(t, err, c.code)
			if !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("error %q does not contain %q", err, c.msg)
			}
		})
	}
}

func TestOpenDefaults(t *testing.T) {
	requireTools(t, "lvm", "sfdisk", "blkid", "wipefs")
	p, err := Open(&xmlconf.StoragePool{Type: "logical", Name: "vmvg", Target: &xmlconf.PoolTarget{Path: "/elsewhere"}}, Options{})
	mustOK(t, err, "open logical")
	if d := p.Def(); d.Source.Name != "vmvg" || d.Target.Path != "/dev/vmvg" {
		t.Fatalf("logical defaults: source name %q target %q", d.Source.Name, d.Target.Path)
	}
	p, err = Open(&xmlconf.StoragePool{Type: "disk", Name: "d", Source: xmlconf.PoolSource{Devices: []xmlconf.PoolDevice{{Path: "/dev/sdz"}}}}, Options{})
	mustOK(t, err, "open disk")
	if d := p.Def(); d.Target.Path != "/dev" {
		t.Fatalf("disk default target %q", d.Target.Path)
	}
	// The definition passed in is not changed.
	def := &xmlconf.StoragePool{Type: "dir", Name: "d", Target: &xmlconf.PoolTarget{Path: "/srv/a/../b"}}
	p, err = Open(def, Options{})
	mustOK(t, err, "open dir")
	if def.Target.Path != "/srv/a/../b" || p.Def().Target.Path != "/srv/b" {
		t.Fatalf("paths: caller's %q, pool's %q", def.Target.Path, p.Def().Target.Path)
	}
}

// TestMissingTools: with nothing to be found, each backend names the tool
// and the Debian package that has it.
func TestMissingTools(t *testing.T) {
	empty := Options{SearchPath: t.TempDir()}
	dev := []xmlconf.PoolDevice{{Path: "/dev/loop7"}}
	tgt := &xmlconf.PoolTarget{Path: "/srv/pool"}
	cases := []struct {
		def  *xmlconf.StoragePool
		want string
	}{
		{&xmlconf.StoragePool{Type: "logical", Name: "vg"}, "'lvm' was not found (install the Debian package lvm2)"},
		{&xmlconf.StoragePool{Type: "disk", Name: "d", Source: xmlconf.PoolSource{Devices: dev}}, "'sfdisk' was not found (install the Debian package fdisk)"},
		{&xmlconf.StoragePool{Type: "fs", Name: "f", Target: tgt, Source: xmlconf.PoolSource{Devices: dev}}, "'mount' was not found (install the Debian package mount)"},
		{&xmlconf.StoragePool{Type: "netfs", Name: "n", Target: tgt, Source: xmlconf.PoolSource{Hosts: []xmlconf.PoolHost{{Name: "h"}}, Dir: "/e"}}, "'mount' was not found"},
	}
	for _, c := range cases {
		t.Run(c.def.Type, func(t *testing.T) {
			_, err := Open(c.def, empty)
			wantCode(t, err, xmlconf.ErrConfigUnsupported)
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not contain %q", err, c.want)
			}
		})
	}
	// A dir pool needs no tools.
	if _, err := Open(&xmlconf.StoragePool{Type: "dir", Name: "d", Target: tgt}, empty); err != nil {
		t.Fatal(err)
	}
	// A tool override that is not executable is reported as such.
	_, err := Open(&xmlconf.StoragePool{Type: "logical", Name: "vg"}, Options{Tools: map[string]string{"lvm": "/nonexistent/lvm"}})
	wantCode(t, err, xmlconf.ErrConfigUnsupported)
	_, err = FindSources(context.Background(), "netfs", &xmlconf.PoolSource{Hosts: []xmlconf.PoolHost{{Name: "127.0.0.1"}}}, empty)
	wantCode(t, err, xmlconf.ErrConfigUnsupported)
	if !strings.Contains(err.Error(), "nfs-common") {
		t.Fatalf("error %q does not name nfs-common", err)
	}
}

func TestBuildFlagsChecked(t *testing.T) {
	p, err := Open(&xmlconf.StoragePool{Type: "dir", Name: "d", Target: &xmlconf.PoolTarget{Path: filepath.Join(t.TempDir(), "p")}}, Options{})
	mustOK(t, err, "open")
	ctx := context.Background()
	for _, f := range []BuildFlags{BuildRepair, BuildResize, BuildOverwrite | BuildNoOverwrite, 16} {
		wantCode(t, p.Build(ctx, f), xmlconf.ErrInvalidArg)
	}
	if _, err := os.Stat(p.Def().Target.Path); !os.IsNotExist(err) {
		t.Fatalf("a refused build made the directory: %v", err)
	}
	err = p.Build(ctx, BuildRepair)
	if err.Error() != "invalid argument: unsupported flags (0x1) in function virStoragePoolBuild" {
		t.Fatalf("message %q", err)
	}
}

func TestFindSourcesNoDiscovery(t *testing.T) {
	ctx := context.Background()
	for _, typ := range []string{"dir", "fs", "disk"} {
		_, err := FindSources(ctx, typ, nil, Options{})
		wantCode(t, err, xmlconf.ErrNoSupport)
	}
	_, err := FindSources(ctx, "floppy", nil, Options{})
	wantCode(t, err, xmlconf.ErrInvalidArg)
	_, err = FindSources(ctx, "netfs", nil, Options{})
	wantCode(t, err, xmlconf.ErrInvalidArg)
	if !strings.Contains(err.Error(), "hostname must be specified") {
		t.Fatalf("message %q", err)
	}
	_, err = FindSources(ctx, "netfs", &xmlconf.PoolSource{Hosts: []xmlconf.PoolHost{{Name: "-h"}}}, Options{})
	wantCode(t, err, xmlconf.ErrInvalidArg)
	_, err = FindSources(ctx, "netfs", &xmlconf.PoolSource{Hosts: []xmlconf.PoolHost{{Name: "h"}}, Format: "cifs"}, Options{})
	wantCode(t, err, xmlconf.ErrConfigUnsupported)
}

// TestFindSourcesNetFSCommand runs discovery against a stand-in showmount
// that records its arguments and prints recorded-looking output: the
// command line and the parsing are what is tested (there is no NFS server
// here).
func TestFindSourcesNetFSCommand(t *testing.T) {
	dir := t.TempDir()
	argsFile := filepath.Join(dir, "args")
	script := filepath.Join(dir, "showmount")
	body := "#!/bin/sh\nprintf '%s\\n' \"$@\" > " + argsFile + "\n" +
		"cat <<'EOF'\n/srv/images                 10.1.0.0/16\n/srv/iso store              (everyone)\nEOF\n"
	mustOK(t, os.WriteFile(script, []byte(body), 0o755), "write script")
	list, err := FindSources(context.Background(), "netfs",
		&xmlconf.PoolSource{Hosts: []xmlconf.PoolHost{{Name: "nfs1.example"}}, Format: "nfs"},
		Options{Tools: map[string]string{"showmount": script}})
	mustOK(t, err, "find sources")
	args, err := os.ReadFile(argsFile)
	mustOK(t, err, "read args")
	if got := strings.Fields(string(args)); !reflect.DeepEqual(got, []string{"--no-headers", "--exports", "nfs1.example"}) {
		t.Fatalf("showmount args %q", got)
	}
	want := &xmlconf.PoolSourceList{Sources: []xmlconf.PoolSource{
		{Hosts: []xmlconf.PoolHost{{Name: "nfs1.example"}}, Dir: "/srv/images", Format: "nfs"},
		{Hosts: []xmlconf.PoolHost{{Name: "nfs1.example"}}, Dir: "/srv/iso store", Format: "nfs"},
	}}
	if !reflect.DeepEqual(list, want) {
		t.Fatalf("got %+v\nwant %+v", list, want)
	}

	// A failing showmount is OPERATION_FAILED with its message.
	mustOK(t, os.WriteFile(script, []byte("#!/bin/sh\necho 'clnt_create: RPC: Port mapper failure' >&2\nexit 1\n"), 0o755), "write script")
	_, err = FindSources(context.Background(), "netfs", &xmlconf.PoolSource{Hosts: []xmlconf.PoolHost{{Name: "nfs1.example"}}}, Options{Tools: map[string]string{"showmount": script}})
	wantCode(t, err, xmlconf.ErrOperationFailed)
	if !strings.Contains(err.Error(), "listing the NFS exports of 'nfs1.example' failed") || !strings.Contains(err.Error(), "Port mapper failure") {
		t.Fatalf("message %q", err)
	}
}

// TestFindSourcesNetFSLoopback asks the real showmount for the exports of
// this machine, which has no NFS server: the error must say so.
func TestFindSourcesNetFSLoopback(t *testing.T) {
	requireTools(t, "showmount")
	_, err := FindSources(context.Background(), "netfs", &xmlconf.PoolSource{Hosts: []xmlconf.PoolHost{{Name: "127.0.0.1"}}}, Options{})
	wantCode(t, err, xmlconf.ErrOperationFailed)
	if !strings.Contains(err.Error(), "listing the NFS exports of '127.0.0.1' failed") || !strings.Contains(err.Error(), "RPC") {
		t.Fatalf("message %q", err)
	}
	t.Logf("showmount against loopback: %v", err)
}

func TestNetFSMountCommand(t *testing.T) {
	tgt := "/srv/nfs pool"
	cases := []struct {
		name   string
		src    xmlconf.PoolSource
		args   []string
		helper string
	}{
		{"nfs", xmlconf.PoolSource{Hosts: []xmlconf.PoolHost{{Name: "nfs1"}}, Dir: "/export/vm", Format: "nfs"},
			[]string{"-t", "nfs", "-o", "nodev,nosuid,noexec", "--", "nfs1:/export/vm", tgt}, "mount.nfs"},
		{"auto is nfs, port, ipv6", xmlconf.PoolSource{Hosts: []xmlconf.PoolHost{{Name: "fd00::1", Port: 2049}}, Dir: "/e"},
			[]string{"-t", "nfs", "-o", "nodev,nosuid,noexec,port=2049", "--", "[fd00::1]:/e", tgt}, "mount.nfs"},
		{"cifs", xmlconf.PoolSource{Hosts: []xmlconf.PoolHost{{Name: "smb1"}}, Dir: "share", Format: "cifs"},
			[]string{"-t", "cifs", "-o", "nodev,nosuid,noexec,guest", "--", "//smb1/share", tgt}, "mount.cifs"},
		{"glusterfs", xmlconf.PoolSource{Hosts: []xmlconf.PoolHost{{Name: "g1"}}, Dir: "/gv0", Format: "glusterfs"},
			[]string{"-t", "glusterfs", "-o", "nodev,nosuid,noexec,direct-io-mode=1", "--", "g1:gv0", tgt}, "mount.glusterfs"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, helper, err := netfsMount(&xmlconf.StoragePool{Name: "n", Source: c.src}, tgt)
			mustOK(t, err, "netfsMount")
			if got := m.args(); !reflect.DeepEqual(got, c.args) || helper != c.helper {
				t.Fatalf("args %q helper %s\nwant %q %s", got, helper, c.args, c.helper)
			}
		})
	}
	m := mountSpec{Source: "/img", Target: "/mnt", FSType: "ext4", Loop: true}
	if got := m.args(); !reflect.DeepEqual(got, []string{"-t", "ext4", "-o", "loop", "--", "/img", "/mnt"}) {
		t.Fatalf("loop args %q", got)
	}
}
