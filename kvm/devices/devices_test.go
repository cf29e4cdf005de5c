package devices

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"
)

// irqRecorder is an IRQLine that records level changes.
type irqRecorder struct {
	mu     sync.Mutex
	levels map[uint32]bool
	calls  int
}

func (r *irqRecorder) SetIRQ(gsi uint32, level bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.levels == nil {
		r.levels = map[uint32]bool{}
	}
	r.levels[gsi] = level
	r.calls++
	return nil
}

func (r *irqRecorder) level(gsi uint32) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.levels[gsi]
}

type fakeHandler struct{ reads, writes int }

func (f *fakeHandler) Read(off uint64, data []byte) error {
	f.reads++
	fill(data, byte(off))
	return nil
}
func (f *fakeHandler) Write(off uint64, data []byte) error { f.writes++; return nil }

func TestBus(t *testing.T) {
	b := NewBus()
	h := &fakeHandler{}
	if err := b.Register(0x3F8, 8, "com1", h); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		base    uint64
		size    uint64
		wantErr bool
	}{
		{"overlap start", 0x3F0, 9, true},
		{"overlap end", 0x3FF, 1, true},
		{"adjacent below", 0x3F0, 8, false},
		{"adjacent above", 0x400, 1, false},
		{"zero size", 0x500, 0, true},
		{"wraps", ^uint64(0), 2, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := b.Register(tt.base, tt.size, tt.name, &fakeHandler{})
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %t", err, tt.wantErr)
			}
		})
	}
	accesses := []struct {
		name    string
		addr    uint64
		n       int
		handled bool
	}{
		{"first port", 0x3F8, 1, true},
		{"last port", 0x3FF, 1, true},
		{"word across end", 0x3FF, 2, false},
		{"unregistered", 0x2F8, 1, false},
		{"highest address", ^uint64(0), 1, false},
	}
	for _, a := range accesses {
		t.Run(a.name, func(t *testing.T) {
			data := make([]byte, a.n)
			ok, err := b.Read(a.addr, data)
			if err != nil || ok != a.handled {
				t.Fatalf("Read handled=%t err=%v, want handled=%t", ok, err, a.handled)
			}
			if ok && data[0] != byte(a.addr-0x3F8) {
				t.Fatalf("handler got offset %d", data[0])
			}
		})
	}
}

func newTestSerial(out *bytes.Buffer) (*Serial, *irqRecorder) {
	irq := &irqRecorder{}
	return NewSerial(SerialConfig{IRQ: irq, GSI: 4, Out: out}), irq
}

func rd(t *testing.T, h Handler, off uint64) byte {
	t.Helper()
	b := []byte{0}
	if err := h.Read(off, b); err != nil {
		t.Fatal(err)
	}
	return b[0]
}

func wr(t *testing.T, h Handler, off uint64, v byte) {
	t.Helper()
	if err := h.Write(off, []byte{v}); err != nil {
		t.Fatal(err)
	}
}

