package kvmapi

import "fmt"

// Cap is a KVM capability number for KVM_CHECK_EXTENSION / KVM_ENABLE_CAP.
type Cap uint32

// Capabilities this project asks about (KVM_CAP_* in linux/kvm.h).
const (
	CapIRQChip                Cap = 0
	CapHLT                    Cap = 1
	CapUserMemory             Cap = 3
	CapSetTSSAddr             Cap = 4
	CapExtCPUID               Cap = 7
	CapNrVCPUs                Cap = 9
	CapNrMemslots             Cap = 10
	CapPIT                    Cap = 11
	CapMPState                Cap = 14
	CapIRQRouting             Cap = 25
	CapIRQInjectStatus        Cap = 26
	CapIRQFD                  Cap = 32
	CapPIT2                   Cap = 33
	CapPITState2              Cap = 35
	CapIOEventFD              Cap = 36
	CapSetIdentityMapAddr     Cap = 37
	CapAdjustClock            Cap = 39
	CapInternalErrorData      Cap = 40
	CapVCPUEvents             Cap = 41
	CapDebugRegs              Cap = 50
	CapXSAVE                  Cap = 55
	CapXCRs                   Cap = 56
	CapTSCControl             Cap = 60
	CapGetTSCKHz              Cap = 61
	CapMaxVCPUs               Cap = 66
	CapTSCDeadlineTimer       Cap = 72
	CapSignalMSI              Cap = 77
	CapReadonlyMem            Cap = 81
	CapIRQFDResample          Cap = 82
	CapSplitIRQChip           Cap = 121
	CapMaxVCPUID              Cap = 128
	CapImmediateExit          Cap = 136
	CapExceptionPayload       Cap = 164
	CapManualDirtyLogProtect2 Cap = 168
	CapExitOnEmulationFailure Cap = 204
	CapXSAVE2                 Cap = 208
)

// APIVersion is the only KVM API version there has ever been (KVM_API_VERSION).
const APIVersion = 12

// ExitReason is kvm_run.exit_reason (KVM_EXIT_*).
type ExitReason uint32

// Exit reasons.
const (
	ExitUnknown       ExitReason = 0
	ExitException     ExitReason = 1
	ExitIO            ExitReason = 2
	ExitHypercall     ExitReason = 3
	ExitDebug         ExitReason = 4
	ExitHLT           ExitReason = 5
	ExitMMIO          ExitReason = 6
	ExitIRQWindowOpen ExitReason = 7
	ExitShutdown      ExitReason = 8
	ExitFailEntry     ExitReason = 9
	ExitIntr          ExitReason = 10
	ExitSetTPR        ExitReason = 11
	ExitTPRAccess     ExitReason = 12
	ExitNMI           ExitReason = 16
	ExitInternalError ExitReason = 17
	ExitSystemEvent   ExitReason = 24
	ExitIOAPICEOI     ExitReason = 26
	ExitHyperV        ExitReason = 27
	ExitX86RDMSR      ExitReason = 29
	ExitX86WRMSR      ExitReason = 30
	ExitDirtyRingFull ExitReason = 31
	ExitAPResetHold   ExitReason = 32
	ExitX86BusLock    ExitReason = 33
	ExitXen           ExitReason = 34
	ExitNotify        ExitReason = 37
	ExitMemoryFault   ExitReason = 39
)

func (r ExitReason) String() string {
	switch r {
	case ExitUnknown:
		return "UNKNOWN"
	case ExitException:
		return "EXCEPTION"
	case ExitIO:
		return "IO"
	case ExitHypercall:
		return "HYPERCALL"
	case ExitDebug:
		return "DEBUG"
	case ExitHLT:
		return "HLT"
	case ExitMMIO:
		return "MMIO"
	case ExitIRQWindowOpen:
		return "IRQ_WINDOW_OPEN"
	case ExitShutdown:
		return "SHUTDOWN"
	case ExitFailEntry:
		return "FAIL_ENTRY"
	case ExitIntr:
		return "INTR"
	case ExitSetTPR:
		return "SET_TPR"
	case ExitTPRAccess:
		return "TPR_ACCESS"
	case ExitNMI:
		return "NMI"
	case ExitInternalError:
		return "INTERNAL_ERROR"
	case ExitSystemEvent:
		return "SYSTEM_EVENT"
	case ExitIOAPICEOI:
		return "IOAPIC_EOI"
	case ExitHyperV:
		return "HYPERV"
	case ExitX86RDMSR:
		return "X86_RDMSR"
	case ExitX86WRMSR:
		return "X86_WRMSR"
	case ExitDirtyRingFull:
		return "DIRTY_RING_FULL"
	case ExitAPResetHold:
		return "AP_RESET_HOLD"
	case ExitX86BusLock:
		return "X86_BUS_LOCK"
	case ExitXen:
		return "XEN"
	case ExitNotify:
		return "NOTIFY"
	case ExitMemoryFault:
		return "MEMORY_FAULT"
	}
	return fmt.Sprintf("exit-%d", uint32(r))
}

// Internal error sub-reasons (KVM_INTERNAL_ERROR_*).
const (
	InternalErrorEmulation            = 1
	InternalErrorSimulEx              = 2
	InternalErrorDeliveryEv           = 3
	InternalErrorUnexpectedExitReason = 4

	// EmulationFlagInstructionBytes is
	// KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES.
	EmulationFlagInstructionBytes = 1 << 0
)

// System event types (KVM_SYSTEM_EVENT_*).
const (
	SystemEventShutdown = 1
	SystemEventReset    = 2
	SystemEventCrash    = 3
	SystemEventWakeup   = 4
	SystemEventSuspend  = 5
	SystemEventSEVTerm  = 6
)

// I/O exit directions.
const (
	ExitIOIn  = 0
	ExitIOOut = 1
)
