package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/govirt/govirt/xmlconf"
)

func init() {
	register("disk", backendType{open: openDisk})
}

// partAlignBytes is where partitions start and how their sizes round: 1
// MiB, the alignment every current partitioning tool uses.
const partAlignBytes = 1 << 20

// diskLabels are the partition table formats we write and read.
var diskLabels = map[string]bool{"gpt": true, "dos": true}

// partTypes maps a volume format to the partition type of each label.
var partTypes = map[string]struct{ gpt, dos string }{
	"linux":      {"0FC63DAF-8483-4772-8E79-3D69D8477DE4", "83"},
	"linux-swap": {"0657FD6D-A4AB-43C4-84E5-0933C84B4F4F", "82"},
	"linux-lvm":  {"E6D6D379-F507-44C2-A23C-238F2A3DF928", "8e"},
	"linux-raid": {"A19D880F-05FC-4D3B-A006-743F0F84911E", "fd"},
	"fat16":      {"EBD0A0A2-B9E5-4433-87C0-68B6B72699C7", "6"},
	"fat32":      {"EBD0A0A2-B9E5-4433-87C0-68B6B72699C7", "c"},
}

// dosExtended are the DOS partition types of an extended partition, a
// container for logical partitions rather than a volume.
var dosExtended = map[string]bool{"5": true, "f": true, "85": true}

// partFormat names a partition's type as a volume format.
func partFormat(label, typ string) string {
	t := strings.ToLower(typ)
	if label == "dos" && dosExtended[t] {
		return "extended"
	}
	for _, name := range []string{"linux", "linux-swap", "linux-lvm", "linux-raid", "fat32", "fat16"} {
		pt := partTypes[name]
		if label == "gpt" && strings.EqualFold(pt.gpt, typ) || label == "dos" && pt.dos == t {
			return name
		}
	}
	return "none"
}

// diskBackend is a partition table on a block device; volumes are its
// partitions. Table changes are serialised by mu within this process and
// by an flock on the device across processes (the lock udev and
// util-linux honour), and the kernel's partitions are brought in line with
// the table by BLKPG after each change.
type diskBackend struct {
	e      *env
	device string // as defined
	// format is the label to write and expect; "" accepts any at start
	// and writes dos at build, as libvirt does.
	format string
	mu     sync.Mutex
}

var _ Backend = (*diskBackend)(nil)

func openDisk(def *xmlconf.StoragePool, e *env) (Backend, error) {
	if len(def.Source.Devices) != 1 {
		return nil, errf(xmlconf.ErrInvalidArg, "storage pool '%s' needs exactly one source device, has %d", def.Name, len(def.Source.Devices))
	}
	dev, err := cleanDevicePath(def.Name, def.Source.Devices[0].Path)
	if err != nil {
		return nil, err
	}
	format := def.Source.Format
	if format == "unknown" {
		format = ""
	}
	if format != "" && !diskLabels[format] {
		return nil, errf(xmlconf.ErrConfigUnsupported, "partition table format '%s' is not supported (gpt or dos)", format)
	}
	if err := e.need("sfdisk", "blkid", "wipefs"); err != nil {
		return nil, err
	}
	if def.Target == nil {
		def.Target = &xmlconf.PoolTarget{}
	}
	if def.Target.Path == "" {
		def.Target.Path = "/dev"
	}
	return &diskBackend{e: e, device: dev, format: format}, nil
}

// disk is the resolved whole-disk device.
type disk struct {
	path  string // /dev/<kname>
	kname string // kernel name, e.g. loop0, sda, nvme0n1
}

// partName is the kernel's name of partition n: a 'p' separates the
// number from a disk name that ends in a digit.
func (d disk) partName(n int) string {
	if last := d.kname[len(d.kname)-1]; last >= '0' && last <= '9' {
		return d.kname + "p" + strconv.Itoa(n)
	}
	return d.kname + strconv.Itoa(n)
}