func TestSerial(t *testing.T) {
	t.Run("transmit", func(t *testing.T) {
		var out bytes.Buffer
		s, _ := newTestSerial(&out)
		for _, c := range []byte("hi\n") {
			wr(t, s, uartRBR, c)
		}
		if out.String() != "hi\n" {
			t.Fatalf("output %q", out.String())
		}
		if lsr := rd(t, s, uartLSR); lsr&(lsrTHRE|lsrTEMT) != lsrTHRE|lsrTEMT {
			t.Fatalf("lsr %#x", lsr)
		}
	})
	t.Run("thre interrupt", func(t *testing.T) {
		var out bytes.Buffer
		s, irq := newTestSerial(&out)
		if rd(t, s, uartIIR)&0x0F != iirNone {
			t.Fatal("interrupt pending at reset")
		}
		wr(t, s, uartIER, ierTHRE)
		if !irq.level(4) || rd(t, s, uartIIR)&0x0F != iirTHRE {
			t.Fatal("enabling THRE with an empty THR did not interrupt")
		}
		// reading IIR acknowledged it
		if irq.level(4) || rd(t, s, uartIIR)&0x0F != iirNone {
			t.Fatal("THRE interrupt not cleared by reading IIR")
		}
		wr(t, s, uartRBR, 'x')
		if !irq.level(4) {
			t.Fatal("no THRE interrupt after a transmit")
		}
	})
	t.Run("receive", func(t *testing.T) {
		var out bytes.Buffer
		s, irq := newTestSerial(&out)
		wr(t, s, uartIIR, fcrEnable) // FIFOs on
		wr(t, s, uartIER, ierRDA)
		if n := s.Deliver([]byte("ab")); n != 2 {
			t.Fatalf("delivered %d", n)
		}
		if !irq.level(4) || rd(t, s, uartIIR) != iirRDA|iirFIFOsOn {
			t.Fatal("no receive interrupt")
		}
		if rd(t, s, uartLSR)&lsrDR == 0 || rd(t, s, uartRBR) != 'a' || rd(t, s, uartRBR) != 'b' {
			t.Fatal("received bytes wrong")
		}
		if rd(t, s, uartLSR)&lsrDR != 0 || irq.level(4) {
			t.Fatal("data ready after draining")
		}
	})
	t.Run("input blocks until drained", func(t *testing.T) {
		var out bytes.Buffer
		s, _ := newTestSerial(&out)
		done := make(chan int)
		go func() { done <- s.Deliver([]byte("xyz")) }() // 1-byte FIFO without FCR
		got := []byte{}
		deadline := time.Now().Add(5 * time.Second)
		for len(got) < 3 && time.Now().Before(deadline) {
			if rd(t, s, uartLSR)&lsrDR != 0 {
				got = append(got, rd(t, s, uartRBR))
			}
		}
		if string(got) != "xyz" || <-done != 3 {
			t.Fatalf("received %q", got)
		}
	})
	t.Run("overrun", func(t *testing.T) {
		var out bytes.Buffer
		s, _ := newTestSerial(&out)
		wr(t, s, uartMCR, mcrLoop)
		wr(t, s, uartRBR, 1)
		wr(t, s, uartRBR, 2) // 1-byte holding register: overrun
		if rd(t, s, uartLSR)&lsrOE == 0 {
			t.Fatal("no overrun")
		}
		if rd(t, s, uartLSR)&lsrOE != 0 {
			t.Fatal("overrun not cleared by reading LSR")
		}
	})
	t.Run("loopback modem status", func(t *testing.T) {
		var out bytes.Buffer
		s, _ := newTestSerial(&out)
		// Linux's 8250 probe: MCR = LOOP|OUT2|RTS... expects MSR&0xF0 == 0x90
		wr(t, s, uartMCR, mcrLoop|0x0A)
		if got := rd(t, s, uartMSR) & 0xF0; got != 0x90 {
			t.Fatalf("loopback msr %#x, want 0x90", got)
		}
		wr(t, s, uartRBR, 'L')
		if out.Len() != 0 || rd(t, s, uartRBR) != 'L' {
			t.Fatal("loopback byte not received")
		}
	})
	t.Run("divisor latch and scratch", func(t *testing.T) {
		var out bytes.Buffer
		s, _ := newTestSerial(&out)
		wr(t, s, uartLCR, lcrDLAB|3)
		wr(t, s, uartRBR, 0x01)
		wr(t, s, uartIER, 0x02)
		if rd(t, s, uartRBR) != 1 || rd(t, s, uartIER) != 2 {
			t.Fatal("divisor latch")
		}
		wr(t, s, uartLCR, 3)
		wr(t, s, uartIER, 0xFF)
		if rd(t, s, uartIER) != 0x0F {
			t.Fatal("ier keeps reserved bits")
		}
		wr(t, s, uartSCR, 0x5A)
		if rd(t, s, uartSCR) != 0x5A {
			t.Fatal("scratch")
		}
		if out.Len() != 0 {
			t.Fatal("divisor write went out as data")
		}
	})
	t.Run("fifo identification", func(t *testing.T) {
		var out bytes.Buffer
		s, _ := newTestSerial(&out)
		wr(t, s, uartIIR, 0xC7)
		if rd(t, s, uartIIR)&0xC0 != 0xC0 {
			t.Fatal("16550A FIFO bits missing from IIR")
		}
	})
	t.Run("bad access", func(t *testing.T) {
		var out bytes.Buffer
		s, _ := newTestSerial(&out)
		if err := s.Write(8, []byte{0}); err == nil {
			t.Fatal("offset 8 accepted")
		}
		if err := s.Read(0, nil); err == nil {
			t.Fatal("empty read accepted")
		}
	})
	t.Run("broken output", func(t *testing.T) {
		s := NewSerial(SerialConfig{Out: failWriter{}})
		wr(t, s, uartRBR, 'x')
		if s.OutputErrors() != 1 {
			t.Fatal("output error not counted")
		}
	})
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("broken") }

