package storage

import (
	"errors"
	"io/fs"

	"github.com/govirt/govirt/xmlconf"
)

// errf is xmlconf.Errorf in the storage error domain.
func errf(code xmlconf.ErrorNumber, format string, args ...any) *xmlconf.Error {
	return xmlconf.Errorf(code, format, args...).WithDomain(xmlconf.FromStorage)
}

// sysErr reports a failed system call on path as SYSTEM_ERROR, in
// libvirt's "cannot <what> '<path>': <errno text>" form, wrapping the errno.
func sysErr(what, path string, err error) *xmlconf.Error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return errf(xmlconf.ErrSystemError, "cannot %s '%s': %w", what, path, err)
}

// asXMLError passes an *xmlconf.Error through and wraps anything else as
// an internal error with context.
func asXMLError(context string, err error) error {
	if err == nil {
		return nil
	}
	var xe *xmlconf.Error
	if errors.As(err, &xe) {
		return err
	}
	return errf(xmlconf.ErrInternalError, "%s: %w", context, err)
}
