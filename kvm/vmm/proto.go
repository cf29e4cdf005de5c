package vmm

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/govirt/govirt/xmlconf"
)

// Frame limits of the control protocol.
const (
	// MaxRequestSize bounds a request frame.
	MaxRequestSize = 64 << 10
	// MaxResponseSize bounds a response frame (a memory peek or the live
	// XML dominate).
	MaxResponseSize = 8 << 20
	// MaxPeek is the most bytes one MemoryPeek returns.
	MaxPeek = 1 << 20
	// maxCPUList bounds the CPU list of a PinVCPU request.
	maxCPUList = maxHostCPU
	// maxDevName bounds a device name or path in a request.
	maxDevName = 4096
)

// Operations of the control protocol.
const (
	opHello       = "hello"
	opStatus      = "status"
	opPause       = "pause"
	opResume      = "resume"
	opPowerButton = "power-button"
	opReboot      = "reboot"
	opReset       = "reset"
	opDestroy     = "destroy"
	opPinVCPU     = "pin-vcpu"
	opSetBalloon  = "set-balloon"
	opMemoryPeek  = "memory-peek"
	opBlockStats  = "block-stats"
	opIfaceStats  = "interface-stats"
	opWait        = "wait"
	// Device hot-plug (hotplug.go).
	opAttachDevice = "attach-device"
	opDetachDevice = "detach-device"
)

// request is one control request. Only the fields of its operation may be
// set.
type request struct {
	Op      string `json:"op"`
	VCPU    int    `json:"vcpu,omitempty"`
	CPUs    []int  `json:"cpus,omitempty"`
	KiB     uint64 `json:"kib,omitempty"`
	Addr    uint64 `json:"addr,omitempty"`
	Len     int    `json:"len,omitempty"`
	Virtual bool   `json:"virtual,omitempty"`
	Dev     string `json:"dev,omitempty"`
	// XML and Taps are the device of attach-device and detach-device.
	XML  string `json:"xml,omitempty"`
	Taps []Tap  `json:"taps,omitempty"`
	// Job holds the arguments of save, core-dump and migrate (jobs.go).
	Job *jobArgs `json:"job,omitempty"`
}

// response is the answer to a request: Error, or the result field of its
// operation.
type response struct {
	Error      *wireError      `json:"error,omitempty"`
	Hello      *hello          `json:"hello,omitempty"`
	Status     *Status         `json:"status,omitempty"`
	Exit       *ExitStatus     `json:"exit,omitempty"`
	Data       []byte          `json:"data,omitempty"`
	Block      *BlockStats     `json:"block,omitempty"`
	Interface  *InterfaceStats `json:"interface,omitempty"`
	Listening  bool            `json:"listening,omitempty"`
	ExitRecord string          `json:"exit_record,omitempty"`
	Migrate    *MigrateStats   `json:"migrate,omitempty"`
}

// hello identifies the VMM behind a socket.
type hello struct {
	Name       string `json:"name"`
	UUID       string `json:"uuid"`
	PID        int    `json:"pid"`
	ExitRecord string `json:"exit_record"`
}

type wireError struct {
	Code    int32  `json:"code"`
	Domain  int32  `json:"domain"`
	Message string `json:"message"`
}

func toWire(err error) *wireError {
	var xe *xmlconf.Error
	if errors.As(err, &xe) {
		return &wireError{Code: int32(xe.Code), Domain: int32(xe.Domain), Message: xe.Message}
	}
	return &wireError{Code: int32(xmlconf.ErrInternalError), Domain: int32(xmlconf.FromDomain), Message: "internal error: " + err.Error()}
}

func (w *wireError) toError() *xmlconf.Error {
	return &xmlconf.Error{Code: xmlconf.ErrorNumber(w.Code), Domain: xmlconf.ErrorDomain(w.Domain), Message: w.Message}
}

// writeFrame sends one length-prefixed frame.
func writeFrame(w io.Writer, payload []byte, limit int) error {
	if len(payload) > limit {
		return fmt.Errorf("frame of %d bytes exceeds %d", len(payload), limit)
	}
	buf := make([]byte, 4+len(payload))
	binary.BigEndian.PutUint32(buf, uint32(len(payload)))
	copy(buf[4:], payload)
	_, err := w.Write(buf)
	return err
}