func TestResetDevices(t *testing.T) {
	t.Run("i8042 0xfe", func(t *testing.T) {
		n := 0
		k := NewI8042(func() { n++ })
		wr(t, k.Command(), 0, 0xFE)
		if n != 1 {
			t.Fatal("no reset")
		}
	})
	t.Run("i8042 output port", func(t *testing.T) {
		n := 0
		k := NewI8042(func() { n++ })
		wr(t, k.Command(), 0, kbcWriteOutput)
		wr(t, k.Data(), 0, 0x03) // bit 0 set: no reset
		if n != 0 {
			t.Fatal("reset with the line high")
		}
		wr(t, k.Command(), 0, kbcWriteOutput)
		wr(t, k.Data(), 0, 0x02)
		if n != 1 {
			t.Fatal("no reset with the line low")
		}
	})
	t.Run("i8042 self test and ctr", func(t *testing.T) {
		k := NewI8042(nil)
		wr(t, k.Command(), 0, kbcSelfTest)
		if rd(t, k.Command(), 0)&kbcStatusOBF == 0 || rd(t, k.Data(), 0) != 0x55 {
			t.Fatal("self test")
		}
		wr(t, k.Command(), 0, kbcWriteCTR)
		wr(t, k.Data(), 0, 0x31)
		wr(t, k.Command(), 0, kbcReadCTR)
		if rd(t, k.Data(), 0) != 0x31 {
			t.Fatal("command byte")
		}
		if rd(t, k.Command(), 0)&kbcStatusOBF != 0 {
			t.Fatal("output buffer still full")
		}
	})
	t.Run("cf9", func(t *testing.T) {
		n := 0
		r := NewResetControl(func() { n++ })
		wr(t, r, 0, 0x02)
		if n != 0 || rd(t, r, 0) != 0x02 {
			t.Fatal("SYS_RST alone reset or was lost")
		}
		wr(t, r, 0, 0x06)
		if n != 1 {
			t.Fatal("RST_CPU did not reset")
		}
		if err := r.Write(0, []byte{6, 0}); err == nil || n != 1 {
			t.Fatal("word access accepted")
		}
	})
	t.Run("post", func(t *testing.T) {
		p := &POST{}
		wr(t, p, 0, 0x42)
		if n, last := p.Writes(); n != 1 || last != 0x42 || rd(t, p, 0) != 0x42 {
			t.Fatal("post port")
		}
	})
}

func TestRTC(t *testing.T) {
	base := time.Date(2024, 2, 29, 23, 59, 58, 0, time.UTC)
	now := base
	r := NewRTC(func() time.Time { return now })
	reg := func(i byte) byte {
		wr(t, r, 0, i)
		return rd(t, r, 1)
	}
	set := func(i, v byte) {
		wr(t, r, 0, i)
		wr(t, r, 1, v)
	}
	t.Run("bcd 24h", func(t *testing.T) {
		got := []byte{reg(rtcSeconds), reg(rtcMinutes), reg(rtcHours), reg(rtcDayOfMonth), reg(rtcMonth), reg(rtcYear), reg(rtcCentury), reg(rtcDayOfWeek)}
		want := []byte{0x58, 0x59, 0x23, 0x29, 0x02, 0x24, 0x20, 0x05}
		if !bytes.Equal(got, want) {
			t.Fatalf("time registers %x, want %x", got, want)
		}
	})
	t.Run("status registers", func(t *testing.T) {
		if reg(rtcRegD) != regDVRT || reg(rtcRegA)&0x80 != 0 || reg(rtcRegC) != 0 {
			t.Fatal("status registers")
		}
	})
	t.Run("binary 12h", func(t *testing.T) {
		set(rtcRegB, regBBinary)
		if h := reg(rtcHours); h != 0x80|11 {
			t.Fatalf("11 pm in binary 12h mode = %#x", h)
		}
		if s := reg(rtcSeconds); s != 58 {
			t.Fatalf("seconds %d", s)
		}
		set(rtcRegB, regB24h)
	})
	t.Run("guest sets the time", func(t *testing.T) {
		set(rtcRegB, regB24h|regBSet)
		set(rtcYear, 0x30)
		set(rtcHours, 0x10)
		set(rtcSeconds, 0x00)
		set(rtcRegB, regB24h)
		now = now.Add(2 * time.Second)
		if reg(rtcYear) != 0x30 || reg(rtcHours) != 0x10 || reg(rtcSeconds) != 0x02 {
			t.Fatalf("after setting: year %x hour %x sec %x", reg(rtcYear), reg(rtcHours), reg(rtcSeconds))
		}
	})
	t.Run("cmos ram and nmi bit", func(t *testing.T) {
		set(0x80|0x40, 0x77) // NMI mask bit in the index
		if reg(0x40) != 0x77 {
			t.Fatal("cmos ram byte")
		}
	})
}

