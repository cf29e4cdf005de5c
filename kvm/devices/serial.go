package devices

import (
	"errors"
	"io"
	"log/slog"
	"sync"
)

// 16550A register offsets.
const (
	uartRBR = 0 // receive buffer (read, DLAB=0); THR on write; DLL with DLAB
	uartIER = 1 // interrupt enable; DLM with DLAB
	uartIIR = 2 // interrupt identification (read); FCR on write
	uartLCR = 3
	uartMCR = 4
	uartLSR = 5
	uartMSR = 6
	uartSCR = 7

	// SerialPorts is the number of ports a UART decodes.
	SerialPorts = 8

	ierRDA  = 1 << 0 // received data available
	ierTHRE = 1 << 1 // transmitter holding register empty
	ierRLS  = 1 << 2 // receiver line status
	ierMS   = 1 << 3 // modem status

	iirNone      = 0x01
	iirMS        = 0x00
	iirTHRE      = 0x02
	iirRDA       = 0x04
	iirRLS       = 0x06
	iirFIFOsOn   = 0xC0
	fcrEnable    = 1 << 0
	fcrClearRX   = 1 << 1
	lcrDLAB      = 1 << 7
	mcrDTR       = 1 << 0
	mcrRTS       = 1 << 1
	mcrOUT1      = 1 << 2
	mcrOUT2      = 1 << 3
	mcrLoop      = 1 << 4
	lsrDR        = 1 << 0
	lsrOE        = 1 << 1
	lsrTHRE      = 1 << 5
	lsrTEMT      = 1 << 6
	msrCTS       = 1 << 4
	msrDSR       = 1 << 5
	msrRI        = 1 << 6
	msrDCD       = 1 << 7
	msrDeltaMask = 0x0F

	fifoSize = 16
)

// SerialConfig configures a UART.
type SerialConfig struct {
	IRQ IRQLine
	GSI uint32
	// Out receives every byte the guest transmits. A write error is logged
	// once and counted; the guest keeps running.
	Out io.Writer
	Log *slog.Logger
}

// Serial is a 16550A UART with 16-byte FIFOs. Transmission is instant:
// every byte written to THR goes straight to Out.
type Serial struct {
	irq IRQLine
	gsi uint32
	out io.Writer
	log *slog.Logger

	// mu protects every field below.
	mu        sync.Mutex
	space     *sync.Cond // signalled when the receive FIFO drains
	dll, dlm  byte
	ier       byte
	fcr       byte
	lcr       byte
	mcr       byte
	lsr       byte
	msr       byte
	scr       byte
	rx        []byte
	thriArmed bool // a THR-empty interrupt is pending
	irqLevel  bool
	closed    bool
	outErrs   uint64
	irqErr    error
}

// NewSerial returns a UART in its power-on state.
func NewSerial(cfg SerialConfig) *Serial {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	out := cfg.Out
	if out == nil {
		out = io.Discard
	}
	s := &Serial{irq: cfg.IRQ, gsi: cfg.GSI, out: out, log: log}
	s.space = sync.NewCond(&s.mu)
	s.reset()
	return s
}

// reset puts the registers in their power-on state. Precondition: mu held
// or s not yet shared.
func (s *Serial) reset() {
	s.dll, s.dlm = 0x0C, 0 // 9600 baud
	s.ier, s.fcr, s.lcr, s.mcr, s.scr = 0, 0, 0x03, mcrOUT2, 0
	s.lsr = lsrTHRE | lsrTEMT
	s.msr = msrDCD | msrDSR | msrCTS
	s.rx = s.rx[:0]
	s.thriArmed = false
}

// Reset returns the UART to its power-on state (machine reset).
func (s *Serial) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reset()
	s.space.Broadcast()
	s.updateIRQ()
}

// Close stops input delivery; a goroutine started by StartInput returns at
// its next read.
func (s *Serial) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.space.Broadcast()
}

// OutputErrors is the number of failed writes to Out.
func (s *Serial) OutputErrors() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.outErrs
}

func (s *Serial) fifoCap() int {
	if s.fcr&fcrEnable != 0 {
		return fifoSize
	}
	return 1
}

// iir is the current interrupt identification, highest priority first.
func (s *Serial) iir() byte {
	var id byte = iirNone
	switch {
	case s.ier&ierRLS != 0 && s.lsr&lsrOE != 0:
		id = iirRLS
	case s.ier&ierRDA != 0 && len(s.rx) > 0:
		id = iirRDA
	case s.ier&ierTHRE != 0 && s.thriArmed:
		id = iirTHRE
	case s.ier&ierMS != 0 && s.msr&msrDeltaMask != 0:
		id = iirMS
	}
	if s.fcr&fcrEnable != 0 {
		id |= iirFIFOsOn
	}
	return id
}

// updateIRQ drives the interrupt line to match the pending interrupts.
// Precondition: mu held.
func (s *Serial) updateIRQ() {
	level := s.iir()&iirNone == 0
	if level == s.irqLevel || s.irq == nil {
		return
	}
	s.irqLevel = level
	if err := s.irq.SetIRQ(s.gsi, level); err != nil && s.irqErr == nil {
		s.irqErr = err
		s.log.Warn("serial interrupt line", "gsi", s.gsi, "err", err)
	}
}

