package devices

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// jsonTrip sends a state through JSON, as a save file carries it.
func jsonTrip[T any](t *testing.T, v T) T {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out T
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSerialState(t *testing.T) {
	irq := &irqRecorder{}
	s := NewSerial(SerialConfig{IRQ: irq, GSI: 4})
	w := func(off uint64, v byte) {
		if err := s.Write(off, []byte{v}); err != nil {
			t.Fatal(err)
		}
	}
	w(uartIIR, fcrEnable) // FIFOs on
	w(uartLCR, 0x83)      // DLAB
	w(uartRBR, 0x01)      // 115200 baud
	w(uartLCR, 0x03)
	w(uartIER, ierRDA)
	w(uartSCR, 0x5A)
	if n := s.Deliver([]byte("abc")); n != 3 {
		t.Fatalf("delivered %d", n)
	}
	if !irq.level(4) {
		t.Fatal("no interrupt for received data")
	}
	st := jsonTrip(t, s.State())

	irq2 := &irqRecorder{}
	r := NewSerial(SerialConfig{IRQ: irq2, GSI: 4})
	if err := r.Restore(st); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r.State(), s.State()) {
		t.Fatalf("restored %+v, saved %+v", r.State(), s.State())
	}
	if !irq2.level(4) {
		t.Fatal("restored uart with pending input does not interrupt")
	}
	var got []byte
	for range 3 {
		b := []byte{0}
		if err := r.Read(uartRBR, b); err != nil {
			t.Fatal(err)
		}
		got = append(got, b[0])
	}
	if string(got) != "abc" {
		t.Fatalf("restored input %q", got)
	}
	if irq2.level(4) {
		t.Fatal("interrupt still up with the fifo drained")
	}

	t.Run("fifo overflow refused", func(t *testing.T) {
		bad := st
		bad.RX = make([]byte, fifoSize+1)
		if err := NewSerial(SerialConfig{}).Restore(bad); err == nil {
			t.Fatal("restored 17 bytes of input")
		}
	})
}

func TestRTCState(t *testing.T) {
	host := time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)
	now := func() time.Time { return host }
	r := NewRTC(now)
	w := func(idx, v byte) {
		if err := r.Write(0, []byte{idx}); err != nil {
			t.Fatal(err)
		}
		if err := r.Write(1, []byte{v}); err != nil {
			t.Fatal(err)
		}
	}
	w(rtcYear, 0x99) // the guest sets 2099
	w(0x40, 0xAB)    // CMOS RAM
	st := jsonTrip(t, r.State())
	host = host.Add(time.Hour) // time passes while saved
	n := NewRTC(now)
	if err := n.Restore(st); err != nil {
		t.Fatal(err)
	}
	read := func(idx byte) byte {
		b := []byte{0}
		if err := n.Write(0, []byte{idx}); err != nil {
			t.Fatal(err)
		}
		if err := n.Read(1, b); err != nil {
			t.Fatal(err)
		}
		return b[0]
	}
	if y, h, ram := read(rtcYear), read(rtcHours), read(0x40); y != 0x99 || h != 0x08 || ram != 0xAB {
		t.Fatalf("restored clock: year %#x hour %#x ram %#x, want 0x99 0x08 0xab", y, h, ram)
	}
	t.Run("short cmos refused", func(t *testing.T) {
		bad := st
		bad.RAM = bad.RAM[:10]
		if err := NewRTC(nil).Restore(bad); err == nil {
			t.Fatal("restored 10 bytes of cmos")
		}
	})
}

func TestACPIPMState(t *testing.T) {
	clock := time.Unix(1000, 0)
	now := func() time.Time { return clock }
	irq := &irqRecorder{}
	p := NewACPIPM(ACPIPMConfig{IRQ: irq, SCI: 9, Now: now})
	if err := p.Event().Write(2, []byte{0, PM1PwrBtnSts >> 8}); err != nil {
		t.Fatal(err)
	}
	p.PowerButton()
	clock = clock.Add(time.Second)
	st := jsonTrip(t, p.State())
	timer := func(p *ACPIPM) uint32 {
		b := make([]byte, 4)
		if err := p.Timer().Read(0, b); err != nil {
			t.Fatal(err)
		}
		return uint32(getLE(b))
	}
	before := timer(p)

	clock = clock.Add(time.Hour) // a new process, much later
	irq2 := &irqRecorder{}
	n := NewACPIPM(ACPIPMConfig{IRQ: irq2, SCI: 9, Now: now})
	if err := n.Restore(st); err != nil {
		t.Fatal(err)
	}
	if got := timer(n); got != before {
		t.Fatalf("pm timer %d after restore, %d when saved", got, before)
	}
	if sts, en := n.Status(); sts&PM1PwrBtnSts == 0 || en&PM1PwrBtnSts == 0 || !irq2.level(9) {
		t.Fatalf("restored pm1 sts %#x en %#x sci %t", sts, en, irq2.level(9))
	}
	for _, tc := range []struct {
		name   string
		mutate func(*ACPIPMState)
	}{
		{"short gpe", func(s *ACPIPMState) { s.GPEEn = nil }},
		{"negative uptime", func(s *ACPIPMState) { s.Uptime = -1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := st
			tc.mutate(&bad)
			if err := NewACPIPM(ACPIPMConfig{}).Restore(bad); err == nil {
				t.Fatal("restore succeeded")
			}
		})
	}
}

func TestI8042AndResetControlState(t *testing.T) {
	k := NewI8042(nil)
	if err := k.Command().Write(0, []byte{kbcWriteCTR}); err != nil {
		t.Fatal(err)
	}
	st := jsonTrip(t, k.State())
	var resets int
	n := NewI8042(func() { resets++ })
	n.Restore(st)
	if !reflect.DeepEqual(n.State(), k.State()) {
		t.Fatalf("restored %+v, saved %+v", n.State(), k.State())
	}
	// The pending command takes its data byte on the new controller.
	if err := n.Data().Write(0, []byte{0x11}); err != nil {
		t.Fatal(err)
	}
	if n.State().CTR != 0x11 {
		t.Fatalf("ctr %#x after the restored command's data byte", n.State().CTR)
	}
	st.Pending = 0xFE // not a command that waits for data
	n.Restore(st)
	if n.State().Pending != 0 {
		t.Fatal("a bogus pending command was restored")
	}

	rc := NewResetControl(nil)
	if err := rc.Write(0, []byte{0x02}); err != nil {
		t.Fatal(err)
	}
	rc2 := NewResetControl(nil)
	rc2.Restore(rc.State() | 0x04)
	if rc2.State() != 0x02 {
		t.Fatalf("reset control %#x, want 0x02", rc2.State())
	}
}
