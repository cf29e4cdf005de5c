package xmlconf

import (
	"errors"
	"fmt"
)

// ErrorNumber is a libvirt error code (virErrorNumber). The numbers are
// libvirt's own and are append-only, so they can cross the remote protocol
// unchanged.
//
// An ErrorNumber is itself an error, so it serves as a sentinel:
// errors.Is(err, xmlconf.ErrNoDomain) is true for any *Error whose Code is
// ErrNoDomain, wherever that error was made (in process or on a daemon).
type ErrorNumber int32

// libvirt error codes used by govirt. Values are those of virterror.h.
const (
	ErrOK                   ErrorNumber = 0
	ErrInternalError        ErrorNumber = 1
	ErrNoMemory             ErrorNumber = 2
	ErrNoSupport            ErrorNumber = 3
	ErrUnknownHost          ErrorNumber = 4
	ErrNoConnect            ErrorNumber = 5
	ErrInvalidConn          ErrorNumber = 6
	ErrInvalidDomain        ErrorNumber = 7
	ErrInvalidArg           ErrorNumber = 8
	ErrOperationFailed      ErrorNumber = 9
	ErrGetFailed            ErrorNumber = 10
	ErrPostFailed           ErrorNumber = 11
	ErrHTTPError            ErrorNumber = 12
	ErrSExprSerial          ErrorNumber = 13
	ErrNoXen                ErrorNumber = 14
	ErrXenCall              ErrorNumber = 15
	ErrOSType               ErrorNumber = 16
	ErrNoKernel             ErrorNumber = 17
	ErrNoRoot               ErrorNumber = 18
	ErrNoSource             ErrorNumber = 19
	ErrNoTarget             ErrorNumber = 20
	ErrNoName               ErrorNumber = 21
	ErrNoOS                 ErrorNumber = 22
	ErrNoDevice             ErrorNumber = 23
	ErrNoXenstore           ErrorNumber = 24
	ErrDriverFull           ErrorNumber = 25
	ErrCallFailed           ErrorNumber = 26
	ErrXMLError             ErrorNumber = 27
	ErrDomExist             ErrorNumber = 28
	ErrOperationDenied      ErrorNumber = 29
	ErrOpenFailed           ErrorNumber = 30
	ErrReadFailed           ErrorNumber = 31
	ErrParseFailed          ErrorNumber = 32
	ErrConfSyntax           ErrorNumber = 33
	ErrWriteFailed          ErrorNumber = 34
	ErrXMLDetail            ErrorNumber = 35
	ErrInvalidNetwork       ErrorNumber = 36
	ErrNetworkExist         ErrorNumber = 37
	ErrSystemError          ErrorNumber = 38
	ErrRPC                  ErrorNumber = 39
	ErrGNUTLSError          ErrorNumber = 40
	ErrNoNetworkStart       ErrorNumber = 41
	ErrNoDomain             ErrorNumber = 42
	ErrNoNetwork            ErrorNumber = 43
	ErrInvalidMAC           ErrorNumber = 44
	ErrAuthFailed           ErrorNumber = 45
	ErrInvalidStoragePool   ErrorNumber = 46
	ErrInvalidStorageVol    ErrorNumber = 47
	ErrNoStorage            ErrorNumber = 48
	ErrNoStoragePool        ErrorNumber = 49
	ErrNoStorageVol         ErrorNumber = 50
	ErrOperationInvalid     ErrorNumber = 55
	ErrNoSecurityModel      ErrorNumber = 54
	ErrConfigUnsupported    ErrorNumber = 67
	ErrOperationTimeout     ErrorNumber = 68
	ErrMigratePersistFailed ErrorNumber = 69
	ErrNoDomainSnapshot     ErrorNumber = 72
	ErrArgumentUnsupported  ErrorNumber = 74
	ErrStorageProbeFailed   ErrorNumber = 75
	ErrStoragePoolBuilt     ErrorNumber = 76
	ErrOperationAborted     ErrorNumber = 78
	ErrAuthCancelled        ErrorNumber = 79
	ErrMigrateUnsafe        ErrorNumber = 81
	ErrOverflow             ErrorNumber = 82
	ErrOperationUnsupported ErrorNumber = 84
	ErrResourceBusy         ErrorNumber = 87
	ErrAccessDenied         ErrorNumber = 88
	ErrStorageVolExist      ErrorNumber = 90
	ErrCPUIncompatible      ErrorNumber = 91
	ErrNoServer             ErrorNumber = 95
	ErrDeviceMissing        ErrorNumber = 99
)

