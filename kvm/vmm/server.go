package vmm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/govirt/govirt/xmlconf"
)

// Control connection limits.
const (
	maxConns       = 64
	requestTimeout = 10 * time.Second
	replyTimeout   = 10 * time.Second
	opTimeout      = 60 * time.Second
)

// listen creates the control socket with mode 0600 (no window in which it
// is open to others: the umask covers its creation).
func (v *vmm) listen() error {
	path := v.cfg.ControlSocket
	if st, err := os.Lstat(path); err == nil {
		if st.Mode()&os.ModeSocket == 0 {
			return fmt.Errorf("control socket %s exists and is not a socket", path)
		}
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("remove stale control socket: %w", err)
		}
	}
	old := syscall.Umask(0o177)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	syscall.Umask(old)
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	ln.SetUnlinkOnClose(true)
	v.mu.Lock()
	v.ln = ln
	v.mu.Unlock()
	go v.serve(ln)
	return nil
}

func (v *vmm) serve(ln *net.UnixListener) {
	for {
		conn, err := ln.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			v.log.Warn("control socket accept", "err", err)
			time.Sleep(10 * time.Millisecond) // e.g. EMFILE: do not spin
			continue
		}
		v.mu.Lock()
		busy := v.nconns >= maxConns
		if !busy {
			v.nconns++
			v.conns.Add(1)
		}
		v.mu.Unlock()
		if busy {
			v.reject(conn)
			continue
		}
		go func() {
			defer func() {
				v.mu.Lock()
				v.nconns--
				v.mu.Unlock()
				v.conns.Done()
			}()
			v.handle(conn)
		}()
	}
}

func (v *vmm) reject(conn *net.UnixConn) {
	defer conn.Close()
	if err := conn.SetWriteDeadline(time.Now().Add(time.Second)); err != nil {
		return
	}
	resp := response{Error: toWire(xmlconf.Errorf(xmlconf.ErrResourceBusy, "vmm has %d control connections open", maxConns))}
	if b, err := json.Marshal(resp); err == nil {
		if err := writeFrame(conn, b, MaxResponseSize); err != nil {
			v.log.Debug("reject control connection", "err", err)
		}
	}
}

// handle serves one request on conn. A malformed request gets an error
// reply; nothing a client sends stops the VMM.
func (v *vmm) handle(conn *net.UnixConn) {
	defer conn.Close()
	if err := conn.SetReadDeadline(time.Now().Add(requestTimeout)); err != nil {
		return
	}
	var resp response
	b, err := readFrame(conn, MaxRequestSize)
	switch {
	case errors.Is(err, io.EOF):
		return // a probe that connected and left
	case err != nil:
		resp.Error = toWire(xmlconf.Errorf(xmlconf.ErrInvalidArg, "read control request: %w", err))
	default:
		req, err := decodeRequest(b)
		if err != nil {
			resp.Error = toWire(err)
			break
		}
		if err := conn.SetReadDeadline(time.Time{}); err != nil {
			return
		}
		ctx, cancel := context.WithCancel(context.Background())
		// The peer hanging up cancels a blocking request (Wait).
		go func() {
			var one [1]byte
			if _, err := conn.Read(one[:]); err == nil {
				v.log.Debug("control client sent data after its request")
			}
			cancel()
		}()
		resp = v.dispatch(ctx, req)
		cancel()
		if ctx.Err() != nil && resp.Error == nil && req.Op == opWait && resp.Exit == nil {
			return // the waiter left
		}
	}
	out, err := json.Marshal(resp)
	if err == nil && len(out) > MaxResponseSize {
		err = fmt.Errorf("response of %d bytes", len(out))
	}
	if err != nil {
		v.log.Error("encode control response", "err", err)
		var merr error
		if out, merr = json.Marshal(response{Error: toWire(xmlconf.Errorf(xmlconf.ErrInternalError, "encode control response: %w", err))}); merr != nil {
			return // a response holding one short error always encodes
		}
	}
	if err := conn.SetWriteDeadline(time.Now().Add(replyTimeout)); err != nil {
		return
	}
	if err := writeFrame(conn, out, MaxResponseSize); err != nil {
		v.log.Debug("control reply", "err", err)
	}
}

// dispatch runs one request.
func (v *vmm) dispatch(ctx context.Context, r *request) (resp response) {
	fail := func(err error) response { return response{Error: toWire(err)} }
	opCtx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	switch r.Op {
	case opHello:
		return response{Hello: &hello{Name: v.cfg.Name, UUID: v.cfg.UUID, PID: v.pid, ExitRecord: ExitRecordPath(v.cfg.RuntimeDir)}}
	case opStatus:
		s := v.status()
		return response{Status: &s}
	case opPause:
		if err := v.pause(); err != nil {
			return fail(err)
		}
	case opResume:
		if err := v.resume(); err != nil {
			return fail(err)
		}
	case opPowerButton:
		l, err := v.powerButton()
		if err != nil {
			return fail(err)
		}
		return response{Listening: l}
	case opReboot:
		if err := v.reboot(opCtx); err != nil {
			return fail(err)
		}
	case opReset:
		if err := v.reset(); err != nil {
			return fail(err)
		}
	case opDestroy:
		if err := v.destroy(opCtx, false); err != nil {
			return fail(err)
		}
	case opPinVCPU:
		if err := v.pinVCPU(r.VCPU, r.CPUs); err != nil {
			return fail(err)
		}
	case opSetBalloon:
		if err := v.setBalloon(r.KiB); err != nil {
			return fail(err)
		}
	case opMemoryPeek:
		b, err := v.memoryPeek(r.Addr, r.Len, r.Virtual)
		if err != nil {
			return fail(err)
		}
		return response{Data: b}
	case opBlockStats:
		s, err := v.blockStats(r.Dev)
		if err != nil {
			return fail(err)
		}
		return response{Block: &s}
	case opIfaceStats:
		s, err := v.interfaceStats(r.Dev)
		if err != nil {
			return fail(err)
		}
		return response{Interface: &s}
	case opSave, opCoreDump, opMigrate:
		return v.dispatchJob(ctx, r)
	case opAttachDevice:
		if err := v.attachDevice(r.XML, r.Taps); err != nil {
			return fail(err)
		}
		s := v.status()
		return response{Status: &s}
	case opDetachDevice:
		if err := v.detachDevice(opCtx, r.XML); err != nil {
			return fail(err)
		}
	case opWait:
		select {
		case <-v.ended:
			v.mu.Lock()
			e := *v.exit
			v.mu.Unlock()
			return response{Exit: &e}
		case <-ctx.Done():
			return response{}
		}
	default:
		return fail(xmlconf.Errorf(xmlconf.ErrArgumentUnsupported, "unknown control operation %q", r.Op))
	}
	return response{}
}