// modemStatus recomputes MSR, in loopback mode from MCR, recording deltas.
func (s *Serial) modemStatus() {
	var st byte = msrDCD | msrDSR | msrCTS
	if s.mcr&mcrLoop != 0 {
		st = 0
		if s.mcr&mcrDTR != 0 {
			st |= msrDSR
		}
		if s.mcr&mcrRTS != 0 {
			st |= msrCTS
		}
		if s.mcr&mcrOUT1 != 0 {
			st |= msrRI
		}
		if s.mcr&mcrOUT2 != 0 {
			st |= msrDCD
		}
	}
	old := s.msr & 0xF0
	var delta byte
	if (old^st)&msrCTS != 0 {
		delta |= 1
	}
	if (old^st)&msrDSR != 0 {
		delta |= 2
	}
	if old&msrRI != 0 && st&msrRI == 0 {
		delta |= 4 // trailing edge of RI
	}
	if (old^st)&msrDCD != 0 {
		delta |= 8
	}
	s.msr = st | (s.msr & msrDeltaMask) | delta
}

// receive appends b to the receive FIFO, flagging an overrun when full.
// Precondition: mu held.
func (s *Serial) receive(b byte) {
	if len(s.rx) >= s.fifoCap() {
		s.lsr |= lsrOE
		return
	}
	s.rx = append(s.rx, b)
	s.lsr |= lsrDR
}

// Read serves a guest read of one register (accesses wider than a byte
// read the register at off and zero above it).
func (s *Serial) Read(off uint64, data []byte) error {
	if off >= SerialPorts || len(data) == 0 {
		return errors.New("serial read out of range")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	fill(data, 0)
	var v byte
	switch off {
	case uartRBR:
		if s.lcr&lcrDLAB != 0 {
			v = s.dll
			break
		}
		if len(s.rx) > 0 {
			v = s.rx[0]
			s.rx = append(s.rx[:0], s.rx[1:]...)
			s.space.Broadcast()
		}
		if len(s.rx) == 0 {
			s.lsr &^= lsrDR
		}
	case uartIER:
		if s.lcr&lcrDLAB != 0 {
			v = s.dlm
		} else {
			v = s.ier
		}
	case uartIIR:
		v = s.iir()
		if v&0x0F == iirTHRE {
			s.thriArmed = false
		}
	case uartLCR:
		v = s.lcr
	case uartMCR:
		v = s.mcr
	case uartLSR:
		v = s.lsr
		s.lsr &^= lsrOE
	case uartMSR:
		v = s.msr
		s.msr &^= msrDeltaMask
	case uartSCR:
		v = s.scr
	}
	data[0] = v
	s.updateIRQ()
	return nil
}

// Write serves a guest write of one register (the low byte of a wider
// access).
func (s *Serial) Write(off uint64, data []byte) error {
	if off >= SerialPorts || len(data) == 0 {
		return errors.New("serial write out of range")
	}
	v := data[0]
	s.mu.Lock()
	defer s.mu.Unlock()
	switch off {
	case uartRBR:
		if s.lcr&lcrDLAB != 0 {
			s.dll = v
			break
		}
		if s.mcr&mcrLoop != 0 {
			s.receive(v)
		} else if _, err := s.out.Write([]byte{v}); err != nil {
			s.outErrs++
			if s.outErrs == 1 {
				s.log.Warn("serial output", "err", err)
			}
		}
		s.thriArmed = true // transmitted at once: THR is empty again
	case uartIER:
		if s.lcr&lcrDLAB != 0 {
			s.dlm = v
			break
		}
		if v&ierTHRE != 0 && s.ier&ierTHRE == 0 {
			s.thriArmed = true // enabling with THR empty interrupts
		}
		s.ier = v & 0x0F
	case uartIIR: // FCR
		if (v^s.fcr)&fcrEnable != 0 || v&fcrClearRX != 0 {
			s.rx = s.rx[:0]
			s.lsr &^= lsrDR
			s.space.Broadcast()
		}
		s.fcr = v & 0xC9 // enable, DMA mode, trigger level
	case uartLCR:
		s.lcr = v
	case uartMCR:
		s.mcr = v & 0x1F
		s.modemStatus()
	case uartLSR, uartMSR:
		// read-only (factory test writes ignored)
	case uartSCR:
		s.scr = v
	}
	s.updateIRQ()
	return nil
}

// Deliver queues input bytes for the guest, waiting while the receive FIFO
// is full. It returns the number of bytes queued, fewer than len(p) only if
// the UART was closed.
func (s *Serial) Deliver(p []byte) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for n < len(p) {
		for !s.closed && (len(s.rx) >= s.fifoCap() || s.mcr&mcrLoop != 0) {
			s.space.Wait()
		}
		if s.closed {
			return n
		}
		s.receive(p[n])
		n++
		s.updateIRQ()
	}
	return n
}

// offer queues one input byte if the FIFO has room, without waiting.
func (s *Serial) offer(b byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || len(s.rx) >= s.fifoCap() || s.mcr&mcrLoop != 0 {
		return false
	}
	s.receive(b)
	s.updateIRQ()
	return true
}

// StartInput feeds bytes read from r to the guest from a new goroutine
// until r fails (io.EOF included) or the UART is closed. The goroutine
// blocks in r.Read: close r to stop it promptly.
func (s *Serial) StartInput(r io.Reader) {
	go func() {
		buf := make([]byte, 256)
		for {
			n, err := r.Read(buf)
			if n > 0 && s.Deliver(buf[:n]) < n {
				return
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					s.log.Warn("serial input", "err", err)
				}
				return
			}
		}
	}()
}
