package devices

import (
	"errors"
	"log/slog"
	"math/bits"
	"sync"
	"time"
)

// PM1 status/enable bits (ACPI 6.x, 4.8.3.1).
const (
	PM1TmrSts    = 1 << 0
	PM1GblSts    = 1 << 5
	PM1PwrBtnSts = 1 << 8
	PM1SlpBtnSts = 1 << 9
	PM1RTCSts    = 1 << 10
	PM1WakeSts   = 1 << 15

	pm1EnMask  = PM1TmrSts | PM1GblSts | PM1PwrBtnSts | PM1SlpBtnSts | PM1RTCSts
	pm1StsMask = pm1EnMask | PM1WakeSts | 1<<4 /* BM_STS */

	pm1CntSCIEn   = 1 << 0
	pm1CntSlpEn   = 1 << 13
	pm1CntSlpTyp  = 7 << 10
	pm1CntRWMask  = 0x1C07 // SCI_EN, BM_RLD, GBL_RLS, SLP_TYP
	pmTimerHz     = 3579545
	PMEventLen    = 4
	PMControlLen  = 2
	PMTimerLen    = 4
	GPE0Len       = 4
	gpe0HalfBytes = GPE0Len / 2
)

// ACPIPMConfig configures the ACPI power-management registers.
type ACPIPMConfig struct {
	IRQ IRQLine
	// SCI is the GSI of the SCI (level-triggered, active high).
	SCI uint32
	// S5Type is the SLP_TYP value the DSDT's \_S5 declares.
	S5Type uint8
	// OnPowerOff runs when the guest enters S5.
	OnPowerOff func()
	// Now is the monotonic clock behind the PM timer (time.Now if nil).
	Now func() time.Time
	Log *slog.Logger
}

// ACPIPM implements the fixed-hardware ACPI registers of a non-HW-reduced
// platform: PM1a event (status, enable) and control blocks, the 32-bit PM
// timer and GPE0 (status, enable). The SCI is asserted while any enabled
// status bit is set. SCI_EN reads as set: the platform is always in ACPI
// mode (the FADT has no SMI command port).
type ACPIPM struct {
	cfg   ACPIPMConfig
	log   *slog.Logger
	start time.Time

	// mu protects the fields below.
	mu       sync.Mutex
	sts, en  uint16
	cnt      uint16
	gpeSts   [gpe0HalfBytes]byte
	gpeEn    [gpe0HalfBytes]byte
	sciLevel bool
	irqErr   error
}

// NewACPIPM returns the registers in their power-on state.
func NewACPIPM(cfg ACPIPMConfig) *ACPIPM {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &ACPIPM{cfg: cfg, log: log, start: cfg.Now()}
	p.cnt = pm1CntSCIEn
	return p
}

// Reset returns the registers to their power-on state and drops the SCI.
func (p *ACPIPM) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sts, p.en, p.cnt = 0, 0, pm1CntSCIEn
	p.gpeSts, p.gpeEn = [gpe0HalfBytes]byte{}, [gpe0HalfBytes]byte{}
	p.updateSCI()
}

// PowerButton presses the power button: PWRBTN_STS is set and, if the guest
// enabled the event, the SCI raised. It reports whether the event was
// enabled (whether the guest listens).
func (p *ACPIPM) PowerButton() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sts |= PM1PwrBtnSts
	p.updateSCI()
	return p.en&PM1PwrBtnSts != 0
}

// SetGPE sets status bit n of GPE0 (for hot-plug notifications); the SCI
// follows the guest's enable bit.
func (p *ACPIPM) SetGPE(n int) error {
	if n < 0 || n >= 8*gpe0HalfBytes {
		return errors.New("gpe bit out of range")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gpeSts[n/8] |= 1 << (n % 8)
	p.updateSCI()
	return nil
}

// Status returns PM1 status and enable (for tests and the VMM's state).
func (p *ACPIPM) Status() (sts, en uint16) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sts, p.en
}

func (p *ACPIPM) updateSCI() {
	level := p.sts&p.en&pm1EnMask != 0
	for i := range p.gpeSts {
		level = level || p.gpeSts[i]&p.gpeEn[i] != 0
	}
	if level == p.sciLevel || p.cfg.IRQ == nil {
		return
	}
	p.sciLevel = level
	if err := p.cfg.IRQ.SetIRQ(p.cfg.SCI, level); err != nil && p.irqErr == nil {
		p.irqErr = err
		p.log.Warn("acpi sci line", "gsi", p.cfg.SCI, "err", err)
	}
}

