// Package api is govirt's public Go API: libvirt's object model (connections,
// domains, networks, storage pools and volumes, node information) for KVM
// hosts, in Go.
//
// Open a connection with a URI and work through handles:
//
//	conn, err := api.Open(ctx, "kvm:///system")
//	dom, err := conn.LookupDomainByName(ctx, "web")
//	err = dom.Create(ctx)
//
// # Drivers
//
// Open dispatches on the URI to a registered driver. Drivers register from
// their own package (database/sql style), so import the ones you use:
//
//	import _ "github.com/govirt/govirt/api/testdriver" // test:///default, test:///PATH.xml
//	import _ "github.com/govirt/govirt/api/native"     // kvm:///system, kvm:///session, qemu:///system
//	import _ "github.com/govirt/govirt/api/remote"     // kvm+unix:///system, kvm+tls://host/system, ...
//
// The test driver is an in-memory hypervisor with libvirt's default objects,
// meant for unit tests of code written against this package.
//
// # Errors
//
// Every call returns *Error, carrying libvirt's code, domain and message.
// The codes are errors themselves, so
//
//	if errors.Is(err, api.ErrNoDomain) { ... }
//
// works for local and remote connections alike.
//
// # Read-only connections
//
// A connection opened with OpenReadOnly (or through the daemon's read-only
// socket) answers every query and refuses every call that changes anything,
// and BlockPeek, MemoryPeek, Refresh and FindStoragePoolSources, with
// OPERATION_DENIED.
//
// # The C API and its Go counterparts
//
// Every function of libvirt's C API of the 0.4 era has a Go counterpart.
// Handle types (virDomainPtr and friends) become *Domain, *Network,
// *StoragePool and *StorageVol; out-parameters become results; counts and
// buffers (maxnames, maplen, buffer sizes) are implied by Go slices; calls
// that may block take a context.Context first.
//
//	virConnectAuthCallbackPtr           ConnectAuth.Callback
//	virConnectClose                     Conn.Close
//	virConnectFindStoragePoolSources    Conn.FindStoragePoolSources
//	virConnectGetCapabilities           Conn.GetCapabilities
//	virConnectGetHostname               Conn.GetHostname
//	virConnectGetMaxVcpus               Conn.GetMaxVcpus
//	virConnectGetType                   Conn.GetType
//	virConnectGetURI                    Conn.GetURI
//	virConnectGetVersion                Conn.GetVersion
//	virConnectListDefinedDomains        Conn.ListDefinedDomains
//	virConnectListDefinedNetworks       Conn.ListDefinedNetworks
//	virConnectListDefinedStoragePools   Conn.ListDefinedStoragePools
//	virConnectListDomains               Conn.ListDomains
//	virConnectListNetworks              Conn.ListNetworks
//	virConnectListStoragePools          Conn.ListStoragePools
//	virConnectNumOfDefinedDomains       Conn.NumOfDefinedDomains
//	virConnectNumOfDefinedNetworks      Conn.NumOfDefinedNetworks
//	virConnectNumOfDefinedStoragePools  Conn.NumOfDefinedStoragePools
//	virConnectNumOfDomains              Conn.NumOfDomains
//	virConnectNumOfNetworks             Conn.NumOfNetworks
//	virConnectNumOfStoragePools         Conn.NumOfStoragePools
//	virConnectOpen                      api.Open
//	virConnectOpenAuth                  api.OpenAuth
//	virConnectOpenReadOnly              api.OpenReadOnly
//	virDomainAttachDevice               Domain.AttachDevice
//	virDomainBlockPeek                  Domain.BlockPeek
//	virDomainBlockStats                 Domain.BlockStats
//	virDomainCoreDump                   Domain.CoreDump
//	virDomainCreate                     Domain.Create
//	virDomainCreateLinux                Conn.DomainCreateLinux
//	virDomainDefineXML                  Conn.DomainDefineXML
//	virDomainDestroy                    Domain.Destroy
//	virDomainDetachDevice               Domain.DetachDevice
//	virDomainFree                       Domain.Free
//	virDomainGetAutostart               Domain.GetAutostart
//	virDomainGetConnect                 Domain.Connect
//	virDomainGetID                      Domain.ID
//	virDomainGetInfo                    Domain.GetInfo
//	virDomainGetMaxMemory               Domain.GetMaxMemory
//	virDomainGetMaxVcpus                Domain.GetMaxVcpus
//	virDomainGetName                    Domain.Name
//	virDomainGetOSType                  Domain.GetOSType
//	virDomainGetSchedulerParameters     Domain.GetSchedulerParameters
//	virDomainGetSchedulerType           Domain.GetSchedulerType
//	virDomainGetUUID                    Domain.UUID
//	virDomainGetUUIDString              Domain.UUIDString
//	virDomainGetVcpus                   Domain.GetVcpus
//	virDomainGetXMLDesc                 Domain.GetXMLDesc
//	virDomainInterfaceStats             Domain.InterfaceStats
//	virDomainLookupByID                 Conn.LookupDomainByID
//	virDomainLookupByName               Conn.LookupDomainByName
//	virDomainLookupByUUID               Conn.LookupDomainByUUID
//	virDomainLookupByUUIDString         Conn.LookupDomainByUUIDString
//	virDomainMemoryPeek                 Domain.MemoryPeek
//	virDomainMigrate                    Domain.Migrate
//	virDomainPinVcpu                    Domain.PinVcpu
//	virDomainReboot                     Domain.Reboot
//	virDomainRestore                    Conn.DomainRestore
//	virDomainResume                     Domain.Resume
//	virDomainSave                       Domain.Save
//	virDomainSetAutostart               Domain.SetAutostart
//	virDomainSetMaxMemory               Domain.SetMaxMemory
//	virDomainSetMemory                  Domain.SetMemory
//	virDomainSetSchedulerParameters     Domain.SetSchedulerParameters
//	virDomainSetVcpus                   Domain.SetVcpus
//	virDomainShutdown                   Domain.Shutdown
//	virDomainSuspend                    Domain.Suspend
//	virDomainUndefine                   Domain.Undefine
//	virGetVersion                       api.GetVersion
//	virInitialize                       api.Initialize
//	virNetworkCreate                    Network.Create
//	virNetworkCreateXML                 Conn.NetworkCreateXML
//	virNetworkDefineXML                 Conn.NetworkDefineXML
//	virNetworkDestroy                   Network.Destroy
//	virNetworkFree                      Network.Free
//	virNetworkGetAutostart              Network.GetAutostart
//	virNetworkGetBridgeName             Network.GetBridgeName
//	virNetworkGetConnect                Network.Connect
//	virNetworkGetName                   Network.Name
//	virNetworkGetUUID                   Network.UUID
//	virNetworkGetUUIDString             Network.UUIDString
//	virNetworkGetXMLDesc                Network.GetXMLDesc
//	virNetworkLookupByName              Conn.LookupNetworkByName
//	virNetworkLookupByUUID              Conn.LookupNetworkByUUID
//	virNetworkLookupByUUIDString        Conn.LookupNetworkByUUIDString
//	virNetworkSetAutostart              Network.SetAutostart
//	virNetworkUndefine                  Network.Undefine
//	virNodeGetCellsFreeMemory           Conn.NodeGetCellsFreeMemory
//	virNodeGetFreeMemory                Conn.NodeGetFreeMemory
//	virNodeGetInfo                      Conn.NodeGetInfo
//	virStoragePoolBuild                 StoragePool.Build
//	virStoragePoolCreate                StoragePool.Create
//	virStoragePoolCreateXML             Conn.StoragePoolCreateXML
//	virStoragePoolDefineXML             Conn.StoragePoolDefineXML
//	virStoragePoolDelete                StoragePool.Delete
//	virStoragePoolDestroy               StoragePool.Destroy
//	virStoragePoolFree                  StoragePool.Free
//	virStoragePoolGetAutostart          StoragePool.GetAutostart
//	virStoragePoolGetConnect            StoragePool.Connect
//	virStoragePoolGetInfo               StoragePool.GetInfo
//	virStoragePoolGetName               StoragePool.Name
//	virStoragePoolGetUUID               StoragePool.UUID
//	virStoragePoolGetUUIDString         StoragePool.UUIDString
//	virStoragePoolGetXMLDesc            StoragePool.GetXMLDesc
//	virStoragePoolListVolumes           StoragePool.ListVolumes
//	virStoragePoolLookupByName          Conn.LookupStoragePoolByName
//	virStoragePoolLookupByUUID          Conn.LookupStoragePoolByUUID
//	virStoragePoolLookupByUUIDString    Conn.LookupStoragePoolByUUIDString
//	virStoragePoolLookupByVolume        StorageVol.LookupPool
//	virStoragePoolNumOfVolumes          StoragePool.NumOfVolumes
//	virStoragePoolRefresh               StoragePool.Refresh
//	virStoragePoolSetAutostart          StoragePool.SetAutostart
//	virStoragePoolUndefine              StoragePool.Undefine
//	virStorageVolCreateXML              StoragePool.StorageVolCreateXML
//	virStorageVolDelete                 StorageVol.Delete
//	virStorageVolFree                   StorageVol.Free
//	virStorageVolGetConnect             StorageVol.Connect
//	virStorageVolGetInfo                StorageVol.GetInfo
//	virStorageVolGetKey                 StorageVol.Key
//	virStorageVolGetName                StorageVol.Name
//	virStorageVolGetPath                StorageVol.GetPath
//	virStorageVolGetXMLDesc             StorageVol.GetXMLDesc
//	virStorageVolLookupByKey            Conn.LookupStorageVolByKey
//	virStorageVolLookupByName           StoragePool.LookupStorageVolByName
//	virStorageVolLookupByPath           Conn.LookupStorageVolByPath
package api
