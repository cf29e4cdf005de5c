package testdriver

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/govirt/govirt/api"
)

// Save images and core dumps share one shape, after libvirt's QEMU save
// file: a 16-byte magic, a little-endian header, the domain XML, then the
// run state.
//
//	magic   [16]byte  "govirt-testsave\n" or "govirt-testcore\n"
//	version uint32    saveVersion
//	state   uint32    the api.DomainState at save time (running or paused)
//	xmlLen  uint32    length of the XML that follows
//	xml     [xmlLen]byte
//	weight  uint32    scheduler weight
//	ioTick  uint64    the stats counter
//
// Restore refuses files of another version with a clear error.
const (
	saveMagic   = "govirt-testsave\n"
	coreMagic   = "govirt-testcore\n"
	saveVersion = 1
	// maxSaveXML bounds the XML length a save image may declare.
	maxSaveXML = 16 << 20
)

type saveHeader struct {
	Version uint32
	State   uint32
	XMLLen  uint32
}

type saveState struct {
	Weight uint32
	IOTick uint64
}

// writeImage writes a save image or core dump of d to path.
func writeImage(path, magic string, d *domain, xml string) error {
	var buf bytes.Buffer
	buf.WriteString(magic)
	hdr := saveHeader{Version: saveVersion, State: uint32(d.state), XMLLen: uint32(len(xml))}
	// Writes to a bytes.Buffer cannot fail.
	binary.Write(&buf, binary.LittleEndian, hdr)
	buf.WriteString(xml)
	binary.Write(&buf, binary.LittleEndian, saveState{Weight: d.weight, IOTick: d.ioTick.Load()})
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		// The file may be half written; leave nothing behind.
		if rmErr := os.Remove(path); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) {
			err = errors.Join(err, rmErr)
		}
		return api.Errorf(api.ErrSystemError, "saving domain '%s' to '%s': %w", d.def.Name, path, err)
	}
	return nil
}

// savedImage is a parsed save image.
type savedImage struct {
	state api.DomainState
	xml   string
	saveState
}

// readImage reads and checks the save image at path.
func readImage(path string) (*savedImage, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, api.Errorf(api.ErrSystemError, "cannot read domain image '%s': %w", path, err)
	}
	defer f.Close()
	magic := make([]byte, len(saveMagic))
	if _, err := io.ReadFull(f, magic); err != nil {
		return nil, api.Errorf(api.ErrOperationFailed, "'%s' is not a test driver save image: %w", path, err)
	}
	if string(magic) != saveMagic {
		return nil, api.Errorf(api.ErrOperationFailed, "'%s' is not a test driver save image: mismatched header magic", path)
	}
	var hdr saveHeader
	if err := binary.Read(f, binary.LittleEndian, &hdr); err != nil {
		return nil, api.Errorf(api.ErrOperationFailed, "save image '%s' has an incomplete header: %w", path, err)
	}
	if hdr.Version != saveVersion {
		return nil, api.Errorf(api.ErrOperationFailed, "save image '%s' has version %d, this driver reads version %d", path, hdr.Version, saveVersion)
	}
	st := api.DomainState(hdr.State)
	if st != api.DomainRunning && st != api.DomainPaused {
		return nil, api.Errorf(api.ErrOperationFailed, "save image '%s' records state %d, neither running nor paused", path, hdr.State)
	}
	if hdr.XMLLen == 0 || hdr.XMLLen > maxSaveXML {
		return nil, api.Errorf(api.ErrOperationFailed, "save image '%s' declares %d bytes of XML, outside 1..%d", path, hdr.XMLLen, maxSaveXML)
	}
	xml := make([]byte, hdr.XMLLen)
	if _, err := io.ReadFull(f, xml); err != nil {
		return nil, api.Errorf(api.ErrOperationFailed, "save image '%s' has incomplete domain XML: %w", path, err)
	}
	img := &savedImage{state: st, xml: string(xml)}
	if err := binary.Read(f, binary.LittleEndian, &img.saveState); err != nil {
		return nil, api.Errorf(api.ErrOperationFailed, "save image '%s' has an incomplete state section: %w", path, err)
	}
	return img, nil
}

// DomainSave implements api.ConnDriver: it writes the domain's live XML
// and run state to the file to and stops it (a transient domain
// disappears).
func (c *conn) DomainSave(ctx context.Context, r api.DomainRef, to string) error {
	return c.withDomain(ctx, r, func(d *domain) error {
		if !d.active() {
			return notRunning()
		}
		xml, err := d.xml(false)
		if err != nil {
			return err
		}
		if err := writeImage(to, saveMagic, d, xml); err != nil {
			return err
		}
		c.inst.stopDomain(d, shutoffSaved)
		return nil
	})
}

// DomainRestore implements api.ConnDriver: the saved domain runs again
// (paused if it was saved paused). A defined domain of the same name and
// UUID keeps its configuration; an active one makes Restore fail.
func (c *conn) DomainRestore(ctx context.Context, from string) error {
	if err := c.enter(ctx); err != nil {
		return err
	}
	img, err := readImage(from)
	if err != nil {
		return err
	}
	def, err := parseDomainXML(img.xml)
	if err != nil {
		return fmt.Errorf("restore from '%s': %w", from, err)
	}
	inst := c.inst
	inst.mu.Lock()
	defer inst.mu.Unlock()
	d, _, err := inst.checkDomainConflict(def, true)
	if err != nil {
		return err
	}
	if d == nil {
		d = &domain{def: def, id: -1, state: api.DomainShutoff}
		inst.addDomain(d)
		inst.startDomain(d, runningRestored)
	} else {
		inst.startDomainWith(d, def, runningRestored)
	}
	d.weight = img.Weight
	d.ioTick.Store(img.IOTick)
	if img.state == api.DomainPaused {
		d.state, d.reason = api.DomainPaused, pausedUser
	}
	return nil
}

// DomainCoreDump implements api.ConnDriver: it writes the domain's XML and
// state in the save image layout (with the core magic; the test driver has
// no guest memory to dump). DumpCrash leaves the domain crashed, as
// libvirt's test driver does.
func (c *conn) DomainCoreDump(ctx context.Context, r api.DomainRef, to string, flags api.DomainCoreDumpFlags) error {
	known := api.DumpCrash | api.DumpLive | api.DumpBypassCache | api.DumpReset | api.DumpMemoryOnly
	if flags&^known != 0 {
		return api.Errorf(api.ErrInvalidArg, "unsupported flags (0x%x) in virDomainCoreDump", uint32(flags&^known))
	}
	if flags&api.DumpCrash != 0 && flags&(api.DumpLive|api.DumpReset) != 0 {
		return api.Errorf(api.ErrInvalidArg, "crash and live or reset flags are mutually exclusive")
	}
	return c.withDomain(ctx, r, func(d *domain) error {
		if !d.active() {
			return notRunning()
		}
		xml, err := d.xml(false)
		if err != nil {
			return err
		}
		if err := writeImage(to, coreMagic, d, xml); err != nil {
			return err
		}
		if flags&api.DumpCrash != 0 {
			c.inst.stopDomain(d, shutoffCrashed)
		}
		return nil
	})
}
