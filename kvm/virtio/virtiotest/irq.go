package virtiotest

import (
	"runtime"
	"sync"
	"time"
)

// MSI is one recorded message.
type MSI struct {
	Addr uint64
	Data uint32
}

// IRQs records interrupts raised by devices: the machine boundary in tests.
// It implements pci.Interrupts.
type IRQs struct {
	mu     sync.Mutex
	msis   []MSI
	levels map[uint32]bool
	raised map[uint32]int
}

// NewIRQs returns an empty recorder.
func NewIRQs() *IRQs {
	r := &IRQs{levels: map[uint32]bool{}, raised: map[uint32]int{}}
	return r
}

// SignalMSI records a message.
func (r *IRQs) SignalMSI(addr uint64, data uint32) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msis = append(r.msis, MSI{Addr: addr, Data: data})
	return nil
}

// SetIRQ records a level change.
func (r *IRQs) SetIRQ(gsi uint32, level bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.levels[gsi] = level
	if level {
		r.raised[gsi]++
	}
	return nil
}

// MSIs returns the messages recorded so far.
func (r *IRQs) MSIs() []MSI {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]MSI(nil), r.msis...)
}

// CountMSI counts recorded messages with the given data.
func (r *IRQs) CountMSI(data uint32) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msis {
		if m.Data == data {
			n++
		}
	}
	return n
}

// Level returns the current level of gsi.
func (r *IRQs) Level(gsi uint32) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.levels[gsi]
}

// Raised counts the rising edges of gsi.
func (r *IRQs) Raised(gsi uint32) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.raised[gsi]
}

// WaitFor polls cond until it holds or the timeout passes: a driver
// polling the used ring. It yields for the first few rounds (completions
// usually follow quickly) and then sleeps briefly between polls.
func WaitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for i := 0; ; i++ {
		if cond() {
			return true
		}
		if i%64 == 63 && time.Now().After(deadline) {
			return false
		}
		if i < 2000 {
			runtime.Gosched()
		} else {
			time.Sleep(100 * time.Microsecond)
		}
	}
}
