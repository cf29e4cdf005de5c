package kvmapi

// Linux ioctl request encoding (include/uapi/asm-generic/ioctl.h): number in
// bits 0-7, type in 8-15, size in 16-29, direction in 30-31.
const (
	iocNRBits   = 8
	iocTypeBits = 8
	iocSizeBits = 14

	iocNRShift   = 0
	iocTypeShift = iocNRShift + iocNRBits
	iocSizeShift = iocTypeShift + iocTypeBits
	iocDirShift  = iocSizeShift + iocSizeBits

	iocNone  = 0
	iocWrite = 1
	iocRead  = 2

	// kvmIO is KVMIO, the ioctl type of every KVM request.
	kvmIO = 0xAE

	// Prefixes standing for _IO, _IOR, _IOW and _IOWR of type KVMIO: a request
	// is prefix | nr | size<<iocSizeShift. _IOR means the kernel writes user
	// memory, _IOW that it reads it.
	dirNone      = iocNone<<iocDirShift | kvmIO<<iocTypeShift
	dirRead      = iocRead<<iocDirShift | kvmIO<<iocTypeShift
	dirWrite     = iocWrite<<iocDirShift | kvmIO<<iocTypeShift
	dirReadWrite = (iocRead|iocWrite)<<iocDirShift | kvmIO<<iocTypeShift
)

// Sizes of the kernel structs the request numbers encode. Each has a test
// comparing it with unsafe.Sizeof of the Go mirror and with the C size.
const (
	sizeofMSRList          = 4
	sizeofCPUID2Header     = 8
	sizeofDirtyLog         = 16
	sizeofMemoryRegion     = 32
	sizeofU64              = 8
	sizeofIRQLevel         = 8
	sizeofIRQChip          = 520
	sizeofIRQRoutingHeader = 8
	sizeofIRQFD            = 32
	sizeofPITConfig        = 64
	sizeofIOEventFD        = 64
	sizeofClockData        = 48
	sizeofPITState2        = 112
	sizeofMSI              = 32
	sizeofClearDirtyLog    = 24
	sizeofEnableCap        = 104
	sizeofRegs             = 144
	sizeofSregs            = 312
	sizeofTranslation      = 24
	sizeofMSRsHeader       = 8
	sizeofSignalMaskHeader = 4
	sizeofFPU              = 416
	sizeofLAPICState       = 1024
	sizeofMPState          = 4
	sizeofVCPUEvents       = 64
	sizeofDebugRegs        = 128
	sizeofXSAVE            = 4096
	sizeofXCRs             = 392
)

