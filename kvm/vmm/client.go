package vmm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"time"

	"github.com/govirt/govirt/xmlconf"
)

// Client talks to one VMM over its control socket. Each call is one
// connection carrying one request, so a Client is safe for concurrent use
// and a blocking Wait does not hold up other calls.
//
// Errors are *xmlconf.Error: the VMM's own (with libvirt codes such as
// ErrOperationInvalid for a wrong state or ErrInvalidArg for a bad
// argument), ErrOperationFailed wrapping the socket error when the VMM
// cannot be reached (errors.Is(err, syscall.ECONNREFUSED) or
// fs.ErrNotExist tell a dead VMM), and ErrOperationTimeout wrapping the
// context's error.
type Client struct {
	socket string
	hello  hello
}

// Dial connects to the VMM listening on socket and identifies it.
func Dial(ctx context.Context, socket string) (*Client, error) {
	c := &Client{socket: socket}
	resp, err := c.call(ctx, &request{Op: opHello})
	if err != nil {
		return nil, err
	}
	if resp.Hello == nil {
		return nil, xmlconf.Errorf(xmlconf.ErrRPC, "vmm at %s answered hello without identity", socket)
	}
	c.hello = *resp.Hello
	return c, nil
}

// PID is the VMM's process id.
func (c *Client) PID() int { return c.hello.PID }

// Name is the name of the domain the VMM runs.
func (c *Client) Name() string { return c.hello.Name }

// UUID is the uuid of the domain the VMM runs.
func (c *Client) UUID() string { return c.hello.UUID }