// resolve finds the whole-disk block device behind the configured path.
func (b *diskBackend) resolve() (disk, error) {
	real, err := filepath.EvalSymlinks(b.device)
	if err != nil {
		return disk{}, sysErr("access source device", b.device, err)
	}
	var st unix.Stat_t
	if err := unix.Stat(real, &st); err != nil {
		return disk{}, sysErr("access source device", real, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return disk{}, errf(xmlconf.ErrOperationFailed, "source device '%s' is not a block device", b.device)
	}
	sys := fmt.Sprintf("/sys/dev/block/%d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
	link, err := filepath.EvalSymlinks(sys)
	if err != nil {
		return disk{}, sysErr("find the kernel device of", b.device, err)
	}
	if _, err := os.Stat(filepath.Join(link, "partition")); err == nil {
		return disk{}, errf(xmlconf.ErrOperationFailed, "source device '%s' is a partition, not a whole disk", b.device)
	}
	kname := filepath.Base(link)
	d := disk{path: "/dev/" + kname, kname: kname}
	size, err := blockDeviceSize(d.path)
	if err != nil {
		return disk{}, err
	}
	if size == 0 {
		return disk{}, errf(xmlconf.ErrOperationFailed, "source device '%s' has no medium (size 0; a detached loop device?)", b.device)
	}
	return d, nil
}

// lock takes the device's flock (polling, so ctx can end the wait) and
// this backend's mutex; the returned function releases both.
func (b *diskBackend) lock(ctx context.Context, d disk) (func(), error) {
	b.mu.Lock()
	fd, err := unix.Open(d.path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		b.mu.Unlock()
		return nil, sysErr("open device", d.path, err)
	}
	for {
		err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if err != unix.EWOULDBLOCK && err != unix.EINTR {
			unix.Close(fd)
			b.mu.Unlock()
			return nil, sysErr("lock device", d.path, err)
		}
		select {
		case <-ctx.Done():
			unix.Close(fd)
			b.mu.Unlock()
			return nil, errf(xmlconf.ErrOperationAborted, "waiting for the lock of '%s': %w", d.path, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return func() {
		if err := unix.Close(fd); err != nil { // closing drops the flock
			b.e.log.Warn("close locked device", "device", d.path, "err", err)
		}
		b.mu.Unlock()
	}, nil
}

// partTable is a partition table as sfdisk --json reports it, in sectors.
type partTable struct {
	Label      string     `json:"label"`
	FirstLBA   uint64     `json:"firstlba"`
	LastLBA    uint64     `json:"lastlba"`
	SectorSize uint64     `json:"sectorsize"`
	Partitions []partItem `json:"partitions"`
	// Sectors is the device's size in sectors (not from sfdisk).
	Sectors uint64 `json:"-"`
}

type partItem struct {
	Node  string `json:"node"`
	Start uint64 `json:"start"`
	Size  uint64 `json:"size"`
	Type  string `json:"type"`
	// Num is the partition number, from the node name.
	Num int `json:"-"`
}

// errNoLabel is readTable's answer for a device without a partition table.
var errNoLabel = errors.New("no partition table")

// readTable reads the device's partition table with sfdisk.
func (b *diskBackend) readTable(ctx context.Context, d disk) (*partTable, error) {
	out, err := b.e.run(ctx, "sfdisk", nil, "--json", "--", d.path)
	if err != nil {
		var ce *cmdError
		if errors.As(err, &ce) && strings.Contains(ce.Stderr, "does not contain a recognized partition table") {
			return nil, errNoLabel
		}
		return nil, toolFailed(fmt.Sprintf("reading the partition table of '%s' failed", d.path), err)
	}
	t, err := parseSfdiskJSON(out)
	if err != nil {
		return nil, errf(xmlconf.ErrInternalError, "partition table of '%s': %w", d.path, err)
	}
	size, err := blockDeviceSize(d.path)
	if err != nil {
		return nil, err
	}
	t.Sectors = size / t.SectorSize
	return t, nil
}

// parseSfdiskJSON reads "sfdisk --json" output, taking each partition's
// number from the trailing digits of its node name.
func parseSfdiskJSON(out []byte) (*partTable, error) {
	var doc struct {
		PT *partTable `json:"partitiontable"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return nil, fmt.Errorf("parse sfdisk output: %w", err)
	}
	t := doc.PT
	if t == nil {
		return nil, errors.New("sfdisk output has no partitiontable")
	}
	if t.SectorSize == 0 {
		t.SectorSize = 512
	}
	if t.SectorSize%512 != 0 || t.SectorSize > 64<<10 {
		return nil, fmt.Errorf("unexpected sector size %d", t.SectorSize)
	}
	for i := range t.Partitions {
		p := &t.Partitions[i]
		j := len(p.Node)
		for j > 0 && p.Node[j-1] >= '0' && p.Node[j-1] <= '9' {
			j--
		}
		n, err := strconv.Atoi(p.Node[j:])
		if err != nil || n <= 0 || n > 4096 {
			return nil, fmt.Errorf("partition node %q has no number", p.Node)
		}
		p.Num = n
	}
	sort.Slice(t.Partitions, func(i, j int) bool { return t.Partitions[i].Num < t.Partitions[j].Num })
	return t, nil
}

// isExtended reports whether p is a DOS extended partition.
func (t *partTable) isExtended(p *partItem) bool {
	return t.Label == "dos" && dosExtended[strings.ToLower(p.Type)]
}

// alignSectors is partAlignBytes in sectors.
func (t *partTable) alignSectors() uint64 {
	return max(partAlignBytes/t.SectorSize, 1)
}

// usable returns the first and last sector partitions may use.
func (t *partTable) usable() (uint64, uint64) {
	if t.Label == "gpt" && t.LastLBA > 0 {
		return t.FirstLBA, t.LastLBA
	}
	if t.Sectors == 0 {
		return 1, 0
	}
	return t.alignSectors(), t.Sectors - 1 // dos: first MiB for the MBR and alignment
}

// extent is a range of free sectors [start, end].
type extent struct{ start, end uint64 }

// freeExtents lists the gaps between partitions within the usable range.
func (t *partTable) freeExtents() []extent {
	first, last := t.usable()
	if last < first {
		return nil
	}
	used := make([]extent, 0, len(t.Partitions))
	for _, p := range t.Partitions {
		if p.Size > 0 {
			used = append(used, extent{p.Start, p.Start + p.Size - 1})
		}
	}
	sort.Slice(used, func(i, j int) bool { return used[i].start < used[j].start })
	var free []extent
	cur := first
	for _, u := range used {
		if u.start > cur {
			free = append(free, extent{cur, min(u.start-1, last)})
		}
		if u.end+1 > cur {
			cur = u.end + 1
		}
		if cur > last {
			return free
		}
	}
	if cur <= last {
		free = append(free, extent{cur, last})
	}
	return free
}

// alignedSpan returns the aligned sectors a partition can use in e:
// start rounded up, end (exclusive) rounded down to the alignment.
func (t *partTable) alignedSpan(e extent) (start, end uint64) {
	a := t.alignSectors()
	start = (e.start + a - 1) / a * a
	end = (e.end + 1) / a * a
	if end < start {
		end = start
	}
	return start, end
}

// available sums the aligned free space in bytes.
func (t *partTable) available() uint64 {
	var n uint64
	for _, e := range t.freeExtents() {
		s, en := t.alignedSpan(e)
		n += (en - s) * t.SectorSize
	}
	return n
}

// nextNumber is the partition number sfdisk --append will use: the lowest
// unused one (DOS: primary partitions 1-4 only).
func (t *partTable) nextNumber() (int, error) {
	used := map[int]bool{}
	for _, p := range t.Partitions {
		used[p.Num] = true
	}
	limit := 128
	if t.Label == "dos" {
		limit = 4
	}
	for n := 1; n <= limit; n++ {
		if !used[n] {
			return n, nil
		}
	}
	if t.Label == "dos" {
		return 0, errf(xmlconf.ErrOperationFailed, "no free primary partition slot on the dos partition table")
	}
	return 0, errf(xmlconf.ErrOperationFailed, "no free partition slot on the gpt partition table")
}

// place picks where a partition of size bytes goes: the smallest free
// extent that holds it (best fit), aligned. It returns start and length
// in sectors; the length is the size rounded up to the alignment.
func (t *partTable) place(size uint64) (uint64, uint64, error) {
	a := t.alignSectors()
	sectors := (size + t.SectorSize - 1) / t.SectorSize
	sectors = (sectors + a - 1) / a * a
	var best *extent
	var bestLen, largest uint64
	free := t.freeExtents()
	for i := range free {
		s, e := t.alignedSpan(free[i])
		l := e - s
		largest = max(largest, l)
		if l >= sectors && (best == nil || l < bestLen) {
			best, bestLen = &free[i], l
		}
	}
	if best == nil {
		return 0, 0, errf(xmlconf.ErrOperationFailed, "no large enough free extent: %d bytes needed, the largest free extent has %d", sectors*t.SectorSize, largest*t.SectorSize)
	}
	s, _ := t.alignedSpan(*best)
	return s, sectors, nil
}

// checkLabel compares the table found with the pool's format.
func (b *diskBackend) checkLabel(d disk, t *partTable, err error) error {
	if errors.Is(err, errNoLabel) {
		return errf(xmlconf.ErrStorageProbeFailed, "Device '%s' is unrecognized, requires build", d.path)
	}
	if err != nil {
		return err
	}
	if b.format != "" && t.Label != b.format {
		return errf(xmlconf.ErrOperationInvalid, "Format of device '%s' does not match the expected format '%s' (found '%s')", d.path, b.format, t.Label)
	}
	return nil
}

// kernelPart is a partition as the kernel has it, in bytes.
type kernelPart struct {
	name          string
	start, length int64
}

// kernelPartitions reads the kernel's partitions of d from sysfs.
func kernelPartitions(d disk) (map[int]kernelPart, error) {
	dir := "/sys/class/block/" + d.kname
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, sysErr("read", dir, err)
	}
	out := map[int]kernelPart{}
	for _, e := range ents {
		base := filepath.Join(dir, e.Name())
		num, err := readSysInt(filepath.Join(base, "partition"))
		if err != nil {
			continue // not a partition
		}
		start, err1 := readSysInt(filepath.Join(base, "start"))
		size, err2 := readSysInt(filepath.Join(base, "size"))
		if err1 != nil || err2 != nil {
			return nil, errf(xmlconf.ErrInternalError, "read kernel partition %s: %w", e.Name(), errors.Join(err1, err2))
		}
		out[int(num)] = kernelPart{name: e.Name(), start: start * 512, length: size * 512}
	}
	return out, nil
}

func readSysInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

// wantedKernelPart is how the kernel should see table partition p: DOS
// extended partitions are exposed as a 1 KiB stub, as the kernel's own
// parser does.
func (t *partTable) wantedKernelPart(p *partItem) kernelPart {
	kp := kernelPart{start: int64(p.Start * t.SectorSize), length: int64(p.Size * t.SectorSize)}
	if t.isExtended(p) {
		kp.length = min(kp.length, max(1024, int64(t.SectorSize)))
	}
	return kp
}

// inSync reports whether the kernel's partitions match the table.
func (t *partTable) inSync(kp map[int]kernelPart) bool {
	if len(kp) != len(t.Partitions) {
		return false
	}
	for i := range t.Partitions {
		p := &t.Partitions[i]
		k, ok := kp[p.Num]
		w := t.wantedKernelPart(p)
		if !ok || k.start != w.start || k.length != w.length {
			return false
		}
	}
	return true
}

// syncKernel brings the kernel's partitions of d in line with t (nil: no
// partitions) with BLKPG: stale ones deleted (refused by the kernel while
// in use), missing ones added; then waits for the device nodes. This is
// what partx --update does, and works whether or not the kernel can parse
// the table itself.
func (b *diskBackend) syncKernel(ctx context.Context, d disk, t *partTable) error {
	kp, err := kernelPartitions(d)
	if err != nil {
		return err
	}
	want := map[int]kernelPart{}
	if t != nil {
		for i := range t.Partitions {
			want[t.Partitions[i].Num] = t.wantedKernelPart(&t.Partitions[i])
		}
	}
	fd, err := unix.Open(d.path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return sysErr("open device", d.path, err)
	}
	defer unix.Close(fd)
	nums := make([]int, 0, len(kp))
	for n := range kp {
		nums = append(nums, n)
	}
	sort.Ints(nums)
	for _, n := range nums {
		k := kp[n]
		w, ok := want[n]
		if ok && w.start == k.start && w.length == k.length {
			delete(want, n)
			continue
		}
		if err := blkpg(fd, unix.BLKPG_DEL_PARTITION, int32(n), 0, 0); err != nil {
			if err == unix.EBUSY {
				return errf(xmlconf.ErrOperationInvalid, "partition '%s' is in use", "/dev/"+k.name)
			}
			return sysErr("remove kernel partition", "/dev/"+k.name, err)
		}
	}
	nums = nums[:0]
	for n := range want {
		nums = append(nums, n)
	}
	sort.Ints(nums)
	for _, n := range nums {
		w := want[n]
		if err := blkpg(fd, unix.BLKPG_ADD_PARTITION, int32(n), w.start, w.length); err != nil {
			return sysErr("add kernel partition", "/dev/"+d.partName(n), err)
		}
	}
	for _, n := range nums {
		if err := waitForNode(ctx, "/dev/"+d.partName(n)); err != nil {
			return err
		}
	}
	return nil
}

// waitForNode waits (up to 5 s) for a device node that the kernel (or
// udev) is creating.
func waitForNode(ctx context.Context, path string) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		var st unix.Stat_t
		err := unix.Stat(path, &st)
		if err == nil && st.Mode&unix.S_IFMT == unix.S_IFBLK {
			return nil
		}
		if time.Now().After(deadline) {
			return errf(xmlconf.ErrOperationFailed, "device node '%s' did not appear", path)
		}
		select {
		case <-ctx.Done():
			return errf(xmlconf.ErrOperationAborted, "waiting for device node '%s': %w", path, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// sfdisk runs sfdisk on d without letting it touch the kernel's view
// (syncKernel does that) and without its own lock (we hold the flock).
func (b *diskBackend) sfdisk(ctx context.Context, stdin []byte, args ...string) error {
	full := append([]string{"--no-reread", "--no-tell-kernel", "-q"}, args...)
	_, err := b.e.runEnv(ctx, "sfdisk", []string{"LOCK_BLOCK_DEVICE=0"}, stdin, full...)
	return err
}

// CheckActive reports whether the device carries the expected label and
// the kernel knows its partitions as they are in the table.
func (b *diskBackend) CheckActive(ctx context.Context) (bool, error) {
	d, err := b.resolve()
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, err
	}
	t, err := b.readTable(ctx, d)
	if errors.Is(err, errNoLabel) {
		return false, nil
	}
	if err := b.checkLabel(d, t, err); err != nil {
		return false, err
	}
	kp, err := kernelPartitions(d)
	if err != nil {
		return false, err
	}
	return t.inSync(kp), nil
}

// Build writes an empty partition table of the pool's format (dos when
// none is named). Unless overwriting, a device with any signature is
// refused; overwriting wipes the old ones first.
func (b *diskBackend) Build(ctx context.Context, flags BuildFlags) error {
	d, err := b.resolve()
	if err != nil {
		return err
	}
	label := b.format
	if label == "" {
		label = "dos"
	}
	unlock, err := b.lock(ctx, d)
	if err != nil {
		return err
	}
	defer unlock()
	if flags&BuildOverwrite == 0 {
		sig, err := probeSignature(ctx, b.e, d.path)
		if err != nil {
			return err
		}
		switch {
		case sig.empty():
		case sig.PTType == label && sig.Type == "":
			return errf(xmlconf.ErrStoragePoolBuilt, "Device '%s' already formatted using '%s'", d.path, label)
		default:
			return errf(xmlconf.ErrStoragePoolBuilt, "Format of device '%s' does not match the expected format '%s', forced overwrite is necessary (found %s)", d.path, label, sig)
		}
	}
	if err := b.checkPartitionsIdle(d); err != nil {
		return err
	}
	if flags&BuildOverwrite != 0 {
		if _, err := b.e.run(ctx, "wipefs", nil, "-a", "-q", "--", d.path); err != nil {
			return toolFailed(fmt.Sprintf("wiping signatures of '%s' failed", d.path), err)
		}
	}
	if err := b.sfdisk(ctx, []byte("label: "+label+"\n"), "--", d.path); err != nil {
		return toolFailed(fmt.Sprintf("writing a %s partition table on '%s' failed", label, d.path), err)
	}
	return b.syncKernel(ctx, d, nil)
}

// checkPartitionsIdle fails when any of the kernel's partitions of d is in
// use (mounted, open exclusively).
func (b *diskBackend) checkPartitionsIdle(d disk) error {
	kp, err := kernelPartitions(d)
	if err != nil {
		return err
	}
	for _, k := range kp {
		if err := claimDevice("/dev/" + k.name); err != nil {
			if errors.Is(err, xmlconf.ErrOperationInvalid) {
				return errf(xmlconf.ErrOperationInvalid, "partition '/dev/%s' of '%s' is in use", k.name, d.path)
			}
			return err
		}
	}
	return nil
}

// Start checks the label and makes the kernel's partitions match it.
func (b *diskBackend) Start(ctx context.Context) error {
	d, err := b.resolve()
	if err != nil {
		return err
	}
	unlock, err := b.lock(ctx, d)
	if err != nil {
		return err
	}
	defer unlock()
	t, err := b.readTable(ctx, d)
	if err := b.checkLabel(d, t, err); err != nil {
		return err
	}
	return b.syncKernel(ctx, d, t)
}

// Stop does nothing: the partitions stay usable, as in libvirt.
func (b *diskBackend) Stop(ctx context.Context) error { return nil }

// Delete erases the partition table (after checking that no partition is
// in use) and removes the kernel's partitions.
func (b *diskBackend) Delete(ctx context.Context) error {
	d, err := b.resolve()
	if err != nil {
		return err
	}
	unlock, err := b.lock(ctx, d)
	if err != nil {
		return err
	}
	defer unlock()
	if err := b.checkPartitionsIdle(d); err != nil {
		return err
	}
	if err := b.syncKernel(ctx, d, nil); err != nil {
		return err
	}
	if _, err := b.e.run(ctx, "wipefs", nil, "-a", "-q", "--", d.path); err != nil {
		return toolFailed(fmt.Sprintf("erasing the partition table of '%s' failed", d.path), err)
	}
	return nil
}

// current reads the table of a started pool and keeps the kernel in step
// (after a reboot on a kernel without partition parsers the table is there
// but the partitions are not). Precondition: the lock is held.
func (b *diskBackend) current(ctx context.Context, d disk) (*partTable, error) {
	t, err := b.readTable(ctx, d)
	if err := b.checkLabel(d, t, err); err != nil {
		return nil, err
	}
	kp, err := kernelPartitions(d)
	if err != nil {
		return nil, err
	}
	if !t.inSync(kp) {
		if err := b.syncKernel(ctx, d, t); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func (b *diskBackend) Info(ctx context.Context) (Info, error) {
	d, err := b.resolve()
	if err != nil {
		return Info{}, err
	}
	unlock, err := b.lock(ctx, d)
	if err != nil {
		return Info{}, err
	}
	defer unlock()
	t, err := b.current(ctx, d)
	if err != nil {
		return Info{}, err
	}
	return t.info(), nil
}

func (t *partTable) info() Info {
	var alloc uint64
	for i := range t.Partitions {
		if !t.isExtended(&t.Partitions[i]) {
			alloc += t.Partitions[i].Size * t.SectorSize
		}
	}
	return Info{Capacity: t.Sectors * t.SectorSize, Allocation: alloc, Available: t.available()}
}

func (b *diskBackend) Volumes(ctx context.Context) ([]*xmlconf.StorageVolume, error) {
	d, err := b.resolve()
	if err != nil {
		return nil, err
	}
	unlock, err := b.lock(ctx, d)
	if err != nil {
		return nil, err
	}
	defer unlock()
	t, err := b.current(ctx, d)
	if err != nil {
		return nil, err
	}
	var vols []*xmlconf.StorageVolume
	for i := range t.Partitions {
		p := &t.Partitions[i]
		if t.isExtended(p) {
			continue
		}
		vols = append(vols, t.volume(d, p))
	}
	return vols, nil
}

// volume describes partition p as a volume: named and keyed by its node.
func (t *partTable) volume(d disk, p *partItem) *xmlconf.StorageVolume {
	name := d.partName(p.Num)
	path := "/dev/" + name
	size := p.Size * t.SectorSize
	v := &xmlconf.StorageVolume{
		Type:          "block",
		Name:          name,
		Key:           path,
		Capacity:      size,
		Allocation:    size,
		AllocationSet: true,
		Physical:      size,
		Target:        xmlconf.VolTarget{Path: path, Format: partFormat(t.Label, p.Type)},
	}
	var st unix.Stat_t
	if unix.Stat(path, &st) == nil {
		v.Target.Permissions = statPermissions(&st)
	}
	return v
}

// CreateVolume adds a partition of at least the requested capacity
// (rounded up to 1 MiB) in the smallest free extent that holds it. Its
// name must be the one the new partition gets (the next free number,
// e.g. "sdb3" or "loop0p3"), as the volume's name is the partition's.
func (b *diskBackend) CreateVolume(ctx context.Context, req *xmlconf.StorageVolume) (*xmlconf.StorageVolume, error) {
	format := req.Target.Format
	switch format {
	case "", "none", "raw":
		format = "linux"
	case "extended":
		return nil, errf(xmlconf.ErrConfigUnsupported, "creating extended partitions is not supported")
	}
	types, ok := partTypes[format]
	if !ok {
		return nil, errf(xmlconf.ErrConfigUnsupported, "partition format '%s' is not supported", req.Target.Format)
	}
	mode, uid, gid, err := parsePermissions(req.Target.Permissions, 0o600)
	if err != nil {
		return nil, err
	}
	d, err := b.resolve()
	if err != nil {
		return nil, err
	}
	unlock, err := b.lock(ctx, d)
	if err != nil {
		return nil, err
	}
	defer unlock()
	t, err := b.current(ctx, d)
	if err != nil {
		return nil, err
	}
	for i := range t.Partitions {
		if d.partName(t.Partitions[i].Num) == req.Name {
			return nil, errf(xmlconf.ErrStorageVolExist, "'%s'", req.Name)
		}
	}
	num, err := t.nextNumber()
	if err != nil {
		return nil, err
	}
	if want := d.partName(num); req.Name != want {
		return nil, errf(xmlconf.ErrInvalidArg, "volume name '%s' does not match the name of the next partition, '%s'", req.Name, want)
	}
	start, sectors, err := t.place(req.Capacity)
	if err != nil {
		return nil, err
	}
	typ := types.dos
	if t.Label == "gpt" {
		typ = types.gpt
	}
	line := fmt.Sprintf("start=%d, size=%d, type=%s\n", start, sectors, typ)
	if err := b.sfdisk(ctx, []byte(line), "--append", "--", d.path); err != nil {
		b.dropPartition(d, num, start)
		return nil, toolFailed(fmt.Sprintf("creating partition %d on '%s' failed", num, d.path), err)
	}
	vol, err := b.finishCreate(ctx, d, num, start, sectors, mode, uid, gid, req.Target.Permissions != nil)
	if err != nil {
		b.dropPartition(d, num, start)
		return nil, err
	}
	return vol, nil
}

// finishCreate checks the new partition, makes the kernel see it and sets
// its node's permissions.
func (b *diskBackend) finishCreate(ctx context.Context, d disk, num int, start, sectors uint64, mode uint32, uid, gid int, setPerm bool) (*xmlconf.StorageVolume, error) {
	t, err := b.readTable(ctx, d)
	if err != nil {
		return nil, asXMLError("re-read partition table", err)
	}
	var p *partItem
	for i := range t.Partitions {
		if t.Partitions[i].Num == num {
			p = &t.Partitions[i]
		}
	}
	if p == nil || p.Start != start || p.Size != sectors {
		return nil, errf(xmlconf.ErrInternalError, "partition %d of '%s' is not where it was put (start %d, %d sectors)", num, d.path, start, sectors)
	}
	if err := b.syncKernel(ctx, d, t); err != nil {
		return nil, err
	}
	vol := t.volume(d, p)
	if setPerm {
		if err := setNodePermissions(vol.Target.Path, mode, uid, gid); err != nil {
			return nil, err
		}
		var st unix.Stat_t
		if unix.Stat(vol.Target.Path, &st) == nil {
			vol.Target.Permissions = statPermissions(&st)
		}
	}
	return vol, nil
}

// dropPartition removes partition num again after a failed create, if it
// is the one we made (starts at start). It runs with its own context: the
// caller's may be what was cancelled.
func (b *diskBackend) dropPartition(d disk, num int, start uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	t, err := b.readTable(ctx, d)
	if err != nil {
		b.e.log.Warn("re-read partition table after failed create", "device", d.path, "err", err)
		return
	}
	for i := range t.Partitions {
		p := &t.Partitions[i]
		if p.Num != num || p.Start != start {
			continue
		}
		if err := b.sfdisk(ctx, nil, "--delete", "--", d.path, strconv.Itoa(num)); err != nil {
			b.e.log.Warn("remove partition after failed create", "device", d.path, "partition", num, "err", err)
			return
		}
	}
	t, err = b.readTable(ctx, d)
	if err == nil {
		err = b.syncKernel(ctx, d, t)
	}
	if err != nil {
		b.e.log.Warn("sync kernel partitions after failed create", "device", d.path, "err", err)
	}
}

// DeleteVolume removes the partition (zeroing it first when asked). A
// partition in use is refused.
func (b *diskBackend) DeleteVolume(ctx context.Context, vol *xmlconf.StorageVolume, zeroed bool) error {
	d, err := b.resolve()
	if err != nil {
		return err
	}
	unlock, err := b.lock(ctx, d)
	if err != nil {
		return err
	}
	defer unlock()
	t, err := b.current(ctx, d)
	if err != nil {
		return err
	}
	num := 0
	for i := range t.Partitions {
		if d.partName(t.Partitions[i].Num) == vol.Name && !t.isExtended(&t.Partitions[i]) {
			num = t.Partitions[i].Num
		}
	}
	if num == 0 {
		return errf(xmlconf.ErrNoStorageVol, "no storage vol with matching name '%s'", vol.Name)
	}
	node := "/dev/" + d.partName(num)
	if err := claimDevice(node); err != nil {
		if errors.Is(err, xmlconf.ErrOperationInvalid) {
			return errf(xmlconf.ErrOperationInvalid, "volume '%s' is in use", vol.Name)
		}
		return err
	}
	if zeroed {
		if err := zeroBlockDevice(ctx, node); err != nil {
			return err
		}
	}
	if err := b.sfdisk(ctx, nil, "--delete", "--", d.path, strconv.Itoa(num)); err != nil {
		return toolFailed(fmt.Sprintf("removing partition %d of '%s' failed", num, d.path), err)
	}
	t, err = b.readTable(ctx, d)
	if err != nil {
		return asXMLError("re-read partition table", err)
	}
	return b.syncKernel(ctx, d, t)
}