var errorNames = map[ErrorNumber]string{
	ErrOK: "OK", ErrInternalError: "INTERNAL_ERROR", ErrNoMemory: "NO_MEMORY", ErrNoSupport: "NO_SUPPORT",
	ErrUnknownHost: "UNKNOWN_HOST", ErrNoConnect: "NO_CONNECT", ErrInvalidConn: "INVALID_CONN",
	ErrInvalidDomain: "INVALID_DOMAIN", ErrInvalidArg: "INVALID_ARG", ErrOperationFailed: "OPERATION_FAILED",
	ErrXMLError: "XML_ERROR", ErrDomExist: "DOM_EXIST", ErrOperationDenied: "OPERATION_DENIED",
	ErrOpenFailed: "OPEN_FAILED", ErrReadFailed: "READ_FAILED", ErrWriteFailed: "WRITE_FAILED",
	ErrInvalidNetwork: "INVALID_NETWORK", ErrNetworkExist: "NETWORK_EXIST", ErrSystemError: "SYSTEM_ERROR",
	ErrRPC: "RPC", ErrNoDomain: "NO_DOMAIN", ErrNoNetwork: "NO_NETWORK", ErrInvalidMAC: "INVALID_MAC",
	ErrAuthFailed: "AUTH_FAILED", ErrInvalidStoragePool: "INVALID_STORAGE_POOL",
	ErrInvalidStorageVol: "INVALID_STORAGE_VOL", ErrNoStoragePool: "NO_STORAGE_POOL",
	ErrNoStorageVol: "NO_STORAGE_VOL", ErrOperationInvalid: "OPERATION_INVALID",
	ErrNoSecurityModel: "NO_SECURITY_MODEL", ErrConfigUnsupported: "CONFIG_UNSUPPORTED",
	ErrOperationTimeout: "OPERATION_TIMEOUT", ErrOperationAborted: "OPERATION_ABORTED",
	ErrAuthCancelled: "AUTH_CANCELLED", ErrOperationUnsupported: "OPERATION_UNSUPPORTED",
	ErrStorageProbeFailed: "STORAGE_PROBE_FAILED", ErrStorageVolExist: "STORAGE_VOL_EXIST",
	ErrCPUIncompatible: "CPU_INCOMPATIBLE", ErrNoServer: "NO_SERVER", ErrDeviceMissing: "DEVICE_MISSING", ErrMigrateUnsafe: "MIGRATE_UNSAFE",
	ErrArgumentUnsupported: "ARGUMENT_UNSUPPORTED", ErrStoragePoolBuilt: "STORAGE_POOL_BUILT",
	ErrOverflow: "OVERFLOW", ErrResourceBusy: "RESOURCE_BUSY", ErrAccessDenied: "ACCESS_DENIED",
	ErrMigratePersistFailed: "MIGRATE_PERSIST_FAILED", ErrNoDomainSnapshot: "NO_DOMAIN_SNAPSHOT",
}

// Error returns the code's libvirt name, e.g. "NO_DOMAIN".
func (n ErrorNumber) Error() string {
	if s, ok := errorNames[n]; ok {
		return s
	}
	return fmt.Sprintf("libvirt error %d", int32(n))
}

// ErrorDomain says which part of libvirt raised an error (virErrorDomain).
type ErrorDomain int32

// libvirt error domains used by govirt.
const (
	FromNone     ErrorDomain = 0
	FromDom      ErrorDomain = 6
	FromRPC      ErrorDomain = 7
	FromQEMU     ErrorDomain = 10
	FromTest     ErrorDomain = 12
	FromRemote   ErrorDomain = 13
	FromStorage  ErrorDomain = 18
	FromNetwork  ErrorDomain = 19
	FromDomain   ErrorDomain = 20
	FromNodedev  ErrorDomain = 22
	FromSecurity ErrorDomain = 24
	FromConf     ErrorDomain = 9
)

// Error is the one error type of govirt: a libvirt error code, the libvirt
// error domain and a message that follows libvirt's templates (for example
// "Domain not found: no domain with matching name 'web'"). Every layer
// (xmlconf, state, storage, network, kvm, api and the daemon) reports
// failures the caller should act on as *Error; api.Error is the same type.
type Error struct {
	Code    ErrorNumber
	Domain  ErrorDomain
	Message string
	// Err is the underlying cause, if any (for errors.Is / errors.As).
	Err error
}

