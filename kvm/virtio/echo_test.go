package virtio_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/govirt/govirt/kvm/virtio"
)

// echoDevice is a device type for transport tests: every chain's readable
// bytes are copied into its writable part. Its 8-byte configuration is
// writable by the driver.
type echoDevice struct {
	mu      sync.Mutex
	cfg     [8]byte
	loop    *virtio.Loop
	act     *virtio.Activation
	started int
	stopErr error
}

type echoState struct {
	Version int     `json:"version"`
	Config  [8]byte `json:"config"`
}

func (e *echoDevice) Type() uint16         { return 0x3F }
func (e *echoDevice) Features() uint64     { return 1 << 3 }
func (e *echoDevice) QueueSizes() []uint16 { return []uint16{16, 8} }
func (e *echoDevice) ConfigSize() int      { return len(e.cfg) }

func (e *echoDevice) ReadConfig(off int, data []byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	copy(data, e.cfg[off:])
}

func (e *echoDevice) WriteConfig(off int, data []byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	copy(e.cfg[off:], data)
}

func (e *echoDevice) Start(a *virtio.Activation) error {
	l, err := a.ServeQueues(a.Queues, func(q *virtio.Queue, c *virtio.Chain) (uint32, error) {
		var data []byte
		for _, s := range c.Out {
			data = append(data, s.Buf...)
		}
		n := 0
		for _, s := range c.In {
			k := copy(s.Buf, data[n:])
			a.Memory.MarkDirty(s.Addr, uint64(k))
			n += k
		}
		if len(data) > 0 && data[0] == 0xEE {
			return 0, fmt.Errorf("%w: poisoned request", virtio.ErrQueue)
		}
		return uint32(n), nil
	})
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.loop, e.act = l, a
	e.started++
	return nil
}

func (e *echoDevice) Stop() {
	e.mu.Lock()
	l := e.loop
	e.loop = nil
	e.mu.Unlock()
	if l != nil {
		err := l.Stop()
		e.mu.Lock()
		e.stopErr = err
		e.mu.Unlock()
	}
}

func (e *echoDevice) Reset() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cfg = [8]byte{}
}

func (e *echoDevice) SaveState() ([]byte, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return json.Marshal(echoState{Version: 1, Config: e.cfg})
}

func (e *echoDevice) RestoreState(b []byte) error {
	var s echoState
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("restore echo: %w", err)
	}
	if s.Version != 1 {
		return errors.New("restore echo: bad version")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cfg = s.Config
	return nil
}
