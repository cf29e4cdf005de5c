package network

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/govirt/govirt/xmlconf"
)

// errorf builds a libvirt error in the network error domain.
func errorf(code xmlconf.ErrorNumber, format string, args ...any) *xmlconf.Error {
	return xmlconf.Errorf(code, format, args...).WithDomain(xmlconf.FromNetwork)
}

// sysErr reports a host failure. When err carries an errno the code is
// SYSTEM_ERROR (libvirt's virReportSystemError), otherwise OPERATION_FAILED;
// err stays in the chain either way.
func sysErr(err error, format string, args ...any) *xmlconf.Error {
	msg := fmt.Sprintf(format, args...)
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errorf(xmlconf.ErrSystemError, "%s: %w", msg, err)
	}
	var xe *xmlconf.Error
	if errors.As(err, &xe) {
		return errorf(xe.Code, "%s: %w", msg, err)
	}
	return errorf(xmlconf.ErrOperationFailed, "%s: %w", msg, err)
}