func (e *Error) Error() string { return e.Message }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is this error's code (an ErrorNumber), or an
// *Error with the same code and, when the target has one, the same message.
func (e *Error) Is(target error) bool {
	switch t := target.(type) {
	case ErrorNumber:
		return e.Code == t
	case *Error:
		return e.Code == t.Code && (t.Message == "" || t.Message == e.Message)
	}
	return false
}

// templates are libvirt's message prefixes per code (virerror.c). The detail
// follows after ": ".
var templates = map[ErrorNumber]string{
	ErrInternalError:        "internal error",
	ErrNoMemory:             "out of memory",
	ErrNoSupport:            "this function is not supported by the connection driver",
	ErrNoConnect:            "no connection driver available",
	ErrInvalidConn:          "invalid connection pointer in",
	ErrInvalidDomain:        "invalid domain pointer in",
	ErrInvalidArg:           "invalid argument",
	ErrOperationFailed:      "operation failed",
	ErrXMLError:             "XML error",
	ErrDomExist:             "domain exists already",
	ErrOperationDenied:      "operation forbidden",
	ErrOpenFailed:           "failed to open configuration file",
	ErrReadFailed:           "failed to read configuration file",
	ErrWriteFailed:          "failed to write configuration file",
	ErrInvalidNetwork:       "invalid network pointer in",
	ErrNetworkExist:         "this network exists already",
	ErrRPC:                  "RPC error",
	ErrNoDomain:             "Domain not found",
	ErrNoNetwork:            "Network not found",
	ErrInvalidMAC:           "invalid MAC address",
	ErrAuthFailed:           "authentication failed",
	ErrInvalidStoragePool:   "invalid storage pool pointer in",
	ErrInvalidStorageVol:    "invalid storage volume pointer in",
	ErrNoStoragePool:        "Storage pool not found",
	ErrNoStorageVol:         "Storage volume not found",
	ErrOperationInvalid:     "Requested operation is not valid",
	ErrNoSecurityModel:      "Security model not found",
	ErrConfigUnsupported:    "unsupported configuration",
	ErrOperationTimeout:     "Timed out during operation",
	ErrOperationAborted:     "operation aborted",
	ErrAuthCancelled:        "authentication cancelled",
	ErrOperationUnsupported: "Operation not supported",
	ErrStorageProbeFailed:   "Storage pool probe failed",
	ErrStorageVolExist:      "storage volume already exists",
	ErrCPUIncompatible:      "the CPU is incompatible with host CPU",
	ErrNoServer:             "Server not found",
	ErrMigrateUnsafe:        "Unsafe migration",
	ErrArgumentUnsupported:  "argument unsupported",
	ErrStoragePoolBuilt:     "storage pool already built",
	ErrOverflow:             "value too large",
	ErrResourceBusy:         "resource busy",
	ErrAccessDenied:         "access denied",
	ErrDeviceMissing:        "device not found",
}

// Errorf makes an *Error whose message is libvirt's template for code
// followed by the formatted detail, e.g.
//
//	Errorf(ErrNoDomain, "no domain with matching name '%s'", name)
//
// gives "Domain not found: no domain with matching name 'web'". A %w verb in
// format records that error as the cause. SYSTEM_ERROR has no template: the
// detail is the whole message.
func Errorf(code ErrorNumber, format string, args ...any) *Error {
	wrapped := fmt.Errorf(format, args...)
	detail := wrapped.Error()
	msg := detail
	if t, ok := templates[code]; ok {
		if detail == "" {
			msg = t
		} else if t[len(t)-2:] == "in" { // "invalid domain pointer in %s"
			msg = t + " " + detail
		} else {
			msg = t + ": " + detail
		}
	}
	return &Error{Code: code, Message: msg, Err: errors.Unwrap(wrapped)}
}

// WithDomain returns e with its error domain set, when not set already.
func (e *Error) WithDomain(d ErrorDomain) *Error {
	if e.Domain == FromNone {
		e.Domain = d
	}
	return e
}

// CodeOf returns the libvirt code of err: the Code of the first *Error in its
// chain, ErrOK for nil, and ErrInternalError for any other error.
func CodeOf(err error) ErrorNumber {
	if err == nil {
		return ErrOK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ErrInternalError
}
