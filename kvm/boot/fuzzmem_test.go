package boot

import "github.com/govirt/govirt/kvm/guestmem"

func newFuzzMem() (*guestmem.Memory, error) { return guestmem.New(16 << 20) }
