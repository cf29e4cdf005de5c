package devices

import (
	"fmt"
	"time"
)

// The State and Restore methods below carry the guest-visible state of each
// device across a save/restore or a migration. Restore is meant for a
// freshly created device (or one the guest is not using at the moment):
// it replaces every register, and re-drives the device's interrupt line
// from the restored registers. Saved values come from files and network
// streams, so Restore checks what it indexes or sizes with.

// SerialState is the register file and receive FIFO of a UART.
type SerialState struct {
	DLL       byte   `json:"dll"`
	DLM       byte   `json:"dlm"`
	IER       byte   `json:"ier"`
	FCR       byte   `json:"fcr"`
	LCR       byte   `json:"lcr"`
	MCR       byte   `json:"mcr"`
	LSR       byte   `json:"lsr"`
	MSR       byte   `json:"msr"`
	SCR       byte   `json:"scr"`
	RX        []byte `json:"rx"`
	THRIArmed bool   `json:"thri_armed"`
}

// State exports the UART's registers and the input it holds for the guest.
// Bytes an input goroutine has read but not yet queued are not included.
func (s *Serial) State() SerialState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return SerialState{DLL: s.dll, DLM: s.dlm, IER: s.ier, FCR: s.fcr, LCR: s.lcr, MCR: s.mcr, LSR: s.lsr,
		MSR: s.msr, SCR: s.scr, RX: append([]byte(nil), s.rx...), THRIArmed: s.thriArmed}
}

// Restore loads a saved state and sets the interrupt line to match it.
func (s *Serial) Restore(st SerialState) error {
	if len(st.RX) > fifoSize {
		return fmt.Errorf("restore serial: %d bytes of input exceed the %d-byte fifo", len(st.RX), fifoSize)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dll, s.dlm = st.DLL, st.DLM
	s.ier = st.IER & 0x0F
	s.fcr = st.FCR & 0xC9
	s.lcr = st.LCR
	s.mcr = st.MCR & 0x1F
	s.lsr, s.msr, s.scr = st.LSR, st.MSR, st.SCR
	s.rx = append(s.rx[:0], st.RX...)
	if len(s.rx) > s.fifoCap() {
		s.rx = s.rx[:s.fifoCap()]
	}
	s.thriArmed = st.THRIArmed
	s.space.Broadcast()
	// The line of a fresh device is low: drive it from the registers.
	s.irqLevel = false
	s.irqErr = nil
	s.updateIRQ()
	return s.irqErr
}

// RTCState is the CMOS RAM, the index register and the guest's clock
// offset from the host's.
type RTCState struct {
	Index  byte          `json:"index"`
	RAM    []byte        `json:"ram"`
	Offset time.Duration `json:"offset"`
	Frozen time.Time     `json:"frozen"`
}

// State exports the clock. The guest's time is kept as an offset from the
// host's wall clock, so a restored guest sees the time that passed while it
// was saved (as a battery-backed clock would).
func (r *RTC) State() RTCState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return RTCState{Index: r.index, RAM: append([]byte(nil), r.ram[:]...), Offset: r.offset, Frozen: r.frozen}
}

// Restore loads a saved clock.
func (r *RTC) Restore(st RTCState) error {
	if len(st.RAM) != cmosSize {
		return fmt.Errorf("restore rtc: %d bytes of cmos, want %d", len(st.RAM), cmosSize)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.index = st.Index
	copy(r.ram[:], st.RAM)
	r.offset, r.frozen = st.Offset, st.Frozen
	return nil
}

// ACPIPMState is the PM1 and GPE0 registers and the PM timer's count.
type ACPIPMState struct {
	Sts    uint16 `json:"sts"`
	En     uint16 `json:"en"`
	Cnt    uint16 `json:"cnt"`
	GPESts []byte `json:"gpe_sts"`
	GPEEn  []byte `json:"gpe_en"`
	// Uptime is the time since power-on that the PM timer counts.
	Uptime time.Duration `json:"uptime"`
}

// State exports the registers and the timer's position.
func (p *ACPIPM) State() ACPIPMState {
	p.mu.Lock()
	defer p.mu.Unlock()
	return ACPIPMState{Sts: p.sts, En: p.en, Cnt: p.cnt, GPESts: append([]byte(nil), p.gpeSts[:]...),
		GPEEn: append([]byte(nil), p.gpeEn[:]...), Uptime: p.cfg.Now().Sub(p.start)}
}

// Restore loads saved registers, continues the PM timer from the saved
// count and sets the SCI to match.
func (p *ACPIPM) Restore(st ACPIPMState) error {
	if len(st.GPESts) != gpe0HalfBytes || len(st.GPEEn) != gpe0HalfBytes {
		return fmt.Errorf("restore acpi pm: gpe0 of %d+%d bytes, want %d+%d", len(st.GPESts), len(st.GPEEn), gpe0HalfBytes, gpe0HalfBytes)
	}
	if st.Uptime < 0 {
		return fmt.Errorf("restore acpi pm: negative uptime %v", st.Uptime)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sts = st.Sts & pm1StsMask
	p.en = st.En & pm1EnMask
	p.cnt = st.Cnt&pm1CntRWMask | pm1CntSCIEn
	copy(p.gpeSts[:], st.GPESts)
	copy(p.gpeEn[:], st.GPEEn)
	p.start = p.cfg.Now().Add(-st.Uptime)
	p.sciLevel = false
	p.irqErr = nil
	p.updateSCI()
	return p.irqErr
}

// I8042State is the keyboard controller's registers.
type I8042State struct {
	CTR     byte `json:"ctr"`
	Out     byte `json:"out"`
	OBF     bool `json:"obf"`
	Cmd     bool `json:"cmd"`
	Pending byte `json:"pending"`
}

// State exports the controller's registers.
func (k *I8042) State() I8042State {
	k.mu.Lock()
	defer k.mu.Unlock()
	return I8042State{CTR: k.ctr, Out: k.out, OBF: k.obf, Cmd: k.cmd, Pending: k.pending}
}

// Restore loads saved registers. A pending command other than the two that
// take a data byte is dropped.
func (k *I8042) Restore(st I8042State) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.ctr, k.out, k.obf, k.cmd = st.CTR, st.Out, st.OBF, st.Cmd
	k.pending = 0
	if st.Pending == kbcWriteCTR || st.Pending == kbcWriteOutput {
		k.pending = st.Pending
	}
}

// State returns the reset control register.
func (r *ResetControl) State() byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.val
}

// Restore loads a saved register value (only its sticky bits).
func (r *ResetControl) Restore(v byte) {
	r.mu.Lock()
	r.val = v & 0x0A
	r.mu.Unlock()
}
