package devices

import (
	"errors"
	"sync"
)

// i8042 commands and status bits handled here.
const (
	kbcReadCTR     = 0x20
	kbcWriteCTR    = 0x60
	kbcDisableAux  = 0xA7
	kbcEnableAux   = 0xA8
	kbcTestAux     = 0xA9
	kbcSelfTest    = 0xAA
	kbcTestKbd     = 0xAB
	kbcDisableKbd  = 0xAD
	kbcEnableKbd   = 0xAE
	kbcReadOutPort = 0xD0
	kbcWriteOutput = 0xD1
	kbcPulseFirst  = 0xF0 // 0xF0-0xFF pulse output lines; bit 0 clear pulses reset

	kbcStatusOBF    = 1 << 0
	kbcStatusSys    = 1 << 2
	kbcStatusCmd    = 1 << 3
	kbcStatusUnlock = 1 << 4
)

// I8042 is the keyboard controller, reduced to what guests use without a
// keyboard: its command byte, self tests and the reset line (command 0xFE,
// or output-port bit 0 cleared). Register its Data handler at port 0x60 and
// its Command handler at 0x64.
type I8042 struct {
	onReset func()

	// mu protects the fields below.
	mu      sync.Mutex
	ctr     byte
	out     byte // output buffer
	obf     bool
	cmd     bool // last write was to the command port
	pending byte // command awaiting its data byte (0x60, 0xD1), or 0
}

// NewI8042 returns a controller that calls onReset when the guest pulses
// the reset line.
func NewI8042(onReset func()) *I8042 {
	k := &I8042{onReset: onReset}
	k.Reset()
	return k
}

// Reset returns the controller to its power-on state.
func (k *I8042) Reset() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.ctr = 0x45 // keyboard interrupt, system flag, translation
	k.out, k.obf, k.cmd, k.pending = 0, false, false, 0
}

func (k *I8042) put(v byte) { k.out, k.obf = v, true }

// Data is the handler for port 0x60.
func (k *I8042) Data() Handler { return kbcData{k} }

// Command is the handler for port 0x64 (status on read).
func (k *I8042) Command() Handler { return kbcCommand{k} }

type kbcData struct{ k *I8042 }

func (d kbcData) Read(off uint64, data []byte) error {
	if off != 0 || len(data) == 0 {
		return errors.New("i8042 data read out of range")
	}
	k := d.k
	k.mu.Lock()
	defer k.mu.Unlock()
	fill(data, 0)
	data[0] = k.out
	k.obf = false
	return nil
}

func (d kbcData) Write(off uint64, data []byte) error {
	if off != 0 || len(data) == 0 {
		return errors.New("i8042 data write out of range")
	}
	k := d.k
	k.mu.Lock()
	k.cmd = false
	pending := k.pending
	k.pending = 0
	reset := false
	switch pending {
	case kbcWriteCTR:
		k.ctr = data[0]
	case kbcWriteOutput:
		reset = data[0]&1 == 0
	default:
		// A byte for the keyboard, which is absent: no reply.
	}
	k.mu.Unlock()
	if reset && k.onReset != nil {
		k.onReset()
	}
	return nil
}

type kbcCommand struct{ k *I8042 }

func (c kbcCommand) Read(off uint64, data []byte) error {
	if off != 0 || len(data) == 0 {
		return errors.New("i8042 status read out of range")
	}
	k := c.k
	k.mu.Lock()
	defer k.mu.Unlock()
	fill(data, 0)
	st := byte(kbcStatusUnlock)
	if k.ctr&kbcStatusSys != 0 {
		st |= kbcStatusSys
	}
	if k.obf {
		st |= kbcStatusOBF
	}
	if k.cmd {
		st |= kbcStatusCmd
	}
	data[0] = st
	return nil
}

func (c kbcCommand) Write(off uint64, data []byte) error {
	if off != 0 || len(data) == 0 {
		return errors.New("i8042 command write out of range")
	}
	k := c.k
	v := data[0]
	k.mu.Lock()
	k.cmd = true
	reset := false
	switch {
	case v == kbcReadCTR:
		k.put(k.ctr)
	case v == kbcWriteCTR || v == kbcWriteOutput:
		k.pending = v
	case v == kbcSelfTest:
		k.ctr |= kbcStatusSys
		k.put(0x55)
	case v == kbcTestKbd || v == kbcTestAux:
		k.put(0x00)
	case v == kbcReadOutPort:
		k.put(0x01) // reset line high (not asserted), A20 off
	case v == kbcDisableKbd:
		k.ctr |= 0x10
	case v == kbcEnableKbd:
		k.ctr &^= 0x10
	case v == kbcDisableAux:
		k.ctr |= 0x20
	case v == kbcEnableAux:
		k.ctr &^= 0x20
	case v >= kbcPulseFirst:
		reset = v&1 == 0
	}
	k.mu.Unlock()
	if reset && k.onReset != nil {
		k.onReset()
	}
	return nil
}

// ResetControl is the PIIX reset control register at port 0xCF9: writing a
// value with bit 2 (RST_CPU) set resets the machine.
type ResetControl struct {
	onReset func()
	mu      sync.Mutex
	val     byte
}

// NewResetControl returns the register; onReset runs on a reset write.
func NewResetControl(onReset func()) *ResetControl { return &ResetControl{onReset: onReset} }

// Reset clears the register.
func (r *ResetControl) Reset() {
	r.mu.Lock()
	r.val = 0
	r.mu.Unlock()
}

// Read returns the register (byte access only).
func (r *ResetControl) Read(off uint64, data []byte) error {
	if off != 0 || len(data) != 1 {
		return errors.New("reset control: only byte accesses")
	}
	r.mu.Lock()
	data[0] = r.val
	r.mu.Unlock()
	return nil
}

// Write stores the register and resets on RST_CPU.
func (r *ResetControl) Write(off uint64, data []byte) error {
	if off != 0 || len(data) != 1 {
		return errors.New("reset control: only byte accesses")
	}
	r.mu.Lock()
	r.val = data[0] & 0x0A // SYS_RST and FULL_RST stick; RST_CPU self-clears
	r.mu.Unlock()
	if data[0]&0x04 != 0 && r.onReset != nil {
		r.onReset()
	}
	return nil
}

// POST is the diagnostic port 0x80: it keeps the last value written and
// counts writes (guests use it as an I/O delay).
type POST struct {
	mu     sync.Mutex
	last   byte
	writes uint64
}

// Read returns the last value written.
func (p *POST) Read(off uint64, data []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	fill(data, p.last)
	return nil
}

// Write records the value.
func (p *POST) Write(off uint64, data []byte) error {
	if len(data) == 0 {
		return errors.New("post: empty write")
	}
	p.mu.Lock()
	p.last = data[0]
	p.writes++
	p.mu.Unlock()
	return nil
}

// Writes returns the number of writes and the last value.
func (p *POST) Writes() (uint64, byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.writes, p.last
}
