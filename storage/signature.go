package storage

import (
	"bufio"
	"bytes"
	"context"
	"strings"
)

// signature is what blkid found at the start of a device: a filesystem or
// other content TYPE (ext4, xfs, vfat, LVM2_member, swap...) and a
// partition table PTTYPE (gpt, dos). Both are empty for a blank device.
type signature struct {
	Type   string
	PTType string
}

// empty reports whether nothing was found.
func (s signature) empty() bool { return s.Type == "" && s.PTType == "" }

// String names what was found, for messages.
func (s signature) String() string {
	switch {
	case s.Type != "" && s.PTType != "":
		return s.Type + " and a " + s.PTType + " partition table"
	case s.Type != "":
		return s.Type
	case s.PTType != "":
		return s.PTType
	}
	return "nothing"
}

// probeSignature runs a low-level blkid probe (which reads the device, not
// blkid's cache) of path. blkid exits 2 when it finds nothing.
func probeSignature(ctx context.Context, e *env, path string) (signature, error) {
	out, err := e.run(ctx, "blkid", nil, "-p", "-o", "export", "--", path)
	if err != nil {
		if exitCode(err) == 2 {
			return signature{}, nil
		}
		return signature{}, toolFailed("probe of '"+path+"' failed", err)
	}
	return parseBlkidExport(out), nil
}

// parseBlkidExport reads blkid's "-o export" KEY=value lines.
func parseBlkidExport(out []byte) signature {
	var s signature
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		switch k {
		case "TYPE":
			s.Type = v
		case "PTTYPE":
			s.PTType = v
		}
	}
	return s
}
