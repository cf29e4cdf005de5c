// Package state is govirt's on-disk store: the persistent configs of
// domains, networks and storage pools, their autostart links, the runtime
// records of active objects, and the locks and counters that let a daemon
// and any number of library users share one instance safely.
//
// The store keeps bytes (the XML documents xmlconf formats); it never parses
// them. Callers parse in the function they pass to LoadAll.
//
// # Layout
//
//	<configDir>/                   0700; /var/lib/govirt or ~/.config/govirt
//	    lock                       the store lock (Lock)
//	    domains/NAME.xml           persistent config, 0600
//	    domains/autostart/NAME.xml relative symlink to ../NAME.xml
//	    networks/...  pools/...    the same for the other kinds
//	<runDir>/                      0755; /run/govirt or $XDG_RUNTIME_DIR/govirt
//	    domain-id                  the domain ID counter (NextDomainID)
//	    domains/NAME.xml           runtime record of an active object, 0600
//	    domains/NAME.d/            its other runtime files (RuntimeDir), 0700
//	    domains/.generation        change counter of the kind (Generation)
//	    domains/.locks/NAME        per-object lock files (LockObject)
//
// DefaultDirs maps a connection URI path (/system, /session) to the two
// directories. Object names are checked before any I/O: not empty, not "."
// or "..", no '/' or NUL, at most MaxNameLen bytes.
//
// # Guarantees
//
// Atomic writes. SaveConfig and SaveRuntime write a temp file (".*.tmp") in
// the target's directory, fsync it, rename it over the target and fsync the
// directory. A crash or kill at any point leaves the old file or the new
// one, never a torn or empty one; once the call returns the new file
// survives a power loss. Temp files of interrupted writes are ignored by
// every listing and removed by LoadAll; a live writer holds an flock on its
// temp file, so a cleaner in another process never removes a write in
// progress. Deletions fsync the directory too.
//
// Partial loads. LoadAll reports each unreadable or unparsable file with its
// path and still loads every other object.
//
// Errors. Failures are *xmlconf.Error (joined with a second one in the rare
// case that cleaning up after a failure fails too, so use errors.As or
// xmlconf.CodeOf rather than a type assertion): INVALID_ARG for bad names, kinds or
// sizes; NO_DOMAIN / NO_NETWORK / NO_STORAGE_POOL for a missing object
// (errors.Is(err, fs.ErrNotExist) also holds); SYSTEM_ERROR naming the path
// for host failures (permissions, ENOSPC, EROFS), with the errno reachable
// through errors.Is; OPERATION_ABORTED / OPERATION_TIMEOUT when ctx ends a
// wait. A failed write leaves the old file in place. Errors carry no error
// domain; the driver sets one with WithDomain.
//
// Concurrency. A Store is safe for concurrent use, and any number of
// processes may open the same directories. Single operations are atomic on
// their own; a sequence that must not interleave with other writers (check
// that a name is free, then save) runs under Lock, which is an flock on the
// lock file plus an in-process semaphore, so it excludes goroutines and
// processes alike and gives up when ctx is done. LockObject is the same for
// one object (starting or stopping a domain). The store's methods take
// neither lock themselves.
//
// Change detection. Every successful change of a config, autostart link or
// runtime record bumps its kind's Generation after the change is durable,
// so a daemon can poll one small file and reload only when it moved.
//
// Domain IDs. NextDomainID hands out 1, 2, 3... across all processes and
// never repeats while the runtime directory lives; SeedDomainID lifts the
// counter above the IDs of domains found running.
package state