// readFrame reads one length-prefixed frame of at most limit bytes.
func readFrame(r io.Reader, limit int) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if uint64(n) > uint64(limit) {
		return nil, fmt.Errorf("frame of %d bytes exceeds %d", n, limit)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("read frame of %d bytes: %w", n, err)
	}
	return buf, nil
}

// decodeRequest parses and checks a request payload. Errors are
// ErrInvalidArg (malformed) or ErrArgumentUnsupported (unknown operation).
func decodeRequest(b []byte) (*request, error) {
	if len(b) > MaxRequestSize {
		return nil, xmlconf.Errorf(xmlconf.ErrInvalidArg, "control request of %d bytes exceeds %d", len(b), MaxRequestSize)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var r request
	if err := dec.Decode(&r); err != nil {
		return nil, xmlconf.Errorf(xmlconf.ErrInvalidArg, "malformed control request: %w", err)
	}
	if dec.More() {
		return nil, xmlconf.Errorf(xmlconf.ErrInvalidArg, "malformed control request: data after the request")
	}
	if err := r.check(); err != nil {
		return nil, err
	}
	return &r, nil
}

// check bounds a request's fields by operation.
func (r *request) check() error {
	bad := func(format string, args ...any) error {
		return xmlconf.Errorf(xmlconf.ErrInvalidArg, "control request %q: "+format, append([]any{r.Op}, args...)...)
	}
	extra := r.VCPU != 0 || r.CPUs != nil || r.KiB != 0 || r.Addr != 0 || r.Len != 0 || r.Virtual || r.Dev != ""
	if isJobOp(r.Op) {
		return r.checkJob(extra, bad)
	}
	if r.Job != nil {
		return bad("unexpected arguments")
	}
	if r.Op == opAttachDevice || r.Op == opDetachDevice {
		return r.checkDevice(extra, bad)
	}
	if r.XML != "" || r.Taps != nil {
		return bad("unexpected arguments")
	}
	switch r.Op {
	case opHello, opStatus, opPause, opResume, opPowerButton, opReboot, opReset, opDestroy, opWait:
		if extra {
			return bad("takes no arguments")
		}
	case opPinVCPU:
		if r.KiB != 0 || r.Addr != 0 || r.Len != 0 || r.Virtual || r.Dev != "" {
			return bad("unexpected arguments")
		}
		if r.VCPU < 0 || r.VCPU >= maxHostCPU {
			return bad("vcpu %d out of range", r.VCPU)
		}
		if len(r.CPUs) == 0 || len(r.CPUs) > maxCPUList {
			return bad("cpu list of %d entries (want 1 to %d)", len(r.CPUs), maxCPUList)
		}
		for _, c := range r.CPUs {
			if c < 0 || c >= maxHostCPU {
				return bad("host cpu %d out of range", c)
			}
		}
	case opSetBalloon:
		if r.VCPU != 0 || r.CPUs != nil || r.Addr != 0 || r.Len != 0 || r.Virtual || r.Dev != "" {
			return bad("unexpected arguments")
		}
	case opMemoryPeek:
		if r.VCPU != 0 || r.CPUs != nil || r.KiB != 0 || r.Dev != "" {
			return bad("unexpected arguments")
		}
		if r.Len < 0 || r.Len > MaxPeek {
			return bad("length %d out of range 0..%d", r.Len, MaxPeek)
		}
		if r.Addr+uint64(r.Len) < r.Addr {
			return bad("range %#x+%d wraps", r.Addr, r.Len)
		}
	case opBlockStats, opIfaceStats:
		if r.VCPU != 0 || r.CPUs != nil || r.KiB != 0 || r.Addr != 0 || r.Len != 0 || r.Virtual {
			return bad("unexpected arguments")
		}
		if r.Dev == "" || len(r.Dev) > maxDevName {
			return bad("device name of %d bytes", len(r.Dev))
		}
	default:
		if len(r.Op) > 64 {
			return xmlconf.Errorf(xmlconf.ErrArgumentUnsupported, "unknown control operation of %d bytes", len(r.Op))
		}
		return xmlconf.Errorf(xmlconf.ErrArgumentUnsupported, "unknown control operation %q", r.Op)
	}
	return nil
}
