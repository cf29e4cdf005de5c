package kvmapi

import "testing"

// TestRequestNumbers compares every request number with the value the C
// compiler computes from linux/kvm.h (printed by a C program with the
// kernel headers; the values are part of the stable kernel ABI).
func TestRequestNumbers(t *testing.T) {
	tests := []struct {
		name string
		got  uintptr
		want uintptr
	}{
		{"KVM_GET_API_VERSION", reqGetAPIVersion, 0x0000ae00},
		{"KVM_CREATE_VM", reqCreateVM, 0x0000ae01},
		{"KVM_GET_MSR_INDEX_LIST", reqGetMSRIndexList, 0xc004ae02},
		{"KVM_CHECK_EXTENSION", reqCheckExtension, 0x0000ae03},
		{"KVM_GET_VCPU_MMAP_SIZE", reqGetVCPUMmapSize, 0x0000ae04},
		{"KVM_GET_SUPPORTED_CPUID", reqGetSupportedCPUID, 0xc008ae05},
		{"KVM_GET_MSR_FEATURE_INDEX_LIST", reqGetMSRFeatureIndex, 0xc004ae0a},
		{"KVM_CREATE_VCPU", reqCreateVCPU, 0x0000ae41},
		{"KVM_GET_DIRTY_LOG", reqGetDirtyLog, 0x4010ae42},
		{"KVM_SET_USER_MEMORY_REGION", reqSetUserMemoryRegion, 0x4020ae46},
		{"KVM_SET_TSS_ADDR", reqSetTSSAddr, 0x0000ae47},
		{"KVM_SET_IDENTITY_MAP_ADDR", reqSetIdentityMapAddr, 0x4008ae48},
		{"KVM_CREATE_IRQCHIP", reqCreateIRQChip, 0x0000ae60},
		{"KVM_IRQ_LINE", reqIRQLine, 0x4008ae61},
		{"KVM_GET_IRQCHIP", reqGetIRQChip, 0xc208ae62},
		{"KVM_SET_IRQCHIP", reqSetIRQChip, 0x8208ae63},
		{"KVM_IRQ_LINE_STATUS", reqIRQLineStatus, 0xc008ae67},
		{"KVM_SET_GSI_ROUTING", reqSetGSIRouting, 0x4008ae6a},
		{"KVM_IRQFD", reqIRQFD, 0x4020ae76},
		{"KVM_CREATE_PIT2", reqCreatePIT2, 0x4040ae77},
		{"KVM_IOEVENTFD", reqIOEventFD, 0x4040ae79},
		{"KVM_SET_CLOCK", reqSetClock, 0x4030ae7b},
		{"KVM_GET_CLOCK", reqGetClock, 0x8030ae7c},
		{"KVM_GET_PIT2", reqGetPIT2, 0x8070ae9f},
		{"KVM_SET_PIT2", reqSetPIT2, 0x4070aea0},
		{"KVM_ENABLE_CAP", reqEnableCap, 0x4068aea3},
		{"KVM_SIGNAL_MSI", reqSignalMSI, 0x4020aea5},
		{"KVM_CLEAR_DIRTY_LOG", reqClearDirtyLog, 0xc018aec0},
		{"KVM_RUN", reqRun, 0x0000ae80},
		{"KVM_GET_REGS", reqGetRegs, 0x8090ae81},
		{"KVM_SET_REGS", reqSetRegs, 0x4090ae82},
		{"KVM_GET_SREGS", reqGetSregs, 0x8138ae83},
		{"KVM_SET_SREGS", reqSetSregs, 0x4138ae84},
		{"KVM_TRANSLATE", reqTranslate, 0xc018ae85},
		{"KVM_GET_MSRS", reqGetMSRs, 0xc008ae88},
		{"KVM_SET_MSRS", reqSetMSRs, 0x4008ae89},
		{"KVM_SET_SIGNAL_MASK", reqSetSignalMask, 0x4004ae8b},
		{"KVM_GET_FPU", reqGetFPU, 0x81a0ae8c},
		{"KVM_SET_FPU", reqSetFPU, 0x41a0ae8d},
		{"KVM_GET_LAPIC", reqGetLAPIC, 0x8400ae8e},
		{"KVM_SET_LAPIC", reqSetLAPIC, 0x4400ae8f},
		{"KVM_SET_CPUID2", reqSetCPUID2, 0x4008ae90},
		{"KVM_GET_CPUID2", reqGetCPUID2, 0xc008ae91},
		{"KVM_GET_MP_STATE", reqGetMPState, 0x8004ae98},
		{"KVM_SET_MP_STATE", reqSetMPState, 0x4004ae99},
		{"KVM_GET_VCPU_EVENTS", reqGetVCPUEvents, 0x8040ae9f},
		{"KVM_SET_VCPU_EVENTS", reqSetVCPUEvents, 0x4040aea0},
		{"KVM_GET_DEBUGREGS", reqGetDebugRegs, 0x8080aea1},
		{"KVM_SET_DEBUGREGS", reqSetDebugRegs, 0x4080aea2},
		{"KVM_SET_TSC_KHZ", reqSetTSCKHz, 0x0000aea2},
		{"KVM_GET_TSC_KHZ", reqGetTSCKHz, 0x0000aea3},
		{"KVM_GET_XSAVE", reqGetXSAVE, 0x9000aea4},
		{"KVM_SET_XSAVE", reqSetXSAVE, 0x5000aea5},
		{"KVM_GET_XCRS", reqGetXCRs, 0x8188aea6},
		{"KVM_SET_XCRS", reqSetXCRs, 0x4188aea7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("%s = %#x, want %#x", tt.name, tt.got, tt.want)
			}
		})
	}
}

func TestExitReasonString(t *testing.T) {
	tests := []struct {
		r    ExitReason
		want string
	}{
		{ExitIO, "IO"},
		{ExitMMIO, "MMIO"},
		{ExitInternalError, "INTERNAL_ERROR"},
		{ExitShutdown, "SHUTDOWN"},
		{ExitReason(200), "exit-200"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.r.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}
