package storage

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/govirt/govirt/xmlconf"
)

func init() {
	register("netfs", backendType{open: openNetFS, findSources: findNetFSSources, zeroCapacityOK: true})
}

// netfsBackend is a network filesystem export (NFS, CIFS or GlusterFS)
// mounted on the pool's target; volumes are files in it.
type netfsBackend struct {
	e      *env
	m      mountSpec
	helper string // mount.<type> that mount needs for this format
	target string
	perm   *xmlconf.Permissions
	files  fileVolumes
}

var _ Backend = (*netfsBackend)(nil)

// netfsMountOptions are the options every network pool is mounted with:
// its files are guest disks, never devices or programs of the host.
var netfsMountOptions = []string{"nodev", "nosuid", "noexec"}

func openNetFS(def *xmlconf.StoragePool, e *env) (Backend, error) {
	target, perm, err := poolTarget(def)
	if err != nil {
		return nil, err
	}
	m, helper, err := netfsMount(def, target)
	if err != nil {
		return nil, err
	}
	if err := e.need("mount", "umount"); err != nil {
		return nil, err
	}
	b := &netfsBackend{e: e, m: m, helper: helper, target: target, perm: perm}
	b.files = fileVolumes{dir: target, log: e.log, ready: b.m.checkMounted}
	return b, nil
}

// netfsMount builds the mount of a netfs pool from its source: one host,
// the exported directory (a share name for CIFS, a volume for GlusterFS)
// and the format.
func netfsMount(def *xmlconf.StoragePool, target string) (mountSpec, string, error) {
	src := &def.Source
	if len(src.Hosts) != 1 || src.Hosts[0].Name == "" {
		return mountSpec{}, "", errf(xmlconf.ErrInvalidArg, "storage pool '%s' needs exactly one source host", def.Name)
	}
	h := src.Hosts[0]
	if strings.ContainsAny(h.Name, "/ \t\n,") || strings.HasPrefix(h.Name, "-") {
		return mountSpec{}, "", errf(xmlconf.ErrInvalidArg, "storage pool '%s': invalid source host name '%s'", def.Name, h.Name)
	}
	if h.Port < 0 || h.Port > 65535 {
		return mountSpec{}, "", errf(xmlconf.ErrInvalidArg, "storage pool '%s': invalid port %d", def.Name, h.Port)
	}
	if src.Dir == "" || strings.ContainsAny(src.Dir, "\n,") {
		return mountSpec{}, "", errf(xmlconf.ErrInvalidArg, "storage pool '%s' needs a source directory", def.Name)
	}
	host := h.Name
	if strings.Contains(host, ":") { // IPv6 literal
		host = "[" + strings.Trim(host, "[]") + "]"
	}
	m := mountSpec{Target: target, Options: append([]string(nil), netfsMountOptions...)}
	format := src.Format
	if format == "" || format == "auto" {
		format = "nfs"
	}
	switch format {
	case "nfs":
		if !strings.HasPrefix(src.Dir, "/") {
			return mountSpec{}, "", errf(xmlconf.ErrInvalidArg, "storage pool '%s': NFS export '%s' is not an absolute path", def.Name, src.Dir)
		}
		m.Source = host + ":" + src.Dir
		m.FSType = "nfs"
		if h.Port != 0 {
			m.Options = append(m.Options, "port="+strconv.Itoa(h.Port))
		}
		return m, "mount.nfs", nil
	case "cifs":
		m.Source = "//" + host + "/" + strings.TrimPrefix(src.Dir, "/")
		m.FSType = "cifs"
		m.Options = append(m.Options, "guest")
		if h.Port != 0 {
			m.Options = append(m.Options, "port="+strconv.Itoa(h.Port))
		}
		return m, "mount.cifs", nil
	case "glusterfs":
		m.Source = host + ":" + strings.TrimPrefix(src.Dir, "/")
		m.FSType = "glusterfs"
		m.Options = append(m.Options, "direct-io-mode=1")
		return m, "mount.glusterfs", nil
	}
	return mountSpec{}, "", errf(xmlconf.ErrConfigUnsupported, "network filesystem format '%s' is not supported", format)
}

func (b *netfsBackend) CheckActive(ctx context.Context) (bool, error) { return b.m.isMounted() }

// Build creates the mount point; the export is the server's business.
func (b *netfsBackend) Build(ctx context.Context, flags BuildFlags) error {
	return buildTargetDir(b.target, b.perm)
}

func (b *netfsBackend) Start(ctx context.Context) error {
	if err := b.e.need(b.helper); err != nil {
		return err
	}
	return b.m.mount(ctx, b.e)
}

func (b *netfsBackend) Stop(ctx context.Context) error { return b.m.unmount(ctx, b.e) }

func (b *netfsBackend) Delete(ctx context.Context) error { return removeTargetDir(b.target) }

func (b *netfsBackend) Info(ctx context.Context) (Info, error) { return b.files.info() }

func (b *netfsBackend) Volumes(ctx context.Context) ([]*xmlconf.StorageVolume, error) {
	return b.files.list(ctx)
}

func (b *netfsBackend) CreateVolume(ctx context.Context, req *xmlconf.StorageVolume) (*xmlconf.StorageVolume, error) {
	return b.files.create(ctx, req)
}

func (b *netfsBackend) DeleteVolume(ctx context.Context, vol *xmlconf.StorageVolume, zeroed bool) error {
	return b.files.remove(ctx, vol, zeroed)
}

// findNetFSSources lists the NFS exports of the host named in spec with
// showmount.
func findNetFSSources(ctx context.Context, spec *xmlconf.PoolSource, e *env) (*xmlconf.PoolSourceList, error) {
	if len(spec.Hosts) != 1 || spec.Hosts[0].Name == "" {
		return nil, errf(xmlconf.ErrInvalidArg, "hostname must be specified for netfs sources")
	}
	host := spec.Hosts[0].Name
	if strings.HasPrefix(host, "-") || strings.ContainsAny(host, "/ \t\n") {
		return nil, errf(xmlconf.ErrInvalidArg, "invalid host name '%s'", host)
	}
	switch spec.Format {
	case "", "auto", "nfs":
	default:
		return nil, errf(xmlconf.ErrConfigUnsupported, "source discovery of '%s' exports is not supported", spec.Format)
	}
	out, err := e.run(ctx, "showmount", nil, "--no-headers", "--exports", host)
	if err != nil {
		return nil, toolFailed(fmt.Sprintf("listing the NFS exports of '%s' failed", host), err)
	}
	list := &xmlconf.PoolSourceList{}
	for _, dir := range parseShowmountExports(out) {
		list.Sources = append(list.Sources, xmlconf.PoolSource{
			Hosts:  []xmlconf.PoolHost{{Name: host}},
			Dir:    dir,
			Format: "nfs",
		})
	}
	return list, nil
}

// parseShowmountExports reads "showmount --no-headers --exports" output:
// one export per line, the path (which may hold spaces) then blanks then
// the client list ("*", "(everyone)", "10.0.0.0/24,host"). Lines that do
// not start with '/' (a header, a blank line) are skipped.
func parseShowmountExports(out []byte) []string {
	var dirs []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), " \t\r")
		if !strings.HasPrefix(line, "/") {
			continue
		}
		path := line
		if i := strings.LastIndexAny(line, " \t"); i > 0 {
			path = strings.TrimRight(line[:i], " \t")
		}
		if path != "" {
			dirs = append(dirs, path)
		}
	}
	return dirs
}