// call sends one request and reads its response.
func (c *Client) call(ctx context.Context, req *request) (*response, error) {
	payload, err := json.Marshal(req)
	if err != nil {
		return nil, xmlconf.Errorf(xmlconf.ErrInternalError, "encode control request: %w", err)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.socket)
	if err != nil {
		if ctx.Err() != nil {
			return nil, timeout(req.Op, ctx.Err())
		}
		return nil, xmlconf.Errorf(xmlconf.ErrOperationFailed, "cannot reach vmm at %s: %w", c.socket, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(dl); err != nil {
			return nil, xmlconf.Errorf(xmlconf.ErrOperationFailed, "vmm %s: %w", req.Op, err)
		}
	}
	stop := context.AfterFunc(ctx, func() {
		// Unblock the read or write below; the error is reported through
		// ctx.Err().
		if err := conn.SetDeadline(time.Unix(1, 0)); err != nil {
			conn.Close()
		}
	})
	defer stop()
	if err := writeFrame(conn, payload, MaxRequestSize); err != nil {
		if ctx.Err() != nil {
			return nil, timeout(req.Op, ctx.Err())
		}
		return nil, xmlconf.Errorf(xmlconf.ErrOperationFailed, "send %s to vmm at %s: %w", req.Op, c.socket, err)
	}
	b, err := readFrame(conn, MaxResponseSize)
	if err != nil {
		if ctx.Err() != nil {
			return nil, timeout(req.Op, ctx.Err())
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, xmlconf.Errorf(xmlconf.ErrOperationFailed, "vmm at %s hung up during %s: %w", c.socket, req.Op, errVMMHungUp)
		}
		return nil, xmlconf.Errorf(xmlconf.ErrOperationFailed, "read %s reply from vmm at %s: %w", req.Op, c.socket, err)
	}
	var resp response
	if err := json.Unmarshal(b, &resp); err != nil {
		return nil, xmlconf.Errorf(xmlconf.ErrRPC, "malformed reply from vmm at %s: %w", c.socket, err)
	}
	if resp.Error != nil {
		return nil, resp.Error.toError()
	}
	return &resp, nil
}

// errVMMHungUp marks a connection the VMM closed without replying.
var errVMMHungUp = errors.New("connection closed without a reply")

func timeout(op string, err error) error {
	return xmlconf.Errorf(xmlconf.ErrOperationTimeout, "vmm %s: %w", op, err)
}

func (c *Client) simple(ctx context.Context, op string) error {
	_, err := c.call(ctx, &request{Op: op})
	return err
}

// Status reports the domain's state, vCPUs, memory and live XML.
func (c *Client) Status(ctx context.Context) (Status, error) {
	resp, err := c.call(ctx, &request{Op: opStatus})
	if err != nil {
		return Status{}, err
	}
	if resp.Status == nil {
		return Status{}, xmlconf.Errorf(xmlconf.ErrRPC, "vmm status reply without status")
	}
	return *resp.Status, nil
}

// Pause stops the vCPUs (and device processing). Pausing a paused domain
// does nothing.
func (c *Client) Pause(ctx context.Context) error { return c.simple(ctx, opPause) }

// Resume runs a paused domain (or starts the vCPUs of one started paused).
func (c *Client) Resume(ctx context.Context) error { return c.simple(ctx, opResume) }

// PowerButton presses the ACPI power button. It succeeds whether or not
// the guest listens (as libvirt's shutdown does); Listening reports it.
func (c *Client) PowerButton(ctx context.Context) error {
	_, err := c.PowerButtonListening(ctx)
	return err
}

// PowerButtonListening presses the power button and reports whether the
// guest had enabled the power button event.
func (c *Client) PowerButtonListening(ctx context.Context) (bool, error) {
	resp, err := c.call(ctx, &request{Op: opPowerButton})
	if err != nil {
		return false, err
	}
	return resp.Listening, nil
}

// Reboot is libvirt's reboot without a guest agent: with on_reboot restart
// the machine resets in place, with on_reboot destroy the domain ends with
// reason ExitRebootDestroy.
func (c *Client) Reboot(ctx context.Context) error { return c.simple(ctx, opReboot) }

// Reset resets the machine in place whatever on_reboot says (libvirt's
// virDomainReset).
func (c *Client) Reset(ctx context.Context) error { return c.simple(ctx, opReset) }

// Destroy stops the guest now. It returns once the VMM has stopped the
// vCPUs and written its exit record; the process exits right after.
func (c *Client) Destroy(ctx context.Context) error { return c.simple(ctx, opDestroy) }

// PinVCPU pins vCPU vcpu to the host CPUs in cpus.
func (c *Client) PinVCPU(ctx context.Context, vcpu int, cpus []int) error {
	if len(cpus) == 0 {
		return xmlconf.Errorf(xmlconf.ErrInvalidArg, "empty cpu map")
	}
	_, err := c.call(ctx, &request{Op: opPinVCPU, VCPU: vcpu, CPUs: cpus})
	return err
}

// SetBalloon asks the guest to shrink or grow to kib KiB through the
// balloon (the guest driver does the work; Status shows its progress).
func (c *Client) SetBalloon(ctx context.Context, kib uint64) error {
	_, err := c.call(ctx, &request{Op: opSetBalloon, KiB: kib})
	return err
}

// MemoryPeek reads n bytes (at most MaxPeek) of guest memory at addr:
// physical, or virtual through vCPU 0's page tables. A range outside RAM
// or not mapped is ErrInvalidArg.
func (c *Client) MemoryPeek(ctx context.Context, addr uint64, n int, virtual bool) ([]byte, error) {
	if n < 0 || n > MaxPeek {
		return nil, xmlconf.Errorf(xmlconf.ErrInvalidArg, "memory peek of %d bytes (at most %d)", n, MaxPeek)
	}
	resp, err := c.call(ctx, &request{Op: opMemoryPeek, Addr: addr, Len: n, Virtual: virtual})
	if err != nil {
		return nil, err
	}
	if len(resp.Data) != n {
		return nil, xmlconf.Errorf(xmlconf.ErrRPC, "memory peek returned %d bytes, want %d", len(resp.Data), n)
	}
	return resp.Data, nil
}

// BlockStats returns the counters of the disk with target dev (vda) or
// source path dev.
func (c *Client) BlockStats(ctx context.Context, dev string) (BlockStats, error) {
	resp, err := c.call(ctx, &request{Op: opBlockStats, Dev: dev})
	if err != nil {
		return BlockStats{}, err
	}
	if resp.Block == nil {
		return BlockStats{}, xmlconf.Errorf(xmlconf.ErrRPC, "vmm block stats reply without stats")
	}
	return *resp.Block, nil
}

// InterfaceStats returns the counters of the interface with tap name or
// MAC address dev.
func (c *Client) InterfaceStats(ctx context.Context, dev string) (InterfaceStats, error) {
	resp, err := c.call(ctx, &request{Op: opIfaceStats, Dev: dev})
	if err != nil {
		return InterfaceStats{}, err
	}
	if resp.Interface == nil {
		return InterfaceStats{}, xmlconf.Errorf(xmlconf.ErrRPC, "vmm interface stats reply without stats")
	}
	return *resp.Interface, nil
}

// AttachDevice hot-plugs a <disk> (virtio, a file or block device the
// driver has resolved) or an <interface> (virtio-net on the tap the driver
// created, named in taps with the interface's MAC) into a free PCI slot,
// or the slot its <address> names, and signals the guest (ACPI device
// check). It returns the domain's live XML with the device. A target or
// MAC already present or no free slot is ErrOperationFailed; what govirt
// cannot run is ErrConfigUnsupported naming it (the checks are Check's).
func (c *Client) AttachDevice(ctx context.Context, xml string, taps []Tap) (string, error) {
	resp, err := c.call(ctx, &request{Op: opAttachDevice, XML: xml, Taps: taps})
	if err != nil {
		return "", err
	}
	if resp.Status == nil {
		return "", xmlconf.Errorf(xmlconf.ErrRPC, "vmm attach reply without status")
	}
	return resp.Status.LiveXML, nil
}

// DetachDevice asks the guest to release a <disk> (matched by target) or
// an <interface> (matched by MAC) through an ACPI eject request, as
// libvirt does: it returns once the request is delivered, after waiting a
// few seconds for the guest to eject the device. The device leaves the
// live XML when the guest ejects it (or at the next machine reset); the
// driver then deletes an interface's tap. A device that is not there is
// ErrDeviceMissing.
func (c *Client) DetachDevice(ctx context.Context, xml string) error {
	_, err := c.call(ctx, &request{Op: opDetachDevice, XML: xml})
	return err
}

// Wait returns when the guest has stopped and how. When the VMM is
// already gone it reads the exit record the VMM left; a VMM that died
// without one (killed) gives ErrOperationFailed.
func (c *Client) Wait(ctx context.Context) (ExitStatus, error) {
	resp, err := c.call(ctx, &request{Op: opWait})
	if err == nil {
		if resp.Exit == nil {
			return ExitStatus{}, xmlconf.Errorf(xmlconf.ErrRPC, "vmm wait reply without exit status")
		}
		return *resp.Exit, nil
	}
	if ctx.Err() != nil || xmlconf.CodeOf(err) != xmlconf.ErrOperationFailed {
		return ExitStatus{}, err
	}
	// The VMM is gone: it either recorded its exit before leaving or died.
	e, rerr := readExitRecord(c.hello.ExitRecord)
	if rerr == nil && e.PID == c.hello.PID {
		return e, nil
	}
	if rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
		return ExitStatus{}, xmlconf.Errorf(xmlconf.ErrOperationFailed, "vmm of domain %s is gone: %w", c.hello.Name, rerr)
	}
	return ExitStatus{}, xmlconf.Errorf(xmlconf.ErrOperationFailed, "vmm of domain %s (pid %d) ended without an exit record: %w",
		c.hello.Name, c.hello.PID, err)
}

// String names the VMM for logs.
func (c *Client) String() string { return fmt.Sprintf("vmm %s (pid %d)", c.hello.Name, c.hello.PID) }
