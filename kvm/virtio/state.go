package virtio

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/govirt/govirt/kvm/pci"
)

// PCIStateVersion is the version of PCIState written by this code.
const PCIStateVersion = 1

// QueueState is one virtqueue's configuration and ring positions.
type QueueState struct {
	Size      uint16 `json:"size"`
	Vector    uint16 `json:"vector"`
	Enabled   bool   `json:"enabled"`
	Desc      uint64 `json:"desc"`
	Driver    uint64 `json:"driver"`
	Device    uint64 `json:"device"`
	LastAvail uint16 `json:"last_avail"`
	UsedIdx   uint16 `json:"used_idx"`
}

// PCIState is the complete state of a virtio PCI device: PCI function,
// transport registers, queues and the device type's own state.
type PCIState struct {
	Version             int               `json:"version"`
	Type                uint16            `json:"type"`
	Function            pci.FunctionState `json:"function"`
	DeviceFeatureSelect uint32            `json:"device_feature_select"`
	DriverFeatureSelect uint32            `json:"driver_feature_select"`
	DriverFeatures      uint64            `json:"driver_features"`
	QueueSelect         uint16            `json:"queue_select"`
	MSIXConfig          uint16            `json:"msix_config"`
	Status              uint8             `json:"status"`
	Generation          uint8             `json:"generation"`
	ISR                 uint8             `json:"isr"`
	Queues              []QueueState      `json:"queues"`
	Device              json.RawMessage   `json:"device"`
}

// SaveState exports the device's state. For migration, call Pause first:
// the device then stays stopped. Without Pause, a running device is stopped
// for the snapshot (its goroutines complete the chains they took) and
// restarted afterwards, so the snapshot is consistent but the device goes
// on consuming chains (a live snapshot).
func (t *PCIDevice) SaveState() (PCIState, error) {
	fs := t.Function.State()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return PCIState{}, errors.New("save virtio device: closed")
	}
	wasRunning := t.running
	if wasRunning {
		t.dev.Stop()
		t.running = false
	}
	s := PCIState{
		Version: PCIStateVersion, Type: t.dev.Type(), Function: fs,
		DeviceFeatureSelect: t.devFeatSel, DriverFeatureSelect: t.drvFeatSel, DriverFeatures: t.driverFeatures,
		QueueSelect: t.queueSel, MSIXConfig: uint16(t.msixConfig.Load()), Status: uint8(t.status.Load()),
		Generation: uint8(t.generation.Load()),
	}
	t.isrMu.Lock()
	s.ISR = t.isr
	t.isrMu.Unlock()
	for _, q := range t.queues {
		s.Queues = append(s.Queues, QueueState{
			Size: q.size, Vector: uint16(q.vector.Load()), Enabled: q.enabled,
			Desc: q.descAddr, Driver: q.availAddr, Device: q.usedAddr,
			LastAvail: q.lastAvail, UsedIdx: q.usedIdx,
		})
	}
	dev, err := t.dev.SaveState()
	if err == nil {
		s.Device = dev
	}
	if wasRunning {
		if serr := t.dev.Start(t.act); serr != nil {
			t.failLocked(fmt.Errorf("resume after save: %w", serr))
		} else {
			t.running = true
		}
	}
	if err != nil {
		return PCIState{}, fmt.Errorf("save virtio device type %d: %w", t.dev.Type(), err)
	}
	return s, nil
}

// RestoreState loads a saved state into a freshly created device of the
// same type that is already on the bus. A device that was running resumes
// processing at the saved ring positions.
func (t *PCIDevice) RestoreState(s PCIState) error {
	if s.Version != PCIStateVersion {
		return fmt.Errorf("restore virtio device: state version %d, want %d", s.Version, PCIStateVersion)
	}
	if s.Type != t.dev.Type() {
		return fmt.Errorf("restore virtio device: state of type %d into device of type %d", s.Type, t.dev.Type())
	}
	if len(s.Queues) != len(t.queues) {
		return fmt.Errorf("restore virtio device type %d: %d saved queues, device has %d", s.Type, len(s.Queues), len(t.queues))
	}
	for i, qs := range s.Queues {
		if qs.Size > t.queues[i].maxSize {
			return fmt.Errorf("restore virtio device type %d: queue %d size %d above maximum %d", s.Type, i, qs.Size, t.queues[i].maxSize)
		}
	}
	if s.DriverFeatures&^t.offered != 0 {
		return fmt.Errorf("restore virtio device type %d: negotiated features %#x not offered (%#x)", s.Type, s.DriverFeatures, t.offered)
	}
	// The function first: it may remap BARs through the bus, which must not
	// happen under t.mu (config cycles take the bus lock, then t.mu).
	if err := t.Function.Restore(s.Function); err != nil {
		return fmt.Errorf("restore virtio device type %d: %w", s.Type, err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.running || t.status.Load() != 0 || t.closed {
		return fmt.Errorf("restore virtio device type %d: device already in use", s.Type)
	}
	t.devFeatSel, t.drvFeatSel, t.driverFeatures = s.DeviceFeatureSelect, s.DriverFeatureSelect, s.DriverFeatures
	t.queueSel = s.QueueSelect
	t.msixConfig.Store(uint32(t.validVector(s.MSIXConfig)))
	t.generation.Store(uint32(s.Generation))
	t.isrMu.Lock()
	t.isr = s.ISR & (isrQueue | isrConfig)
	t.isrMu.Unlock()
	for i, qs := range s.Queues {
		q := t.queues[i]
		q.size, q.enabled = qs.Size, qs.Enabled
		q.vector.Store(uint32(t.validVector(qs.Vector)))
		q.descAddr, q.availAddr, q.usedAddr = qs.Desc, qs.Driver, qs.Device
		q.lastAvail, q.usedIdx = qs.LastAvail, qs.UsedIdx
	}
	if err := t.dev.RestoreState(s.Device); err != nil {
		return fmt.Errorf("restore virtio device type %d: %w", s.Type, err)
	}
	t.status.Store(uint32(s.Status))
	if s.Status&StatusDriverOK == 0 || s.Status&StatusNeedsReset != 0 {
		return nil
	}
	if err := t.startLocked(); err != nil {
		t.failLocked(err)
		return fmt.Errorf("restore virtio device type %d: %w", s.Type, err)
	}
	// Notifications sent while the device was being moved are lost; let
	// the device look at every queue once.
	for _, q := range t.queues {
		if q.active {
			if err := q.kick.Signal(); err != nil {
				return fmt.Errorf("restore virtio device type %d: %w", s.Type, err)
			}
		}
	}
	return nil
}
