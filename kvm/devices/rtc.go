package devices

import (
	"errors"
	"sync"
	"time"
)

// CMOS/RTC register indexes (MC146818).
const (
	rtcSeconds    = 0x00
	rtcSecAlarm   = 0x01
	rtcMinutes    = 0x02
	rtcMinAlarm   = 0x03
	rtcHours      = 0x04
	rtcHourAlarm  = 0x05
	rtcDayOfWeek  = 0x06
	rtcDayOfMonth = 0x07
	rtcMonth      = 0x08
	rtcYear       = 0x09
	rtcRegA       = 0x0A
	rtcRegB       = 0x0B
	rtcRegC       = 0x0C
	rtcRegD       = 0x0D
	rtcCentury    = 0x32

	regBSet    = 1 << 7
	regB24h    = 1 << 1
	regBBinary = 1 << 2
	regDVRT    = 1 << 7

	cmosSize = 128
)

// RTC is the CMOS clock and RAM behind ports 0x70 (index; bit 7 masks NMI)
// and 0x71 (data). Time and date come from the host clock plus an offset
// the guest sets by writing the time registers; BCD or binary and 12 or 24
// hour formats follow status register B. Periodic, alarm and update
// interrupts are not generated (status register C reads zero).
type RTC struct {
	now func() time.Time

	// mu protects the fields below.
	mu     sync.Mutex
	index  byte
	ram    [cmosSize]byte
	offset time.Duration // guest time minus host time
	frozen time.Time     // the time shown while the SET bit is on
}

// NewRTC returns the clock; now is the host clock (time.Now if nil).
func NewRTC(now func() time.Time) *RTC {
	if now == nil {
		now = time.Now
	}
	r := &RTC{now: now}
	r.ram[rtcRegA] = 0x26 // 32.768 kHz divider, 1024 Hz rate
	r.ram[rtcRegB] = regB24h
	r.ram[rtcRegD] = regDVRT
	return r
}

// Reset keeps the time (the clock is battery-backed) and clears the index.
func (r *RTC) Reset() {
	r.mu.Lock()
	r.index = 0
	r.mu.Unlock()
}

func (r *RTC) current() time.Time {
	if r.ram[rtcRegB]&regBSet != 0 {
		return r.frozen
	}
	return r.now().UTC().Add(r.offset)
}

func (r *RTC) enc(v int) byte {
	if r.ram[rtcRegB]&regBBinary != 0 {
		return byte(v)
	}
	return byte(v/10<<4 | v%10)
}

func (r *RTC) dec(b byte) int {
	if r.ram[rtcRegB]&regBBinary != 0 {
		return int(b)
	}
	return int(b>>4)*10 + int(b&0x0F)
}

func (r *RTC) hourReg(h int) byte {
	if r.ram[rtcRegB]&regB24h != 0 {
		return r.enc(h)
	}
	pm := h >= 12
	h %= 12
	if h == 0 {
		h = 12
	}
	b := r.enc(h)
	if pm {
		b |= 0x80
	}
	return b
}

func (r *RTC) hourFromReg(b byte) int {
	if r.ram[rtcRegB]&regB24h != 0 {
		return r.dec(b)
	}
	h := r.dec(b&0x7F) % 12
	if b&0x80 != 0 {
		h += 12
	}
	return h
}

func (r *RTC) readReg(i byte) byte {
	t := r.current()
	switch i {
	case rtcSeconds:
		return r.enc(t.Second())
	case rtcMinutes:
		return r.enc(t.Minute())
	case rtcHours:
		return r.hourReg(t.Hour())
	case rtcDayOfWeek:
		return r.enc(int(t.Weekday()) + 1)
	case rtcDayOfMonth:
		return r.enc(t.Day())
	case rtcMonth:
		return r.enc(int(t.Month()))
	case rtcYear:
		return r.enc(t.Year() % 100)
	case rtcCentury:
		return r.enc(t.Year() / 100 % 100)
	case rtcRegA:
		return r.ram[rtcRegA] &^ 0x80 // update never in progress
	case rtcRegC:
		return 0
	case rtcRegD:
		return regDVRT
	}
	return r.ram[i]
}

// writeTime sets one time field: the guest's new time becomes the offset
// from the host clock (or the frozen time while SET is on).
func (r *RTC) writeTime(i, v byte) {
	t := r.current()
	sec, min, hour := t.Second(), t.Minute(), t.Hour()
	day, month, year := t.Day(), int(t.Month()), t.Year()
	switch i {
	case rtcSeconds:
		sec = r.dec(v) % 60
	case rtcMinutes:
		min = r.dec(v) % 60
	case rtcHours:
		hour = r.hourFromReg(v) % 24
	case rtcDayOfMonth:
		day = max(1, r.dec(v)%32)
	case rtcMonth:
		month = max(1, r.dec(v)%13)
	case rtcYear:
		year = year/100*100 + r.dec(v)%100
	case rtcCentury:
		year = r.dec(v)%100*100 + year%100
	}
	nt := time.Date(year, time.Month(month), day, hour, min, sec, 0, time.UTC)
	if r.ram[rtcRegB]&regBSet != 0 {
		r.frozen = nt
	} else {
		r.offset = nt.Sub(r.now().UTC())
	}
}

// Read serves port 0x70 (off 0: the index) and 0x71 (off 1: the data).
func (r *RTC) Read(off uint64, data []byte) error {
	if off > 1 || len(data) == 0 {
		return errors.New("rtc read out of range")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	fill(data, 0)
	if off == 0 {
		data[0] = r.index
		return nil
	}
	data[0] = r.readReg(r.index & 0x7F)
	return nil
}

// Write serves port 0x70 and 0x71.
func (r *RTC) Write(off uint64, data []byte) error {
	if off > 1 || len(data) == 0 {
		return errors.New("rtc write out of range")
	}
	v := data[0]
	r.mu.Lock()
	defer r.mu.Unlock()
	if off == 0 {
		r.index = v
		return nil
	}
	i := r.index & 0x7F
	switch i {
	case rtcSeconds, rtcMinutes, rtcHours, rtcDayOfMonth, rtcMonth, rtcYear, rtcCentury:
		r.writeTime(i, v)
	case rtcDayOfWeek:
		// derived from the date
	case rtcRegA:
		r.ram[rtcRegA] = v &^ 0x80
	case rtcRegB:
		if v&regBSet != 0 && r.ram[rtcRegB]&regBSet == 0 {
			r.frozen = r.current()
		}
		if v&regBSet == 0 && r.ram[rtcRegB]&regBSet != 0 {
			r.offset = r.frozen.Sub(r.now().UTC())
		}
		r.ram[rtcRegB] = v
	case rtcRegC, rtcRegD:
		// read-only
	default:
		r.ram[i] = v
	}
	return nil
}
