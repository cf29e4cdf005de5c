package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/govirt/govirt/xmlconf"
)

func init() {
	register("logical", backendType{open: openLogical, findSources: findLogicalSources})
}

// logicalBackend is an LVM volume group; volumes are its logical volumes.
// Everything goes through the lvm2 tools, which lock the metadata
// themselves, so concurrent creates (also from other processes) are safe.
type logicalBackend struct {
	e       *env
	vg      string
	devices []string
}

var _ Backend = (*logicalBackend)(nil)

func openLogical(def *xmlconf.StoragePool, e *env) (Backend, error) {
	vg := def.Source.Name
	if vg == "" {
		vg = def.Name
	}
	if err := checkLVMName("volume group", vg); err != nil {
		return nil, err
	}
	var devs []string
	for _, d := range def.Source.Devices {
		p, err := cleanDevicePath(def.Name, d.Path)
		if err != nil {
			return nil, err
		}
		devs = append(devs, p)
	}
	if err := e.need("lvm"); err != nil {
		return nil, err
	}
	// The target of a logical pool is always the volume group's directory.
	def.Source.Name = vg
	if def.Target == nil {
		def.Target = &xmlconf.PoolTarget{}
	}
	def.Target.Path = "/dev/" + vg
	return &logicalBackend{e: e, vg: vg, devices: devs}, nil
}

// lvmReservedParts may not appear in LVM names (lvm(8), "VALID NAMES").
var lvmReservedParts = []string{"_cdata", "_cmeta", "_corig", "_iorig", "_mimage", "_mlog", "_pmspare", "_rimage", "_rmeta", "_tdata", "_tmeta", "_vdata", "_vorigin", "_wcorig"}

// checkLVMName checks a VG or LV name against LVM's rules: letters,
// digits and "+_.-", not starting with '-', not "." or "..", at most 127
// characters, no reserved parts.
func checkLVMName(what, name string) error {
	bad := func(why string) error {
		return errf(xmlconf.ErrInvalidArg, "'%s' is not a valid %s name: %s", name, what, why)
	}
	if name == "" {
		return errf(xmlconf.ErrInvalidArg, "%s name must not be empty", what)
	}
	if len(name) > 127 {
		return bad("longer than 127 characters")
	}
	if name == "." || name == ".." || name[0] == '-' {
		return bad("reserved")
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("+_.-", r)) {
			return bad(fmt.Sprintf("character %q is not allowed", r))
		}
	}
	if what == "logical volume" {
		if strings.HasPrefix(name, "snapshot") || strings.HasPrefix(name, "pvmove") {
			return bad("reserved prefix")
		}
		for _, p := range lvmReservedParts {
			if strings.Contains(name, p) {
				return bad("contains reserved '" + p + "'")
			}
		}
	}
	return nil
}

// lvmReport runs an lvm reporting command (vgs, lvs, pvs) with JSON output
// and sizes in bytes, returning the rows of its one report.
func (b *logicalBackend) lvmReport(ctx context.Context, cmd, fields string, args ...string) ([]map[string]string, error) {
	return lvmReport(ctx, b.e, cmd, fields, args...)
}

func lvmReport(ctx context.Context, e *env, cmd, fields string, args ...string) ([]map[string]string, error) {
	full := append([]string{cmd, "--reportformat", "json", "--units", "b", "--nosuffix", "-o", fields}, args...)
	out, err := e.run(ctx, "lvm", nil, full...)
	if err != nil {
		return nil, err
	}
	return parseLVMReport(out)
}

