package boot

import (
	"github.com/govirt/govirt/kvm/kvmapi"
	"github.com/govirt/govirt/kvm/layout"
)

// Control register bits used for the 64-bit entry state.
const (
	cr0PE  = 1 << 0
	cr0MP  = 1 << 1
	cr0ET  = 1 << 4
	cr0NE  = 1 << 5
	cr0PG  = 1 << 31
	cr4PAE = 1 << 5

	eferLME = 1 << 8
	eferLMA = 1 << 10
)

// EntryRegs returns the general registers of the boot vCPU at the 64-bit
// entry: RIP at the entry point, RSI pointing at boot_params, interrupts
// off.
func EntryRegs(r *Result) kvmapi.Regs {
	return kvmapi.Regs{
		RIP:    r.Entry,
		RSI:    layout.BootParamsAddr,
		RSP:    layout.BootStackTop,
		RBP:    layout.BootStackTop,
		RFLAGS: 2,
	}
}

// LongModeSregs turns s (as read from a fresh vCPU) into 64-bit mode with
// paging on the identity map and flat segments from the boot GDT.
func LongModeSregs(s kvmapi.Sregs) kvmapi.Sregs {
	code := kvmapi.Segment{Base: 0, Limit: 0xFFFFFFFF, Selector: SelectorCode, Type: 0xB, Present: 1, S: 1, L: 1, G: 1}
	data := kvmapi.Segment{Base: 0, Limit: 0xFFFFFFFF, Selector: SelectorData, Type: 0x3, Present: 1, S: 1, DB: 1, G: 1}
	s.CS = code
	s.DS, s.ES, s.FS, s.GS, s.SS = data, data, data, data, data
	s.TR = kvmapi.Segment{Base: 0, Limit: 0x67, Selector: SelectorTSS, Type: 0xB, Present: 1}
	s.GDT = kvmapi.DTable{Base: layout.BootGDTAddr, Limit: 8*gdtEntries - 1}
	s.IDT = kvmapi.DTable{Base: layout.BootIDTAddr, Limit: 0}
	s.CR0 = cr0PE | cr0MP | cr0ET | cr0NE | cr0PG
	s.CR3 = layout.BootPageTablesAddr
	s.CR4 = cr4PAE
	s.EFER = eferLME | eferLMA
	return s
}
