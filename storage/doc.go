// Package storage does the work of libvirt's storage pools and volumes on
// real disks: directories, mounted filesystems (local and NFS), LVM volume
// groups and partition tables.
//
// A pool definition (*xmlconf.StoragePool) is bound to the backend of its
// type with Open, which validates the definition and finds the host tools
// the backend needs. The resulting *Pool carries the live state the backend
// reports (capacity, allocation, available, the volume list) and is safe for
// concurrent use. It does not persist anything: definitions, autostart and
// the active/persistent bookkeeping belong to the driver that calls it.
//
//	p, err := storage.Open(def, storage.Options{Logger: log})
//	err = p.Build(ctx, storage.BuildNew)  // mkdir / mkfs / pvcreate+vgcreate / write label
//	err = p.Start(ctx)                    // check / mount / vgchange -ay / sync partitions
//	vol, err := p.CreateVolume(ctx, &xmlconf.StorageVolume{Name: "a", Capacity: 1 << 30})
//	err = p.DeleteVolume(ctx, "a", true)  // zero the data, then remove
//	err = p.Stop(ctx)
//	err = p.Delete(ctx, storage.DeleteNormal)
//
// Backends: dir (files in a directory), fs (a block device or image file
// mounted on the target; loop-mounted for files), netfs (an NFS, CIFS or
// GlusterFS export mounted on the target), logical (an LVM volume group
// driven with the lvm2 tools; volumes are logical volumes) and disk (a GPT
// or DOS partition table written with sfdisk; volumes are partitions).
// Host tools are run without a shell; the kernel's view of a partition
// table is kept in step with BLKPG ioctls, so partition nodes appear even
// on kernels that cannot parse partition tables themselves.
//
// Every failure a caller should act on is an *xmlconf.Error with a libvirt
// code and the storage error domain: ErrInvalidArg for a bad request,
// ErrOperationInvalid for the wrong pool state, ErrStorageVolExist and
// ErrNoStorageVol for volume names, ErrConfigUnsupported for a pool type,
// format or missing tool that cannot be served, ErrStoragePoolBuilt when a
// build would overwrite existing data, ErrOperationFailed for a host tool
// that failed (its output is in the message) and ErrSystemError for an errno
// (wrapped, so errors.Is(err, unix.ENOSPC) works).
package storage