// parseLVMReport reads lvm's "--reportformat json" output:
// {"report":[{"vg":[{"vg_name":"x",...}]}]}, every value a string.
func parseLVMReport(out []byte) ([]map[string]string, error) {
	var doc struct {
		Report []map[string][]map[string]string `json:"report"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return nil, errf(xmlconf.ErrInternalError, "parse lvm report: %w", err)
	}
	var rows []map[string]string
	for _, r := range doc.Report {
		for _, v := range r {
			rows = append(rows, v...)
		}
	}
	return rows, nil
}

// lvmFailed reports a failed lvm command. When the kernel lacks
// device-mapper (nothing can be activated) the message says so first.
func lvmFailed(what string, err error) error {
	var ce *cmdError
	if errors.As(err, &ce) {
		s := ce.Stderr
		if strings.Contains(s, "device-mapper") || strings.Contains(s, "/dev/mapper/control") {
			return errf(xmlconf.ErrOperationFailed, "logical volume activation failed: device-mapper is not available in this kernel (%s: %w)", what, err)
		}
	}
	return toolFailed(what, err)
}

// vgNotFound reports whether err is lvm saying the VG does not exist.
func vgNotFound(err error) bool {
	var ce *cmdError
	return errors.As(err, &ce) && strings.Contains(ce.Stderr, "not found")
}

func parseBytes(row map[string]string, field string) (uint64, error) {
	s := strings.TrimSpace(row[field])
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, errf(xmlconf.ErrInternalError, "lvm reported %s %q: %w", field, s, err)
	}
	return n, nil
}

// CheckActive reports whether the volume group exists and all its
// logical volumes are active (a group without volumes counts as active).
func (b *logicalBackend) CheckActive(ctx context.Context) (bool, error) {
	if _, err := b.lvmReport(ctx, "vgs", "vg_name", "--", b.vg); err != nil {
		if vgNotFound(err) {
			return false, nil
		}
		return false, lvmFailed("checking volume group '"+b.vg+"' failed", err)
	}
	rows, err := b.lvmReport(ctx, "lvs", "lv_name,lv_attr", "--", b.vg)
	if err != nil {
		return false, lvmFailed("listing the logical volumes of '"+b.vg+"' failed", err)
	}
	for _, r := range rows {
		if a := r["lv_attr"]; len(a) < 5 || a[4] != 'a' {
			return false, nil
		}
	}
	return true, nil
}

// Build makes every source device a physical volume and creates the
// volume group on them. Unless overwriting, devices carrying any signature
// (an old PV included) are refused, as libvirt does.
func (b *logicalBackend) Build(ctx context.Context, flags BuildFlags) error {
	if len(b.devices) == 0 {
		return errf(xmlconf.ErrInvalidArg, "volume group '%s' needs at least one source device to build", b.vg)
	}
	for _, d := range b.devices {
		var st unix.Stat_t
		if err := unix.Stat(d, &st); err != nil {
			return sysErr("access source device", d, err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFBLK {
			return errf(xmlconf.ErrOperationFailed, "source device '%s' is not a block device", d)
		}
		if err := claimDevice(d); err != nil {
			return err
		}
		if flags&BuildOverwrite == 0 {
			sig, err := probeSignature(ctx, b.e, d)
			if err != nil {
				return err
			}
			if !sig.empty() {
				return errf(xmlconf.ErrStoragePoolBuilt, "Device '%s' already formatted using '%s'", d, sig)
			}
		}
	}
	var made []string
	undo := func() {
		for _, d := range made {
			if _, err := b.e.run(ctx, "lvm", nil, "pvremove", "-y", "--", d); err != nil {
				b.e.log.Warn("remove physical volume after failed build", "device", d, "err", err)
			}
		}
	}
	for _, d := range b.devices {
		if flags&BuildOverwrite != 0 {
			if _, err := b.e.run(ctx, "wipefs", nil, "-a", "-q", "--", d); err != nil {
				undo()
				return toolFailed(fmt.Sprintf("wiping signatures of '%s' failed", d), err)
			}
		}
		if _, err := b.e.run(ctx, "lvm", nil, "pvcreate", "-y", "--", d); err != nil {
			undo()
			return lvmFailed(fmt.Sprintf("creating a physical volume on '%s' failed", d), err)
		}
		made = append(made, d)
	}
	args := append([]string{"vgcreate", "-y", "--", b.vg}, b.devices...)
	if _, err := b.e.run(ctx, "lvm", nil, args...); err != nil {
		undo()
		return lvmFailed(fmt.Sprintf("creating volume group '%s' failed", b.vg), err)
	}
	return nil
}

func (b *logicalBackend) Start(ctx context.Context) error {
	if _, err := b.e.run(ctx, "lvm", nil, "vgchange", "-aly", "--", b.vg); err != nil {
		return lvmFailed(fmt.Sprintf("activating volume group '%s' failed", b.vg), err)
	}
	return nil
}

func (b *logicalBackend) Stop(ctx context.Context) error {
	if _, err := b.e.run(ctx, "lvm", nil, "vgchange", "-aln", "--", b.vg); err != nil {
		return lvmFailed(fmt.Sprintf("deactivating volume group '%s' failed", b.vg), err)
	}
	return nil
}

// Delete removes the volume group with all its logical volumes and wipes
// the PV labels of its devices.
func (b *logicalBackend) Delete(ctx context.Context) error {
	rows, err := b.lvmReport(ctx, "pvs", "pv_name,vg_name")
	if err != nil {
		return lvmFailed("listing physical volumes failed", err)
	}
	var pvs []string
	for _, r := range rows {
		if r["vg_name"] == b.vg {
			pvs = append(pvs, r["pv_name"])
		}
	}
	if len(pvs) == 0 {
		return errf(xmlconf.ErrOperationFailed, "volume group '%s' not found", b.vg)
	}
	if _, err := b.e.run(ctx, "lvm", nil, "vgremove", "-f", "-y", "--", b.vg); err != nil {
		return lvmFailed(fmt.Sprintf("removing volume group '%s' failed", b.vg), err)
	}
	for _, pv := range pvs {
		if _, err := b.e.run(ctx, "lvm", nil, "pvremove", "-y", "--", pv); err != nil {
			return lvmFailed(fmt.Sprintf("removing physical volume '%s' failed", pv), err)
		}
	}
	return nil
}

// Info measures the volume group. A group that lost physical volumes
// (a disk gone, a loop device detached) is an error: LVM would carry on
// with the rest, but the pool's backing is no longer whole.
func (b *logicalBackend) Info(ctx context.Context) (Info, error) {
	rows, err := b.lvmReport(ctx, "vgs", "vg_size,vg_free,vg_missing_pv_count", "--", b.vg)
	if err != nil {
		return Info{}, lvmFailed(fmt.Sprintf("reading volume group '%s' failed", b.vg), err)
	}
	if len(rows) != 1 {
		return Info{}, errf(xmlconf.ErrOperationFailed, "volume group '%s' not found", b.vg)
	}
	size, err := parseBytes(rows[0], "vg_size")
	if err != nil {
		return Info{}, err
	}
	free, err := parseBytes(rows[0], "vg_free")
	if err != nil {
		return Info{}, err
	}
	if missing, err := parseBytes(rows[0], "vg_missing_pv_count"); err != nil {
		return Info{}, err
	} else if missing > 0 {
		return Info{}, errf(xmlconf.ErrOperationFailed, "volume group '%s' is missing %d of its physical volumes", b.vg, missing)
	}
	if free > size {
		free = size
	}
	return Info{Capacity: size, Allocation: size - free, Available: free}, nil
}

const lvFields = "lv_name,lv_uuid,lv_size,lv_path,lv_attr"

func (b *logicalBackend) Volumes(ctx context.Context) ([]*xmlconf.StorageVolume, error) {
	rows, err := b.lvmReport(ctx, "lvs", lvFields, "--", b.vg)
	if err != nil {
		return nil, lvmFailed(fmt.Sprintf("listing the logical volumes of '%s' failed", b.vg), err)
	}
	var vols []*xmlconf.StorageVolume
	for _, r := range rows {
		if a := r["lv_attr"]; a != "" && a[0] == 't' {
			continue // a thin pool is no volume
		}
		v, err := b.lvVolume(r)
		if err != nil {
			return nil, err
		}
		vols = append(vols, v)
	}
	return vols, nil
}

// lvVolume turns an lvs row into a volume: key the LV UUID, path
// /dev/VG/LV.
func (b *logicalBackend) lvVolume(r map[string]string) (*xmlconf.StorageVolume, error) {
	size, err := parseBytes(r, "lv_size")
	if err != nil {
		return nil, err
	}
	path := r["lv_path"]
	if path == "" {
		path = "/dev/" + b.vg + "/" + r["lv_name"]
	}
	v := &xmlconf.StorageVolume{
		Type:          "block",
		Name:          r["lv_name"],
		Key:           r["lv_uuid"],
		Capacity:      size,
		Allocation:    size,
		AllocationSet: true,
		Physical:      size,
		Target:        xmlconf.VolTarget{Path: path},
	}
	var st unix.Stat_t
	if unix.Stat(path, &st) == nil {
		v.Target.Permissions = statPermissions(&st)
	}
	return v, nil
}

// CreateVolume creates a fully allocated logical volume of at least the
// requested capacity (LVM rounds up to whole extents). A smaller
// allocation is not honoured: sparse LVs need thin provisioning.
func (b *logicalBackend) CreateVolume(ctx context.Context, req *xmlconf.StorageVolume) (*xmlconf.StorageVolume, error) {
	if err := checkLVMName("logical volume", req.Name); err != nil {
		return nil, err
	}
	switch req.Target.Format {
	case "", "raw", "none":
	default:
		return nil, errf(xmlconf.ErrConfigUnsupported, "volume format '%s' is not supported in a logical pool", req.Target.Format)
	}
	mode, uid, gid, err := parsePermissions(req.Target.Permissions, 0o600)
	if err != nil {
		return nil, err
	}
	if req.AllocationSet && req.Allocation < req.Capacity {
		b.e.log.Debug("allocating logical volume fully", "vol", req.Name, "allocation", req.Allocation, "capacity", req.Capacity)
	}
	lv := b.vg + "/" + req.Name
	_, err = b.e.run(ctx, "lvm", nil, "lvcreate", "-y", "--name", req.Name, "-L", strconv.FormatUint(req.Capacity, 10)+"b", "--", b.vg)
	if err != nil {
		if ce := (*cmdError)(nil); errors.As(err, &ce) && strings.Contains(ce.Stderr, "already exists") {
			return nil, errf(xmlconf.ErrStorageVolExist, "'%s'", req.Name)
		}
		b.removeLeftover(req.Name)
		return nil, lvmFailed(fmt.Sprintf("creating logical volume '%s' failed", lv), err)
	}
	rows, err := b.lvmReport(ctx, "lvs", lvFields, "--", lv)
	if err == nil && len(rows) != 1 {
		err = fmt.Errorf("lvs reported %d rows", len(rows))
	}
	if err != nil {
		b.removeLeftover(req.Name)
		return nil, lvmFailed(fmt.Sprintf("reading new logical volume '%s' failed", lv), err)
	}
	vol, err := b.lvVolume(rows[0])
	if err != nil {
		b.removeLeftover(req.Name)
		return nil, err
	}
	if req.Target.Permissions != nil {
		if err := setNodePermissions(vol.Target.Path, mode, uid, gid); err != nil {
			b.removeLeftover(req.Name)
			return nil, err
		}
		var st unix.Stat_t
		if unix.Stat(vol.Target.Path, &st) == nil {
			vol.Target.Permissions = statPermissions(&st)
		}
	}
	return vol, nil
}

// removeLeftover removes an LV a failed create may have left (lvcreate
// normally rolls back itself). It runs with its own context: the caller's
// may be what was cancelled.
func (b *logicalBackend) removeLeftover(name string) {
	ctx := context.Background()
	rows, err := b.lvmReport(ctx, "lvs", "lv_name", "--", b.vg)
	if err != nil {
		b.e.log.Warn("check for a half-created logical volume", "vg", b.vg, "lv", name, "err", err)
		return
	}
	for _, r := range rows {
		if r["lv_name"] == name {
			if _, err := b.e.run(ctx, "lvm", nil, "lvremove", "-f", "-y", "--", b.vg+"/"+name); err != nil {
				b.e.log.Warn("remove half-created logical volume", "vg", b.vg, "lv", name, "err", err)
			}
		}
	}
}

// setNodePermissions applies a volume's requested mode and ownership to
// its device node.
func setNodePermissions(path string, mode uint32, uid, gid int) error {
	if err := unix.Chmod(path, mode); err != nil {
		return sysErr("set the mode of", path, err)
	}
	if uid != noChange || gid != noChange {
		if err := unix.Chown(path, uid, gid); err != nil {
			return sysErr("change the owner of", path, err)
		}
	}
	return nil
}

// DeleteVolume removes the logical volume, zeroing it first (through its
// active device node) when asked.
func (b *logicalBackend) DeleteVolume(ctx context.Context, vol *xmlconf.StorageVolume, zeroed bool) error {
	if err := checkLVMName("logical volume", vol.Name); err != nil {
		return err
	}
	if zeroed {
		var st unix.Stat_t
		if err := unix.Stat(vol.Target.Path, &st); err != nil {
			return errf(xmlconf.ErrOperationInvalid, "cannot zero logical volume '%s': it is not active (%w)", vol.Name, err)
		}
		if err := zeroBlockDevice(ctx, vol.Target.Path); err != nil {
			return err
		}
	}
	lv := b.vg + "/" + vol.Name
	if _, err := b.e.run(ctx, "lvm", nil, "lvremove", "-f", "-y", "--", lv); err != nil {
		return lvmFailed(fmt.Sprintf("removing logical volume '%s' failed", lv), err)
	}
	return nil
}

// findLogicalSources lists the volume groups of this host with their
// physical volumes.
func findLogicalSources(ctx context.Context, spec *xmlconf.PoolSource, e *env) (*xmlconf.PoolSourceList, error) {
	rows, err := lvmReport(ctx, e, "pvs", "pv_name,vg_name")
	if err != nil {
		return nil, lvmFailed("listing physical volumes failed", err)
	}
	return groupPVs(rows), nil
}

// groupPVs turns pvs rows into one source per volume group, sorted by
// name, with its devices; PVs in no group are left out.
func groupPVs(rows []map[string]string) *xmlconf.PoolSourceList {
	byVG := map[string][]string{}
	for _, r := range rows {
		if vg := r["vg_name"]; vg != "" {
			byVG[vg] = append(byVG[vg], r["pv_name"])
		}
	}
	names := make([]string, 0, len(byVG))
	for n := range byVG {
		names = append(names, n)
	}
	sort.Strings(names)
	list := &xmlconf.PoolSourceList{}
	for _, n := range names {
		src := xmlconf.PoolSource{Name: n, Format: "lvm2"}
		pvs := byVG[n]
		sort.Strings(pvs)
		for _, pv := range pvs {
			src.Devices = append(src.Devices, xmlconf.PoolDevice{Path: pv})
		}
		list.Sources = append(list.Sources, src)
	}
	return list
}
