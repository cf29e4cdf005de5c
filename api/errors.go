package api

import (
	"context"
	"errors"
	"fmt"

	"github.com/govirt/govirt/xmlconf"
)

// Error is the error every govirt call returns: a libvirt error code, the
// libvirt error domain and libvirt's message. It is the same type in every
// layer and on both sides of the daemon socket, so
//
//	errors.Is(err, api.ErrNoDomain)
//
// works for local and remote connections alike.
type Error = xmlconf.Error

// ErrorNumber is a libvirt error code (virErrorNumber). Each constant is also
// an error usable as an errors.Is target.
type ErrorNumber = xmlconf.ErrorNumber

// ErrorDomain is a libvirt error domain (virErrorDomain).
type ErrorDomain = xmlconf.ErrorDomain

// libvirt error codes (virErrorNumber), usable with errors.Is.
const (
	ErrOK                   = xmlconf.ErrOK
	ErrInternalError        = xmlconf.ErrInternalError
	ErrNoMemory             = xmlconf.ErrNoMemory
	ErrNoSupport            = xmlconf.ErrNoSupport
	ErrNoConnect            = xmlconf.ErrNoConnect
	ErrInvalidConn          = xmlconf.ErrInvalidConn
	ErrInvalidDomain        = xmlconf.ErrInvalidDomain
	ErrInvalidArg           = xmlconf.ErrInvalidArg
	ErrOperationFailed      = xmlconf.ErrOperationFailed
	ErrXMLError             = xmlconf.ErrXMLError
	ErrOperationDenied      = xmlconf.ErrOperationDenied
	ErrInvalidNetwork       = xmlconf.ErrInvalidNetwork
	ErrSystemError          = xmlconf.ErrSystemError
	ErrRPC                  = xmlconf.ErrRPC
	ErrNoDomain             = xmlconf.ErrNoDomain
	ErrNoNetwork            = xmlconf.ErrNoNetwork
	ErrInvalidMAC           = xmlconf.ErrInvalidMAC
	ErrAuthFailed           = xmlconf.ErrAuthFailed
	ErrInvalidStoragePool   = xmlconf.ErrInvalidStoragePool
	ErrInvalidStorageVol    = xmlconf.ErrInvalidStorageVol
	ErrNoStoragePool        = xmlconf.ErrNoStoragePool
	ErrNoStorageVol         = xmlconf.ErrNoStorageVol
	ErrOperationInvalid     = xmlconf.ErrOperationInvalid
	ErrNoSecurityModel      = xmlconf.ErrNoSecurityModel
	ErrConfigUnsupported    = xmlconf.ErrConfigUnsupported
	ErrOperationTimeout     = xmlconf.ErrOperationTimeout
	ErrMigratePersistFailed = xmlconf.ErrMigratePersistFailed
	ErrOperationAborted     = xmlconf.ErrOperationAborted
	ErrAuthCancelled        = xmlconf.ErrAuthCancelled
	ErrOperationUnsupported = xmlconf.ErrOperationUnsupported
	ErrStorageVolExist      = xmlconf.ErrStorageVolExist
	ErrOverflow             = xmlconf.ErrOverflow
	ErrDeviceMissing        = xmlconf.ErrDeviceMissing
	ErrArgumentUnsupported  = xmlconf.ErrArgumentUnsupported
)

// libvirt error domains.
const (
	FromNone    = xmlconf.FromNone
	FromDom     = xmlconf.FromDom
	FromRPC     = xmlconf.FromRPC
	FromQEMU    = xmlconf.FromQEMU
	FromTest    = xmlconf.FromTest
	FromRemote  = xmlconf.FromRemote
	FromStorage = xmlconf.FromStorage
	FromNetwork = xmlconf.FromNetwork
	FromDomain  = xmlconf.FromDomain
)

// Errorf makes an *Error with libvirt's message template for code; see
// xmlconf.Errorf.
func Errorf(code ErrorNumber, format string, args ...any) *Error {
	return xmlconf.Errorf(code, format, args...)
}

// normalize turns whatever a driver returned into an *Error: errors that
// already carry a libvirt code keep it; context errors become
// OPERATION_ABORTED / OPERATION_TIMEOUT; anything else is an INTERNAL_ERROR
// that keeps the original as its cause. dom is the default error domain.
func normalize(err error, dom ErrorDomain) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		if e.Domain == FromNone {
			c := *e
			c.Domain = dom
			if c.Err == nil && err != e {
				c.Err = err
			}
			return &c
		}
		return e
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return Errorf(ErrOperationTimeout, "%w", err).WithDomain(dom)
	case errors.Is(err, context.Canceled):
		return Errorf(ErrOperationAborted, "%w", err).WithDomain(dom)
	}
	return Errorf(ErrInternalError, "%w", err).WithDomain(dom)
}

func deniedErr(fn string) error {
	return Errorf(ErrOperationDenied, "read only access prevents %s", fn)
}

func invalidConnErr(fn string) error {
	return Errorf(ErrInvalidConn, "%s", fn)
}

func invalidHandleErr(code ErrorNumber, fn string) error {
	return &Error{Code: code, Message: fmt.Sprintf("%s %s", xmlconf.Errorf(code, "").Message, fn)}
}