// timer is the 32-bit PM timer value: ticks of 3.579545 MHz since power-on.
func (p *ACPIPM) timer() uint32 {
	ns := uint64(p.cfg.Now().Sub(p.start))
	hi, lo := bits.Mul64(ns, pmTimerHz)
	if hi >= 1e9 {
		return 0 // centuries of uptime
	}
	q, _ := bits.Div64(hi, lo, 1e9)
	return uint32(q)
}

// Event returns the handler of the PM1a event block (status at offset 0,
// enable at 2).
func (p *ACPIPM) Event() Handler { return pmEvent{p} }

// Control returns the handler of the PM1a control block.
func (p *ACPIPM) Control() Handler { return pmControl{p} }

// Timer returns the handler of the PM timer block.
func (p *ACPIPM) Timer() Handler { return pmTimer{p} }

// GPE0 returns the handler of the GPE0 block (status at 0, enable at 2).
func (p *ACPIPM) GPE0() Handler { return pmGPE{p} }

type pmEvent struct{ p *ACPIPM }

func (h pmEvent) Read(off uint64, data []byte) error {
	if !inRange(off, data, PMEventLen) {
		return errors.New("pm1 event read out of range")
	}
	p := h.p
	p.mu.Lock()
	defer p.mu.Unlock()
	regs := uint64(p.sts) | uint64(p.en)<<16
	putLE(data, regs>>(8*off))
	return nil
}

func (h pmEvent) Write(off uint64, data []byte) error {
	if !inRange(off, data, PMEventLen) {
		return errors.New("pm1 event write out of range")
	}
	p := h.p
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, b := range data {
		switch pos := off + uint64(i); pos {
		case 0, 1: // status: write one to clear
			p.sts &^= uint16(b) << (8 * pos)
		case 2, 3:
			shift := 8 * (pos - 2)
			p.en = p.en&^(0xFF<<shift) | uint16(b)<<shift&pm1EnMask
		}
	}
	p.updateSCI()
	return nil
}

type pmControl struct{ p *ACPIPM }

func (h pmControl) Read(off uint64, data []byte) error {
	if !inRange(off, data, PMControlLen) {
		return errors.New("pm1 control read out of range")
	}
	p := h.p
	p.mu.Lock()
	defer p.mu.Unlock()
	putLE(data, uint64(p.cnt)>>(8*off))
	return nil
}

func (h pmControl) Write(off uint64, data []byte) error {
	if !inRange(off, data, PMControlLen) {
		return errors.New("pm1 control write out of range")
	}
	p := h.p
	p.mu.Lock()
	v := p.cnt
	for i, b := range data {
		shift := 8 * (off + uint64(i))
		v = v&^(0xFF<<shift) | uint16(b)<<shift
	}
	sleep := v&pm1CntSlpEn != 0
	typ := uint8(v & pm1CntSlpTyp >> 10)
	p.cnt = v&pm1CntRWMask | pm1CntSCIEn // SLP_EN is write-only
	p.mu.Unlock()
	if !sleep {
		return nil
	}
	if typ == p.cfg.S5Type {
		if p.cfg.OnPowerOff != nil {
			p.cfg.OnPowerOff()
		}
		return nil
	}
	p.log.Info("guest requested an unsupported sleep state", "slp_typ", typ)
	return nil
}

type pmTimer struct{ p *ACPIPM }

func (h pmTimer) Read(off uint64, data []byte) error {
	if !inRange(off, data, PMTimerLen) {
		return errors.New("pm timer read out of range")
	}
	putLE(data, uint64(h.p.timer())>>(8*off))
	return nil
}

func (h pmTimer) Write(off uint64, data []byte) error {
	if !inRange(off, data, PMTimerLen) {
		return errors.New("pm timer write out of range")
	}
	return nil // read-only
}

type pmGPE struct{ p *ACPIPM }

func (h pmGPE) Read(off uint64, data []byte) error {
	if !inRange(off, data, GPE0Len) {
		return errors.New("gpe0 read out of range")
	}
	p := h.p
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range data {
		pos := off + uint64(i)
		if pos < gpe0HalfBytes {
			data[i] = p.gpeSts[pos]
		} else {
			data[i] = p.gpeEn[pos-gpe0HalfBytes]
		}
	}
	return nil
}

func (h pmGPE) Write(off uint64, data []byte) error {
	if !inRange(off, data, GPE0Len) {
		return errors.New("gpe0 write out of range")
	}
	p := h.p
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, b := range data {
		pos := off + uint64(i)
		if pos < gpe0HalfBytes {
			p.gpeSts[pos] &^= b
		} else {
			p.gpeEn[pos-gpe0HalfBytes] = b
		}
	}
	p.updateSCI()
	return nil
}
