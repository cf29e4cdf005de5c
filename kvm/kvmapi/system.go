package kvmapi

import (
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// DevicePath is the KVM device node.
const DevicePath = "/dev/kvm"

// System is an open /dev/kvm.
type System struct {
	h fdHandle
}

// Open opens /dev/kvm and checks the API version.
func Open() (*System, error) {
	fd, err := unix.Open(DevicePath, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", DevicePath, err)
	}
	s := &System{}
	s.h.set(fd)
	v, err := s.APIVersion()
	if err != nil {
		return nil, errors.Join(err, s.Close())
	}
	if v != APIVersion {
		return nil, errors.Join(fmt.Errorf("kvm api version %d, want %d", v, APIVersion), s.Close())
	}
	return s, nil
}

// Close closes /dev/kvm. Safe to call more than once.
func (s *System) Close() error { return s.h.close() }

// APIVersion returns KVM_GET_API_VERSION.
func (s *System) APIVersion() (int, error) {
	v, err := ioctlVal(s.h.get(), reqGetAPIVersion, 0)
	if err != nil {
		return 0, fmt.Errorf("KVM_GET_API_VERSION: %w", err)
	}
	return v, nil
}

// CheckExtension returns KVM_CHECK_EXTENSION for c: 0 if unsupported,
// otherwise a positive value whose meaning depends on c.
func (s *System) CheckExtension(c Cap) (int, error) {
	v, err := ioctlVal(s.h.get(), reqCheckExtension, uintptr(c))
	if err != nil {
		return 0, fmt.Errorf("KVM_CHECK_EXTENSION %d: %w", c, err)
	}
	return v, nil
}

// VCPUMmapSize returns the size of the vCPU shared mapping
// (KVM_GET_VCPU_MMAP_SIZE).
func (s *System) VCPUMmapSize() (int, error) {
	v, err := ioctlVal(s.h.get(), reqGetVCPUMmapSize, 0)
	if err != nil {
		return 0, fmt.Errorf("KVM_GET_VCPU_MMAP_SIZE: %w", err)
	}
	return v, nil
}

// SupportedCPUID returns KVM_GET_SUPPORTED_CPUID: the CPUID leaves KVM can
// present to a guest, with every feature KVM and the host support.
func (s *System) SupportedCPUID() ([]CPUIDEntry, error) {
	buf := make([]byte, sizeofCPUID2Header+MaxCPUIDEntries*sizeofCPUIDEntry)
	binary.LittleEndian.PutUint32(buf, MaxCPUIDEntries)
	if _, err := ioctlBuf(s.h.get(), reqGetSupportedCPUID, buf); err != nil {
		return nil, fmt.Errorf("KVM_GET_SUPPORTED_CPUID: %w", err)
	}
	return decodeCPUID2(buf)
}

// MSRIndexList returns KVM_GET_MSR_INDEX_LIST: the MSRs whose state must be
// saved and restored with a vCPU.
func (s *System) MSRIndexList() ([]uint32, error) {
	return s.msrList(reqGetMSRIndexList, "KVM_GET_MSR_INDEX_LIST")
}

// MSRFeatureIndexList returns KVM_GET_MSR_FEATURE_INDEX_LIST: the
// feature-reporting MSRs.
func (s *System) MSRFeatureIndexList() ([]uint32, error) {
	return s.msrList(reqGetMSRFeatureIndex, "KVM_GET_MSR_FEATURE_INDEX_LIST")
}

func (s *System) msrList(req uintptr, name string) ([]uint32, error) {
	n := uint32(256)
	for tries := 0; tries < 4; tries++ {
		buf := make([]byte, 4+4*int(n))
		binary.LittleEndian.PutUint32(buf, n)
		_, err := ioctlBuf(s.h.get(), req, buf)
		got := binary.LittleEndian.Uint32(buf)
		if errors.Is(err, unix.E2BIG) && got > n && got <= 1<<16 {
			n = got
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if got > n {
			return nil, fmt.Errorf("%s: kernel reports %d entries in a %d-entry buffer", name, got, n)
		}
		list := make([]uint32, got)
		for i := range list {
			list[i] = binary.LittleEndian.Uint32(buf[4+4*i:])
		}
		return list, nil
	}
	return nil, fmt.Errorf("%s: list keeps growing", name)
}

// CreateVM creates a virtual machine (KVM_CREATE_VM, default type).
func (s *System) CreateVM() (*VM, error) {
	fd, err := ioctlVal(s.h.get(), reqCreateVM, 0)
	if err != nil {
		return nil, fmt.Errorf("KVM_CREATE_VM: %w", err)
	}
	unix.CloseOnExec(fd)
	mmapSize, err := s.VCPUMmapSize()
	if err != nil {
		return nil, errors.Join(err, unix.Close(fd))
	}
	vm := &VM{mmapSize: mmapSize}
	vm.h.set(fd)
	return vm, nil
}

const sizeofCPUIDEntry = 40

func encodeCPUID2(entries []CPUIDEntry) ([]byte, error) {
	if len(entries) > MaxCPUIDEntries {
		return nil, fmt.Errorf("%d cpuid entries, at most %d", len(entries), MaxCPUIDEntries)
	}
	buf := make([]byte, sizeofCPUID2Header+len(entries)*sizeofCPUIDEntry)
	binary.LittleEndian.PutUint32(buf, uint32(len(entries)))
	for i, e := range entries {
		b := buf[sizeofCPUID2Header+i*sizeofCPUIDEntry:]
		for j, v := range [...]uint32{e.Function, e.Index, e.Flags, e.EAX, e.EBX, e.ECX, e.EDX} {
			binary.LittleEndian.PutUint32(b[4*j:], v)
		}
	}
	return buf, nil
}

func decodeCPUID2(buf []byte) ([]CPUIDEntry, error) {
	n := binary.LittleEndian.Uint32(buf)
	if uint64(n)*sizeofCPUIDEntry > uint64(len(buf)-sizeofCPUID2Header) {
		return nil, fmt.Errorf("cpuid2: %d entries do not fit a %d-byte buffer", n, len(buf))
	}
	out := make([]CPUIDEntry, n)
	for i := range out {
		b := buf[sizeofCPUID2Header+i*sizeofCPUIDEntry:]
		u := func(j int) uint32 { return binary.LittleEndian.Uint32(b[4*j:]) }
		out[i] = CPUIDEntry{Function: u(0), Index: u(1), Flags: u(2), EAX: u(3), EBX: u(4), ECX: u(5), EDX: u(6)}
	}
	return out, nil
}