// Request numbers, from include/uapi/linux/kvm.h.
const (
	reqGetAPIVersion       = dirNone | 0x00
	reqCreateVM            = dirNone | 0x01
	reqGetMSRIndexList     = dirReadWrite | 0x02 | sizeofMSRList<<iocSizeShift
	reqCheckExtension      = dirNone | 0x03
	reqGetVCPUMmapSize     = dirNone | 0x04
	reqGetSupportedCPUID   = dirReadWrite | 0x05 | sizeofCPUID2Header<<iocSizeShift
	reqGetMSRFeatureIndex  = dirReadWrite | 0x0a | sizeofMSRList<<iocSizeShift
	reqCreateVCPU          = dirNone | 0x41
	reqGetDirtyLog         = dirWrite | 0x42 | sizeofDirtyLog<<iocSizeShift
	reqSetUserMemoryRegion = dirWrite | 0x46 | sizeofMemoryRegion<<iocSizeShift
	reqSetTSSAddr          = dirNone | 0x47
	reqSetIdentityMapAddr  = dirWrite | 0x48 | sizeofU64<<iocSizeShift
	reqCreateIRQChip       = dirNone | 0x60
	reqIRQLine             = dirWrite | 0x61 | sizeofIRQLevel<<iocSizeShift
	reqGetIRQChip          = dirReadWrite | 0x62 | sizeofIRQChip<<iocSizeShift
	reqSetIRQChip          = dirRead | 0x63 | sizeofIRQChip<<iocSizeShift
	reqIRQLineStatus       = dirReadWrite | 0x67 | sizeofIRQLevel<<iocSizeShift
	reqSetGSIRouting       = dirWrite | 0x6a | sizeofIRQRoutingHeader<<iocSizeShift
	reqIRQFD               = dirWrite | 0x76 | sizeofIRQFD<<iocSizeShift
	reqCreatePIT2          = dirWrite | 0x77 | sizeofPITConfig<<iocSizeShift
	reqIOEventFD           = dirWrite | 0x79 | sizeofIOEventFD<<iocSizeShift
	reqSetClock            = dirWrite | 0x7b | sizeofClockData<<iocSizeShift
	reqGetClock            = dirRead | 0x7c | sizeofClockData<<iocSizeShift
	reqGetPIT2             = dirRead | 0x9f | sizeofPITState2<<iocSizeShift
	reqSetPIT2             = dirWrite | 0xa0 | sizeofPITState2<<iocSizeShift
	reqEnableCap           = dirWrite | 0xa3 | sizeofEnableCap<<iocSizeShift
	reqSignalMSI           = dirWrite | 0xa5 | sizeofMSI<<iocSizeShift
	reqClearDirtyLog       = dirReadWrite | 0xc0 | sizeofClearDirtyLog<<iocSizeShift
	reqRun                 = dirNone | 0x80
	reqGetRegs             = dirRead | 0x81 | sizeofRegs<<iocSizeShift
	reqSetRegs             = dirWrite | 0x82 | sizeofRegs<<iocSizeShift
	reqGetSregs            = dirRead | 0x83 | sizeofSregs<<iocSizeShift
	reqSetSregs            = dirWrite | 0x84 | sizeofSregs<<iocSizeShift
	reqTranslate           = dirReadWrite | 0x85 | sizeofTranslation<<iocSizeShift
	reqGetMSRs             = dirReadWrite | 0x88 | sizeofMSRsHeader<<iocSizeShift
	reqSetMSRs             = dirWrite | 0x89 | sizeofMSRsHeader<<iocSizeShift
	reqSetSignalMask       = dirWrite | 0x8b | sizeofSignalMaskHeader<<iocSizeShift
	reqGetFPU              = dirRead | 0x8c | sizeofFPU<<iocSizeShift
	reqSetFPU              = dirWrite | 0x8d | sizeofFPU<<iocSizeShift
	reqGetLAPIC            = dirRead | 0x8e | sizeofLAPICState<<iocSizeShift
	reqSetLAPIC            = dirWrite | 0x8f | sizeofLAPICState<<iocSizeShift
	reqSetCPUID2           = dirWrite | 0x90 | sizeofCPUID2Header<<iocSizeShift
	reqGetCPUID2           = dirReadWrite | 0x91 | sizeofCPUID2Header<<iocSizeShift
	reqGetMPState          = dirRead | 0x98 | sizeofMPState<<iocSizeShift
	reqSetMPState          = dirWrite | 0x99 | sizeofMPState<<iocSizeShift
	reqGetVCPUEvents       = dirRead | 0x9f | sizeofVCPUEvents<<iocSizeShift
	reqSetVCPUEvents       = dirWrite | 0xa0 | sizeofVCPUEvents<<iocSizeShift
	reqGetDebugRegs        = dirRead | 0xa1 | sizeofDebugRegs<<iocSizeShift
	reqSetDebugRegs        = dirWrite | 0xa2 | sizeofDebugRegs<<iocSizeShift
	reqSetTSCKHz           = dirNone | 0xa2
	reqGetTSCKHz           = dirNone | 0xa3
	reqGetXSAVE            = dirRead | 0xa4 | sizeofXSAVE<<iocSizeShift
	reqSetXSAVE            = dirWrite | 0xa5 | sizeofXSAVE<<iocSizeShift
	reqGetXCRs             = dirRead | 0xa6 | sizeofXCRs<<iocSizeShift
	reqSetXCRs             = dirWrite | 0xa7 | sizeofXCRs<<iocSizeShift
)