func TestACPIPM(t *testing.T) {
	start := time.Unix(1000, 0)
	now := start
	irq := &irqRecorder{}
	off := 0
	p := NewACPIPM(ACPIPMConfig{IRQ: irq, SCI: 9, S5Type: 5, OnPowerOff: func() { off++ }, Now: func() time.Time { return now }})
	ev, cnt, tmr, gpe := p.Event(), p.Control(), p.Timer(), p.GPE0()
	r16 := func(h Handler, o uint64) uint16 {
		b := make([]byte, 2)
		if err := h.Read(o, b); err != nil {
			t.Fatal(err)
		}
		return uint16(b[0]) | uint16(b[1])<<8
	}
	w16 := func(h Handler, o uint64, v uint16) {
		if err := h.Write(o, []byte{byte(v), byte(v >> 8)}); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("sci_en always set", func(t *testing.T) {
		if r16(cnt, 0)&pm1CntSCIEn == 0 {
			t.Fatal("SCI_EN clear")
		}
	})
	t.Run("power button without enable", func(t *testing.T) {
		if p.PowerButton() {
			t.Fatal("reported enabled")
		}
		if irq.level(9) || r16(ev, 0)&PM1PwrBtnSts == 0 {
			t.Fatal("status or sci wrong")
		}
		w16(ev, 0, PM1PwrBtnSts) // clear
		if r16(ev, 0) != 0 {
			t.Fatal("status not cleared")
		}
	})
	t.Run("power button with enable", func(t *testing.T) {
		w16(ev, 2, PM1PwrBtnSts)
		if r16(ev, 2) != PM1PwrBtnSts {
			t.Fatal("enable not stored")
		}
		if !p.PowerButton() || !irq.level(9) {
			t.Fatal("sci not raised")
		}
		w16(ev, 0, PM1PwrBtnSts)
		if irq.level(9) {
			t.Fatal("sci not lowered after clearing")
		}
	})
	t.Run("32-bit access to the event block", func(t *testing.T) {
		p.PowerButton()
		b := make([]byte, 4)
		if err := ev.Read(0, b); err != nil || b[1] != 1 || b[3] != 1 {
			t.Fatalf("dword read %x %v", b, err)
		}
		w16(ev, 0, PM1PwrBtnSts)
	})
	t.Run("other sleep states", func(t *testing.T) {
		w16(cnt, 0, 1<<10|pm1CntSlpEn) // S1
		if off != 0 {
			t.Fatal("S1 powered off")
		}
		if r16(cnt, 0)&pm1CntSlpEn != 0 {
			t.Fatal("SLP_EN reads back")
		}
	})
	t.Run("s5", func(t *testing.T) {
		w16(cnt, 0, 5<<10) // type alone: nothing
		if off != 0 {
			t.Fatal("powered off without SLP_EN")
		}
		w16(cnt, 0, 5<<10|pm1CntSlpEn)
		if off != 1 {
			t.Fatal("S5 did not power off")
		}
	})
	t.Run("timer", func(t *testing.T) {
		b := make([]byte, 4)
		now = start.Add(time.Second)
		if err := tmr.Read(0, b); err != nil {
			t.Fatal(err)
		}
		if v := getLE(b); v != pmTimerHz {
			t.Fatalf("timer after 1 s = %d", v)
		}
		now = start.Add(2 * time.Hour)
		if err := tmr.Read(0, b); err != nil {
			t.Fatal(err)
		}
		ticks := uint64(2*3600) * pmTimerHz
		if v := getLE(b); v != uint64(uint32(ticks)) {
			t.Fatalf("timer after 2 h = %d (wraps at 32 bits)", v)
		}
	})
	t.Run("gpe", func(t *testing.T) {
		if err := p.SetGPE(3); err != nil {
			t.Fatal(err)
		}
		if irq.level(9) {
			t.Fatal("sci for a disabled gpe")
		}
		wr(t, gpe, 2, 1<<3)
		if !irq.level(9) {
			t.Fatal("no sci for an enabled gpe")
		}
		wr(t, gpe, 0, 1<<3)
		if irq.level(9) {
			t.Fatal("sci after clearing the gpe")
		}
		if p.SetGPE(16) == nil {
			t.Fatal("gpe 16 accepted")
		}
	})
	t.Run("out of range", func(t *testing.T) {
		if ev.Read(3, make([]byte, 2)) == nil || cnt.Write(^uint64(0), []byte{1}) == nil || tmr.Read(4, []byte{0}) == nil {
			t.Fatal("out-of-range access accepted")
		}
	})
}
