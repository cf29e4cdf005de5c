package boot

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrNotELF is returned by ParseELF for data without an ELF magic.
var ErrNotELF = errors.New("not an ELF file")

const (
	elfHeaderSize = 64
	elfPhdrSize   = 56
	ptLoad        = 1
	emX8664       = 62
	etExec        = 2
	etDyn         = 3

	// maxSegments bounds the program headers considered (a kernel has a
	// handful).
	maxSegments = 64
)

// ELFSegment is one PT_LOAD segment: Data (the file bytes) goes at the
// physical address Addr, followed by MemSize-len(Data) zero bytes.
type ELFSegment struct {
	Addr    uint64
	Data    []byte
	MemSize uint64
}

// ELFImage is a parsed 64-bit x86 ELF kernel.
type ELFImage struct {
	// Entry is the physical address of the 64-bit entry point.
	Entry    uint64
	Segments []ELFSegment
}

// ParseELF checks a 64-bit little-endian x86-64 executable and returns its
// loadable segments at their physical addresses. A virtual entry address
// (vmlinux links at 0xffffffff8...) is converted through the segment that
// contains it.
func ParseELF(data []byte) (*ELFImage, error) {
	if len(data) < 4 || !bytes.Equal(data[:4], []byte("\x7fELF")) {
		return nil, ErrNotELF
	}
	if len(data) < elfHeaderSize {
		return nil, fmt.Errorf("elf truncated: %d bytes", len(data))
	}
	if data[4] != 2 || data[5] != 1 {
		return nil, fmt.Errorf("elf class %d data %d: only 64-bit little-endian images boot", data[4], data[5])
	}
	le := binary.LittleEndian
	if typ := le.Uint16(data[16:]); typ != etExec && typ != etDyn {
		return nil, fmt.Errorf("elf type %d is not an executable", typ)
	}
	if m := le.Uint16(data[18:]); m != emX8664 {
		return nil, fmt.Errorf("elf machine %d is not x86-64", m)
	}
	entry := le.Uint64(data[24:])
	phoff := le.Uint64(data[32:])
	phentsize := uint64(le.Uint16(data[54:]))
	phnum := uint64(le.Uint16(data[56:]))
	if phentsize != elfPhdrSize {
		return nil, fmt.Errorf("elf program header size %d, want %d", phentsize, elfPhdrSize)
	}
	if phnum == 0 || phnum > maxSegments {
		return nil, fmt.Errorf("elf has %d program headers", phnum)
	}
	if phoff > uint64(len(data)) || phnum*phentsize > uint64(len(data))-phoff {
		return nil, fmt.Errorf("elf program headers at %d run past the %d-byte file", phoff, len(data))
	}
	img := &ELFImage{}
	var vaddrs []uint64
	for i := uint64(0); i < phnum; i++ {
		ph := data[phoff+i*phentsize:]
		if le.Uint32(ph) != ptLoad {
			continue
		}
		off := le.Uint64(ph[8:])
		vaddr := le.Uint64(ph[16:])
		paddr := le.Uint64(ph[24:])
		filesz := le.Uint64(ph[32:])
		memsz := le.Uint64(ph[40:])
		if filesz > memsz {
			return nil, fmt.Errorf("elf segment %d: file size %d exceeds memory size %d", i, filesz, memsz)
		}
		if off > uint64(len(data)) || filesz > uint64(len(data))-off {
			return nil, fmt.Errorf("elf segment %d: bytes %d+%d run past the %d-byte file", i, off, filesz, len(data))
		}
		if paddr+memsz < paddr || vaddr+memsz < vaddr {
			return nil, fmt.Errorf("elf segment %d: address %#x+%#x wraps", i, paddr, memsz)
		}
		img.Segments = append(img.Segments, ELFSegment{Addr: paddr, Data: data[off : off+filesz], MemSize: memsz})
		vaddrs = append(vaddrs, vaddr)
	}
	if len(img.Segments) == 0 {
		return nil, errors.New("elf has no loadable segment")
	}
	// A physical entry address wins; otherwise translate a virtual one.
	for _, s := range img.Segments {
		if entry >= s.Addr && entry-s.Addr < s.MemSize {
			img.Entry = entry
			return img, nil
		}
	}
	for i, s := range img.Segments {
		if entry >= vaddrs[i] && entry-vaddrs[i] < s.MemSize {
			img.Entry = entry - vaddrs[i] + s.Addr
			return img, nil
		}
	}
	return nil, fmt.Errorf("elf entry point %#x lies in no loadable segment", entry)
}
