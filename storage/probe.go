package storage

import (
	"bytes"
	"encoding/binary"
	"io"
	"os"
)

// imageFormat is what probing a file volume's header found: its libvirt
// format name and, for formats that record one, the virtual size the
// guest sees (0 when the format has none or it was not read).
type imageFormat struct {
	Format      string
	VirtualSize uint64
}

// probeImage reads the header of the file at path and names its image
// format, as libvirt's volume probing does for the formats it knows.
// Anything unrecognised is raw. Only the header is read, never trusted for
// more than the format name and size.
func probeImage(f *os.File) imageFormat {
	var hdr [512]byte
	n, err := f.ReadAt(hdr[:], 0)
	if err != nil && err != io.EOF {
		return imageFormat{Format: "raw"}
	}
	h := hdr[:n]
	be64 := func(off int) uint64 {
		if len(h) < off+8 {
			return 0
		}
		return binary.BigEndian.Uint64(h[off:])
	}
	le64 := func(off int) uint64 {
		if len(h) < off+8 {
			return 0
		}
		return binary.LittleEndian.Uint64(h[off:])
	}
	switch {
	case bytes.HasPrefix(h, []byte("QFI\xfb")) && len(h) >= 8:
		switch binary.BigEndian.Uint32(h[4:]) {
		case 1:
			return imageFormat{Format: "qcow", VirtualSize: be64(24)}
		case 2, 3:
			return imageFormat{Format: "qcow2", VirtualSize: be64(24)}
		}
	case bytes.HasPrefix(h, []byte("QED\x00")):
		return imageFormat{Format: "qed", VirtualSize: le64(40)}
	case bytes.HasPrefix(h, []byte("KDMV")):
		// Sparse extent header: capacity in 512-byte sectors at offset 12.
		s := le64(12)
		if s > maxVolumeBytes/512 {
			s = 0
		}
		return imageFormat{Format: "vmdk", VirtualSize: s * 512}
	case bytes.HasPrefix(h, []byte("conectix")):
		return imageFormat{Format: "vpc", VirtualSize: be64(48)}
	case bytes.HasPrefix(h, []byte("vhdxfile")):
		return imageFormat{Format: "vhdx"}
	case len(h) >= 68 && binary.LittleEndian.Uint32(h[64:]) == 0xbeda107f:
		return imageFormat{Format: "vdi", VirtualSize: le64(368)}
	}
	// ISO 9660: "CD001" at byte 1 of sector 16 (2048-byte sectors).
	var iso [5]byte
	if _, err := f.ReadAt(iso[:], 16*2048+1); err == nil && string(iso[:]) == "CD001" {
		return imageFormat{Format: "iso"}
	}
	return imageFormat{Format: "raw"}
}
