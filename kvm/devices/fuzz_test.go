package devices

import (
	"io"
	"testing"
	"time"
)

// FuzzDevices drives every device through one bus with an arbitrary
// sequence of accesses: [op, port-low, width, value] records, op bit 0
// selecting write. Nothing may panic and the serial IIR must stay valid.
func FuzzDevices(f *testing.F) {
	f.Add([]byte{1, 0, 1, 'A', 0, 2, 1, 0, 1, 3, 1, 0x80, 1, 0, 1, 1})
	f.Add([]byte{1, 0x14, 2, 0xFF, 1, 0x10, 2, 0x00, 0, 0x18, 4, 0})
	f.Add([]byte{1, 0x20, 1, 0xAA, 0, 0x21, 1, 0, 1, 0x30, 1, 0x0B, 1, 0x31, 1, 0x86})
	f.Fuzz(func(t *testing.T, ops []byte) {
		irq := &irqRecorder{}
		bus := NewBus()
		s := NewSerial(SerialConfig{IRQ: irq, GSI: 4, Out: io.Discard})
		k := NewI8042(func() {})
		r := NewResetControl(func() {})
		rtc := NewRTC(func() time.Time { return time.Unix(1e9, 0) })
		pm := NewACPIPM(ACPIPMConfig{IRQ: irq, SCI: 9, S5Type: 5, OnPowerOff: func() {}})
		// A compact port map so random bytes hit devices often.
		must := func(err error) {
			if err != nil {
				t.Fatal(err)
			}
		}
		must(bus.Register(0x00, 8, "serial", s))
		must(bus.Register(0x08, 1, "kbc-data", k.Data()))
		must(bus.Register(0x0C, 1, "kbc-cmd", k.Command()))
		must(bus.Register(0x0D, 1, "cf9", r))
		must(bus.Register(0x10, 4, "pm1-evt", pm.Event()))
		must(bus.Register(0x14, 2, "pm1-cnt", pm.Control()))
		must(bus.Register(0x18, 4, "pm-tmr", pm.Timer()))
		must(bus.Register(0x1C, 4, "gpe0", pm.GPE0()))
		must(bus.Register(0x20, 2, "rtc", rtc))
		must(bus.Register(0x30, 1, "post", &POST{}))
		for len(ops) >= 4 {
			op, port, width, val := ops[0], uint64(ops[1]&0x3F), int(ops[2]%5), ops[3]
			ops = ops[4:]
			if width == 0 || width == 3 {
				width = 1
			}
			data := make([]byte, width)
			for i := range data {
				data[i] = val + byte(i)
			}
			if op&1 != 0 {
				_, _ = bus.Write(port, data)
			} else {
				_, _ = bus.Read(port, data)
			}
			if op&0x80 != 0 {
				s.offer(val)
			}
			if op&0x40 != 0 {
				pm.PowerButton()
			}
		}
		iir := []byte{0}
		if err := s.Read(uartIIR, iir); err != nil {
			t.Fatal(err)
		}
		switch iir[0] & 0x0F {
		case iirNone, iirMS, iirTHRE, iirRDA, iirRLS:
		default:
			t.Fatalf("invalid IIR %#x", iir[0])
		}
	})
}
