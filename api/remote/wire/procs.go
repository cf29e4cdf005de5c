// The REMOTE procedures govirt knows. The numbers are those of libvirt's
// remote_protocol.x (REMOTE_PROC_*), which are append-only and never change.

package wire

// Procedure is a procedure number of the REMOTE program.
type Procedure = int32

// Procedures of the REMOTE program that govirt names. Procedures not
// listed are answered with NO_SUPPORT.
const (
	ProcConnectOpen                       Procedure = 1   // REMOTE_PROC_CONNECT_OPEN
	ProcConnectClose                      Procedure = 2   // REMOTE_PROC_CONNECT_CLOSE
	ProcConnectGetType                    Procedure = 3   // REMOTE_PROC_CONNECT_GET_TYPE
	ProcConnectGetVersion                 Procedure = 4   // REMOTE_PROC_CONNECT_GET_VERSION
	ProcConnectGetMaxVcpus                Procedure = 5   // REMOTE_PROC_CONNECT_GET_MAX_VCPUS
	ProcNodeGetInfo                       Procedure = 6   // REMOTE_PROC_NODE_GET_INFO
	ProcConnectGetCapabilities            Procedure = 7   // REMOTE_PROC_CONNECT_GET_CAPABILITIES
	ProcDomainAttachDevice                Procedure = 8   // REMOTE_PROC_DOMAIN_ATTACH_DEVICE
	ProcDomainCreate                      Procedure = 9   // REMOTE_PROC_DOMAIN_CREATE
	ProcDomainCreateXML                   Procedure = 10  // REMOTE_PROC_DOMAIN_CREATE_XML
	ProcDomainDefineXML                   Procedure = 11  // REMOTE_PROC_DOMAIN_DEFINE_XML
	ProcDomainDestroy                     Procedure = 12  // REMOTE_PROC_DOMAIN_DESTROY
	ProcDomainDetachDevice                Procedure = 13  // REMOTE_PROC_DOMAIN_DETACH_DEVICE
	ProcDomainGetXMLDesc                  Procedure = 14  // REMOTE_PROC_DOMAIN_GET_XML_DESC
	ProcDomainGetAutostart                Procedure = 15  // REMOTE_PROC_DOMAIN_GET_AUTOSTART
	ProcDomainGetInfo                     Procedure = 16  // REMOTE_PROC_DOMAIN_GET_INFO
	ProcDomainGetMaxMemory                Procedure = 17  // REMOTE_PROC_DOMAIN_GET_MAX_MEMORY
	ProcDomainGetMaxVcpus                 Procedure = 18  // REMOTE_PROC_DOMAIN_GET_MAX_VCPUS
	ProcDomainGetOSType                   Procedure = 19  // REMOTE_PROC_DOMAIN_GET_OS_TYPE
	ProcDomainGetVcpus                    Procedure = 20  // REMOTE_PROC_DOMAIN_GET_VCPUS
	ProcConnectListDefinedDomains         Procedure = 21  // REMOTE_PROC_CONNECT_LIST_DEFINED_DOMAINS
	ProcDomainLookupByID                  Procedure = 22  // REMOTE_PROC_DOMAIN_LOOKUP_BY_ID
	ProcDomainLookupByName                Procedure = 23  // REMOTE_PROC_DOMAIN_LOOKUP_BY_NAME
	ProcDomainLookupByUUID                Procedure = 24  // REMOTE_PROC_DOMAIN_LOOKUP_BY_UUID
	ProcConnectNumOfDefinedDomains        Procedure = 25  // REMOTE_PROC_CONNECT_NUM_OF_DEFINED_DOMAINS
	ProcDomainPinVcpu                     Procedure = 26  // REMOTE_PROC_DOMAIN_PIN_VCPU
	ProcDomainReboot                      Procedure = 27  // REMOTE_PROC_DOMAIN_REBOOT
	ProcDomainResume                      Procedure = 28  // REMOTE_PROC_DOMAIN_RESUME
	ProcDomainSetAutostart                Procedure = 29  // REMOTE_PROC_DOMAIN_SET_AUTOSTART
	ProcDomainSetMaxMemory                Procedure = 30  // REMOTE_PROC_DOMAIN_SET_MAX_MEMORY
	ProcDomainSetMemory                   Procedure = 31  // REMOTE_PROC_DOMAIN_SET_MEMORY
	ProcDomainSetVcpus                    Procedure = 32  // REMOTE_PROC_DOMAIN_SET_VCPUS
	ProcDomainShutdown                    Procedure = 33  // REMOTE_PROC_DOMAIN_SHUTDOWN
	ProcDomainSuspend                     Procedure = 34  // REMOTE_PROC_DOMAIN_SUSPEND
	ProcDomainUndefine                    Procedure = 35  // REMOTE_PROC_DOMAIN_UNDEFINE
	ProcConnectListDefinedNetworks        Procedure = 36  // REMOTE_PROC_CONNECT_LIST_DEFINED_NETWORKS
	ProcConnectListDomains                Procedure = 37  // REMOTE_PROC_CONNECT_LIST_DOMAINS
	ProcConnectListNetworks               Procedure = 38  // REMOTE_PROC_CONNECT_LIST_NETWORKS
	ProcNetworkCreate                     Procedure = 39  // REMOTE_PROC_NETWORK_CREATE
	ProcNetworkCreateXML                  Procedure = 40  // REMOTE_PROC_NETWORK_CREATE_XML
	ProcNetworkDefineXML                  Procedure = 41  // REMOTE_PROC_NETWORK_DEFINE_XML
	ProcNetworkDestroy                    Procedure = 42  // REMOTE_PROC_NETWORK_DESTROY
	ProcNetworkGetXMLDesc                 Procedure = 43  // REMOTE_PROC_NETWORK_GET_XML_DESC
	ProcNetworkGetAutostart               Procedure = 44  // REMOTE_PROC_NETWORK_GET_AUTOSTART
	ProcNetworkGetBridgeName              Procedure = 45  // REMOTE_PROC_NETWORK_GET_BRIDGE_NAME
	ProcNetworkLookupByName               Procedure = 46  // REMOTE_PROC_NETWORK_LOOKUP_BY_NAME
	ProcNetworkLookupByUUID               Procedure = 47  // REMOTE_PROC_NETWORK_LOOKUP_BY_UUID
	ProcNetworkSetAutostart               Procedure = 48  // REMOTE_PROC_NETWORK_SET_AUTOSTART
	ProcNetworkUndefine                   Procedure = 49  // REMOTE_PROC_NETWORK_UNDEFINE
	ProcConnectNumOfDefinedNetworks       Procedure = 50  // REMOTE_PROC_CONNECT_NUM_OF_DEFINED_NETWORKS
	ProcConnectNumOfDomains               Procedure = 51  // REMOTE_PROC_CONNECT_NUM_OF_DOMAINS
	ProcConnectNumOfNetworks              Procedure = 52  // REMOTE_PROC_CONNECT_NUM_OF_NETWORKS
	ProcDomainCoreDump                    Procedure = 53  // REMOTE_PROC_DOMAIN_CORE_DUMP
	ProcDomainRestore                     Procedure = 54  // REMOTE_PROC_DOMAIN_RESTORE
	ProcDomainSave                        Procedure = 55  // REMOTE_PROC_DOMAIN_SAVE
	ProcDomainGetSchedulerType            Procedure = 56  // REMOTE_PROC_DOMAIN_GET_SCHEDULER_TYPE
	ProcDomainGetSchedulerParameters      Procedure = 57  // REMOTE_PROC_DOMAIN_GET_SCHEDULER_PARAMETERS
	ProcDomainSetSchedulerParameters      Procedure = 58  // REMOTE_PROC_DOMAIN_SET_SCHEDULER_PARAMETERS
	ProcConnectGetHostname                Procedure = 59  // REMOTE_PROC_CONNECT_GET_HOSTNAME
	ProcConnectSupportsFeature            Procedure = 60  // REMOTE_PROC_CONNECT_SUPPORTS_FEATURE
	ProcDomainMigratePrepare              Procedure = 61  // REMOTE_PROC_DOMAIN_MIGRATE_PREPARE
	ProcDomainMigratePerform              Procedure = 62  // REMOTE_PROC_DOMAIN_MIGRATE_PERFORM
	ProcDomainMigrateFinish               Procedure = 63  // REMOTE_PROC_DOMAIN_MIGRATE_FINISH
	ProcDomainBlockStats                  Procedure = 64  // REMOTE_PROC_DOMAIN_BLOCK_STATS
	ProcDomainInterfaceStats              Procedure = 65  // REMOTE_PROC_DOMAIN_INTERFACE_STATS
	ProcAuthList                          Procedure = 66  // REMOTE_PROC_AUTH_LIST
	ProcAuthSASLInit                      Procedure = 67  // REMOTE_PROC_AUTH_SASL_INIT
	ProcAuthSASLStart                     Procedure = 68  // REMOTE_PROC_AUTH_SASL_START
	ProcAuthSASLStep                      Procedure = 69  // REMOTE_PROC_AUTH_SASL_STEP
	ProcAuthPolkit                        Procedure = 70  // REMOTE_PROC_AUTH_POLKIT
	ProcConnectNumOfStoragePools          Procedure = 71  // REMOTE_PROC_CONNECT_NUM_OF_STORAGE_POOLS
	ProcConnectListStoragePools           Procedure = 72  // REMOTE_PROC_CONNECT_LIST_STORAGE_POOLS
	ProcConnectNumOfDefinedStoragePools   Procedure = 73  // REMOTE_PROC_CONNECT_NUM_OF_DEFINED_STORAGE_POOLS
	ProcConnectListDefinedStoragePools    Procedure = 74  // REMOTE_PROC_CONNECT_LIST_DEFINED_STORAGE_POOLS
	ProcConnectFindStoragePoolSources     Procedure = 75  // REMOTE_PROC_CONNECT_FIND_STORAGE_POOL_SOURCES
	ProcStoragePoolCreateXML              Procedure = 76  // REMOTE_PROC_STORAGE_POOL_CREATE_XML
	ProcStoragePoolDefineXML              Procedure = 77  // REMOTE_PROC_STORAGE_POOL_DEFINE_XML
	ProcStoragePoolCreate                 Procedure = 78  // REMOTE_PROC_STORAGE_POOL_CREATE
	ProcStoragePoolBuild                  Procedure = 79  // REMOTE_PROC_STORAGE_POOL_BUILD
	ProcStoragePoolDestroy                Procedure = 80  // REMOTE_PROC_STORAGE_POOL_DESTROY
	ProcStoragePoolDelete                 Procedure = 81  // REMOTE_PROC_STORAGE_POOL_DELETE
	ProcStoragePoolUndefine               Procedure = 82  // REMOTE_PROC_STORAGE_POOL_UNDEFINE
	ProcStoragePoolRefresh                Procedure = 83  // REMOTE_PROC_STORAGE_POOL_REFRESH
	ProcStoragePoolLookupByName           Procedure = 84  // REMOTE_PROC_STORAGE_POOL_LOOKUP_BY_NAME
	ProcStoragePoolLookupByUUID           Procedure = 85  // REMOTE_PROC_STORAGE_POOL_LOOKUP_BY_UUID
	ProcStoragePoolLookupByVolume         Procedure = 86  // REMOTE_PROC_STORAGE_POOL_LOOKUP_BY_VOLUME
	ProcStoragePoolGetInfo                Procedure = 87  // REMOTE_PROC_STORAGE_POOL_GET_INFO
	ProcStoragePoolGetXMLDesc             Procedure = 88  // REMOTE_PROC_STORAGE_POOL_GET_XML_DESC
	ProcStoragePoolGetAutostart           Procedure = 89  // REMOTE_PROC_STORAGE_POOL_GET_AUTOSTART
	ProcStoragePoolSetAutostart           Procedure = 90  // REMOTE_PROC_STORAGE_POOL_SET_AUTOSTART
	ProcStoragePoolNumOfVolumes           Procedure = 91  // REMOTE_PROC_STORAGE_POOL_NUM_OF_VOLUMES
	ProcStoragePoolListVolumes            Procedure = 92  // REMOTE_PROC_STORAGE_POOL_LIST_VOLUMES
	ProcStorageVolCreateXML               Procedure = 93  // REMOTE_PROC_STORAGE_VOL_CREATE_XML
	ProcStorageVolDelete                  Procedure = 94  // REMOTE_PROC_STORAGE_VOL_DELETE
	ProcStorageVolLookupByName            Procedure = 95  // REMOTE_PROC_STORAGE_VOL_LOOKUP_BY_NAME
	ProcStorageVolLookupByKey             Procedure = 96  // REMOTE_PROC_STORAGE_VOL_LOOKUP_BY_KEY
	ProcStorageVolLookupByPath            Procedure = 97  // REMOTE_PROC_STORAGE_VOL_LOOKUP_BY_PATH
	ProcStorageVolGetInfo                 Procedure = 98  // REMOTE_PROC_STORAGE_VOL_GET_INFO
	ProcStorageVolGetXMLDesc              Procedure = 99  // REMOTE_PROC_STORAGE_VOL_GET_XML_DESC
	ProcStorageVolGetPath                 Procedure = 100 // REMOTE_PROC_STORAGE_VOL_GET_PATH
	ProcNodeGetCellsFreeMemory            Procedure = 101 // REMOTE_PROC_NODE_GET_CELLS_FREE_MEMORY
	ProcNodeGetFreeMemory                 Procedure = 102 // REMOTE_PROC_NODE_GET_FREE_MEMORY
	ProcDomainBlockPeek                   Procedure = 103 // REMOTE_PROC_DOMAIN_BLOCK_PEEK
	ProcDomainMemoryPeek                  Procedure = 104 // REMOTE_PROC_DOMAIN_MEMORY_PEEK
	ProcConnectDomainEventRegister        Procedure = 105 // REMOTE_PROC_CONNECT_DOMAIN_EVENT_REGISTER
	ProcConnectDomainEventDeregister      Procedure = 106 // REMOTE_PROC_CONNECT_DOMAIN_EVENT_DEREGISTER
	ProcDomainEventLifecycle              Procedure = 107 // REMOTE_PROC_DOMAIN_EVENT_LIFECYCLE
	ProcDomainMigratePrepare2             Procedure = 108 // REMOTE_PROC_DOMAIN_MIGRATE_PREPARE2
	ProcDomainMigrateFinish2              Procedure = 109 // REMOTE_PROC_DOMAIN_MIGRATE_FINISH2
	ProcConnectGetURI                     Procedure = 110 // REMOTE_PROC_CONNECT_GET_URI
	ProcNodeGetSecurityModel              Procedure = 122 // REMOTE_PROC_NODE_GET_SECURITY_MODEL
	ProcConnectIsSecure                   Procedure = 149 // REMOTE_PROC_CONNECT_IS_SECURE
	ProcDomainIsActive                    Procedure = 150 // REMOTE_PROC_DOMAIN_IS_ACTIVE
	ProcDomainIsPersistent                Procedure = 151 // REMOTE_PROC_DOMAIN_IS_PERSISTENT
	ProcNetworkIsActive                   Procedure = 152 // REMOTE_PROC_NETWORK_IS_ACTIVE
	ProcNetworkIsPersistent               Procedure = 153 // REMOTE_PROC_NETWORK_IS_PERSISTENT
	ProcStoragePoolIsActive               Procedure = 154 // REMOTE_PROC_STORAGE_POOL_IS_ACTIVE
	ProcStoragePoolIsPersistent           Procedure = 155 // REMOTE_PROC_STORAGE_POOL_IS_PERSISTENT
	ProcConnectGetLibVersion              Procedure = 157 // REMOTE_PROC_CONNECT_GET_LIB_VERSION
	ProcDomainHasManagedSaveImage         Procedure = 183 // REMOTE_PROC_DOMAIN_HAS_MANAGED_SAVE_IMAGE
	ProcDomainSnapshotNum                 Procedure = 187 // REMOTE_PROC_DOMAIN_SNAPSHOT_NUM
	ProcDomainCreateWithFlags             Procedure = 196 // REMOTE_PROC_DOMAIN_CREATE_WITH_FLAGS
	ProcDomainGetVcpusFlags               Procedure = 200 // REMOTE_PROC_DOMAIN_GET_VCPUS_FLAGS
	ProcDomainGetState                    Procedure = 212 // REMOTE_PROC_DOMAIN_GET_STATE
	ProcDomainSetSchedulerParametersFlags Procedure = 219 // REMOTE_PROC_DOMAIN_SET_SCHEDULER_PARAMETERS_FLAGS
	ProcDomainGetSchedulerParametersFlags Procedure = 223 // REMOTE_PROC_DOMAIN_GET_SCHEDULER_PARAMETERS_FLAGS
	ProcDomainPinVcpuFlags                Procedure = 225 // REMOTE_PROC_DOMAIN_PIN_VCPU_FLAGS
	ProcDomainGetVcpuPinInfo              Procedure = 230 // REMOTE_PROC_DOMAIN_GET_VCPU_PIN_INFO
	ProcDomainUndefineFlags               Procedure = 231 // REMOTE_PROC_DOMAIN_UNDEFINE_FLAGS
	ProcDomainBlockStatsFlags             Procedure = 243 // REMOTE_PROC_DOMAIN_BLOCK_STATS_FLAGS
	ProcConnectListAllDomains             Procedure = 273 // REMOTE_PROC_CONNECT_LIST_ALL_DOMAINS
	ProcConnectListAllStoragePools        Procedure = 281 // REMOTE_PROC_CONNECT_LIST_ALL_STORAGE_POOLS
	ProcStoragePoolListAllVolumes         Procedure = 282 // REMOTE_PROC_STORAGE_POOL_LIST_ALL_VOLUMES
	ProcConnectListAllNetworks            Procedure = 283 // REMOTE_PROC_CONNECT_LIST_ALL_NETWORKS
	ProcNodeGetCPUMap                     Procedure = 293 // REMOTE_PROC_NODE_GET_CPU_MAP
	ProcDomainDefineXMLFlags              Procedure = 350 // REMOTE_PROC_DOMAIN_DEFINE_XML_FLAGS
	ProcDomainGetMessages                 Procedure = 426 // REMOTE_PROC_DOMAIN_GET_MESSAGES
	ProcNetworkDefineXMLFlags             Procedure = 432 // REMOTE_PROC_NETWORK_DEFINE_XML_FLAGS
)

// ProcName returns libvirt's name of a REMOTE procedure without its
// REMOTE_PROC_ prefix, or "" when govirt does not know it.
func ProcName(p Procedure) string {
	switch p {
	case ProcConnectOpen:
		return "CONNECT_OPEN"
	case ProcConnectClose:
		return "CONNECT_CLOSE"
	case ProcConnectGetType:
		return "CONNECT_GET_TYPE"
	case ProcConnectGetVersion:
		return "CONNECT_GET_VERSION"
	case ProcConnectGetMaxVcpus:
		return "CONNECT_GET_MAX_VCPUS"
	case ProcNodeGetInfo:
		return "NODE_GET_INFO"
	case ProcConnectGetCapabilities:
		return "CONNECT_GET_CAPABILITIES"
	case ProcDomainAttachDevice:
		return "DOMAIN_ATTACH_DEVICE"
	case ProcDomainCreate:
		return "DOMAIN_CREATE"
	case ProcDomainCreateXML:
		return "DOMAIN_CREATE_XML"
	case ProcDomainDefineXML:
		return "DOMAIN_DEFINE_XML"
	case ProcDomainDestroy:
		return "DOMAIN_DESTROY"
	case ProcDomainDetachDevice:
		return "DOMAIN_DETACH_DEVICE"
	case ProcDomainGetXMLDesc:
		return "DOMAIN_GET_XML_DESC"
	case ProcDomainGetAutostart:
		return "DOMAIN_GET_AUTOSTART"
	case ProcDomainGetInfo:
		return "DOMAIN_GET_INFO"
	case ProcDomainGetMaxMemory:
		return "DOMAIN_GET_MAX_MEMORY"
	case ProcDomainGetMaxVcpus:
		return "DOMAIN_GET_MAX_VCPUS"
	case ProcDomainGetOSType:
		return "DOMAIN_GET_OS_TYPE"
	case ProcDomainGetVcpus:
		return "DOMAIN_GET_VCPUS"
	case ProcConnectListDefinedDomains:
		return "CONNECT_LIST_DEFINED_DOMAINS"
	case ProcDomainLookupByID:
		return "DOMAIN_LOOKUP_BY_ID"
	case ProcDomainLookupByName:
		return "DOMAIN_LOOKUP_BY_NAME"
	case ProcDomainLookupByUUID:
		return "DOMAIN_LOOKUP_BY_UUID"
	case ProcConnectNumOfDefinedDomains:
		return "CONNECT_NUM_OF_DEFINED_DOMAINS"
	case ProcDomainPinVcpu:
		return "DOMAIN_PIN_VCPU"
	case ProcDomainReboot:
		return "DOMAIN_REBOOT"
	case ProcDomainResume:
		return "DOMAIN_RESUME"
	case ProcDomainSetAutostart:
		return "DOMAIN_SET_AUTOSTART"
	case ProcDomainSetMaxMemory:
		return "DOMAIN_SET_MAX_MEMORY"
	case ProcDomainSetMemory:
		return "DOMAIN_SET_MEMORY"
	case ProcDomainSetVcpus:
		return "DOMAIN_SET_VCPUS"
	case ProcDomainShutdown:
		return "DOMAIN_SHUTDOWN"
	case ProcDomainSuspend:
		return "DOMAIN_SUSPEND"
	case ProcDomainUndefine:
		return "DOMAIN_UNDEFINE"
	case ProcConnectListDefinedNetworks:
		return "CONNECT_LIST_DEFINED_NETWORKS"
	case ProcConnectListDomains:
		return "CONNECT_LIST_DOMAINS"
	case ProcConnectListNetworks:
		return "CONNECT_LIST_NETWORKS"
	case ProcNetworkCreate:
		return "NETWORK_CREATE"
	case ProcNetworkCreateXML:
		return "NETWORK_CREATE_XML"
	case ProcNetworkDefineXML:
		return "NETWORK_DEFINE_XML"
	case ProcNetworkDestroy:
		return "NETWORK_DESTROY"
	case ProcNetworkGetXMLDesc:
		return "NETWORK_GET_XML_DESC"
	case ProcNetworkGetAutostart:
		return "NETWORK_GET_AUTOSTART"
	case ProcNetworkGetBridgeName:
		return "NETWORK_GET_BRIDGE_NAME"
	case ProcNetworkLookupByName:
		return "NETWORK_LOOKUP_BY_NAME"
	case ProcNetworkLookupByUUID:
		return "NETWORK_LOOKUP_BY_UUID"
	case ProcNetworkSetAutostart:
		return "NETWORK_SET_AUTOSTART"
	case ProcNetworkUndefine:
		return "NETWORK_UNDEFINE"
	case ProcConnectNumOfDefinedNetworks:
		return "CONNECT_NUM_OF_DEFINED_NETWORKS"
	case ProcConnectNumOfDomains:
		return "CONNECT_NUM_OF_DOMAINS"
	case ProcConnectNumOfNetworks:
		return "CONNECT_NUM_OF_NETWORKS"
	case ProcDomainCoreDump:
		return "DOMAIN_CORE_DUMP"
	case ProcDomainRestore:
		return "DOMAIN_RESTORE"
	case ProcDomainSave:
		return "DOMAIN_SAVE"
	case ProcDomainGetSchedulerType:
		return "DOMAIN_GET_SCHEDULER_TYPE"
	case ProcDomainGetSchedulerParameters:
		return "DOMAIN_GET_SCHEDULER_PARAMETERS"
	case ProcDomainSetSchedulerParameters:
		return "DOMAIN_SET_SCHEDULER_PARAMETERS"
	case ProcConnectGetHostname:
		return "CONNECT_GET_HOSTNAME"
	case ProcConnectSupportsFeature:
		return "CONNECT_SUPPORTS_FEATURE"
	case ProcDomainMigratePrepare:
		return "DOMAIN_MIGRATE_PREPARE"
	case ProcDomainMigratePerform:
		return "DOMAIN_MIGRATE_PERFORM"
	case ProcDomainMigrateFinish:
		return "DOMAIN_MIGRATE_FINISH"
	case ProcDomainBlockStats:
		return "DOMAIN_BLOCK_STATS"
	case ProcDomainInterfaceStats:
		return "DOMAIN_INTERFACE_STATS"
	case ProcAuthList:
		return "AUTH_LIST"
	case ProcAuthSASLInit:
		return "AUTH_SASL_INIT"
	case ProcAuthSASLStart:
		return "AUTH_SASL_START"
	case ProcAuthSASLStep:
		return "AUTH_SASL_STEP"
	case ProcAuthPolkit:
		return "AUTH_POLKIT"
	case ProcConnectNumOfStoragePools:
		return "CONNECT_NUM_OF_STORAGE_POOLS"
	case ProcConnectListStoragePools:
		return "CONNECT_LIST_STORAGE_POOLS"
	case ProcConnectNumOfDefinedStoragePools:
		return "CONNECT_NUM_OF_DEFINED_STORAGE_POOLS"
	case ProcConnectListDefinedStoragePools:
		return "CONNECT_LIST_DEFINED_STORAGE_POOLS"
	case ProcConnectFindStoragePoolSources:
		return "CONNECT_FIND_STORAGE_POOL_SOURCES"
	case ProcStoragePoolCreateXML:
		return "STORAGE_POOL_CREATE_XML"
	case ProcStoragePoolDefineXML:
		return "STORAGE_POOL_DEFINE_XML"
	case ProcStoragePoolCreate:
		return "STORAGE_POOL_CREATE"
	case ProcStoragePoolBuild:
		return "STORAGE_POOL_BUILD"
	case ProcStoragePoolDestroy:
		return "STORAGE_POOL_DESTROY"
	case ProcStoragePoolDelete:
		return "STORAGE_POOL_DELETE"
	case ProcStoragePoolUndefine:
		return "STORAGE_POOL_UNDEFINE"
	case ProcStoragePoolRefresh:
		return "STORAGE_POOL_REFRESH"
	case ProcStoragePoolLookupByName:
		return "STORAGE_POOL_LOOKUP_BY_NAME"
	case ProcStoragePoolLookupByUUID:
		return "STORAGE_POOL_LOOKUP_BY_UUID"
	case ProcStoragePoolLookupByVolume:
		return "STORAGE_POOL_LOOKUP_BY_VOLUME"
	case ProcStoragePoolGetInfo:
		return "STORAGE_POOL_GET_INFO"
	case ProcStoragePoolGetXMLDesc:
		return "STORAGE_POOL_GET_XML_DESC"
	case ProcStoragePoolGetAutostart:
		return "STORAGE_POOL_GET_AUTOSTART"
	case ProcStoragePoolSetAutostart:
		return "STORAGE_POOL_SET_AUTOSTART"
	case ProcStoragePoolNumOfVolumes:
		return "STORAGE_POOL_NUM_OF_VOLUMES"
	case ProcStoragePoolListVolumes:
		return "STORAGE_POOL_LIST_VOLUMES"
	case ProcStorageVolCreateXML:
		return "STORAGE_VOL_CREATE_XML"
	case ProcStorageVolDelete:
		return "STORAGE_VOL_DELETE"
	case ProcStorageVolLookupByName:
		return "STORAGE_VOL_LOOKUP_BY_NAME"
	case ProcStorageVolLookupByKey:
		return "STORAGE_VOL_LOOKUP_BY_KEY"
	case ProcStorageVolLookupByPath:
		return "STORAGE_VOL_LOOKUP_BY_PATH"
	case ProcStorageVolGetInfo:
		return "STORAGE_VOL_GET_INFO"
	case ProcStorageVolGetXMLDesc:
		return "STORAGE_VOL_GET_XML_DESC"
	case ProcStorageVolGetPath:
		return "STORAGE_VOL_GET_PATH"
	case ProcNodeGetCellsFreeMemory:
		return "NODE_GET_CELLS_FREE_MEMORY"
	case ProcNodeGetFreeMemory:
		return "NODE_GET_FREE_MEMORY"
	case ProcDomainBlockPeek:
		return "DOMAIN_BLOCK_PEEK"
	case ProcDomainMemoryPeek:
		return "DOMAIN_MEMORY_PEEK"
	case ProcConnectDomainEventRegister:
		return "CONNECT_DOMAIN_EVENT_REGISTER"
	case ProcConnectDomainEventDeregister:
		return "CONNECT_DOMAIN_EVENT_DEREGISTER"
	case ProcDomainEventLifecycle:
		return "DOMAIN_EVENT_LIFECYCLE"
	case ProcDomainMigratePrepare2:
		return "DOMAIN_MIGRATE_PREPARE2"
	case ProcDomainMigrateFinish2:
		return "DOMAIN_MIGRATE_FINISH2"
	case ProcConnectGetURI:
		return "CONNECT_GET_URI"
	case ProcNodeGetSecurityModel:
		return "NODE_GET_SECURITY_MODEL"
	case ProcConnectIsSecure:
		return "CONNECT_IS_SECURE"
	case ProcDomainIsActive:
		return "DOMAIN_IS_ACTIVE"
	case ProcDomainIsPersistent:
		return "DOMAIN_IS_PERSISTENT"
	case ProcNetworkIsActive:
		return "NETWORK_IS_ACTIVE"
	case ProcNetworkIsPersistent:
		return "NETWORK_IS_PERSISTENT"
	case ProcStoragePoolIsActive:
		return "STORAGE_POOL_IS_ACTIVE"
	case ProcStoragePoolIsPersistent:
		return "STORAGE_POOL_IS_PERSISTENT"
	case ProcConnectGetLibVersion:
		return "CONNECT_GET_LIB_VERSION"
	case ProcDomainSnapshotNum:
		return "DOMAIN_SNAPSHOT_NUM"
	case ProcDomainHasManagedSaveImage:
		return "DOMAIN_HAS_MANAGED_SAVE_IMAGE"
	case ProcDomainCreateWithFlags:
		return "DOMAIN_CREATE_WITH_FLAGS"
	case ProcDomainGetVcpusFlags:
		return "DOMAIN_GET_VCPUS_FLAGS"
	case ProcDomainGetState:
		return "DOMAIN_GET_STATE"
	case ProcDomainSetSchedulerParametersFlags:
		return "DOMAIN_SET_SCHEDULER_PARAMETERS_FLAGS"
	case ProcDomainGetSchedulerParametersFlags:
		return "DOMAIN_GET_SCHEDULER_PARAMETERS_FLAGS"
	case ProcDomainPinVcpuFlags:
		return "DOMAIN_PIN_VCPU_FLAGS"
	case ProcDomainGetVcpuPinInfo:
		return "DOMAIN_GET_VCPU_PIN_INFO"
	case ProcDomainUndefineFlags:
		return "DOMAIN_UNDEFINE_FLAGS"
	case ProcDomainBlockStatsFlags:
		return "DOMAIN_BLOCK_STATS_FLAGS"
	case ProcConnectListAllDomains:
		return "CONNECT_LIST_ALL_DOMAINS"
	case ProcConnectListAllStoragePools:
		return "CONNECT_LIST_ALL_STORAGE_POOLS"
	case ProcStoragePoolListAllVolumes:
		return "STORAGE_POOL_LIST_ALL_VOLUMES"
	case ProcConnectListAllNetworks:
		return "CONNECT_LIST_ALL_NETWORKS"
	case ProcNodeGetCPUMap:
		return "NODE_GET_CPU_MAP"
	case ProcDomainDefineXMLFlags:
		return "DOMAIN_DEFINE_XML_FLAGS"
	case ProcDomainGetMessages:
		return "DOMAIN_GET_MESSAGES"
	case ProcNetworkDefineXMLFlags:
		return "NETWORK_DEFINE_XML_FLAGS"
	}
	return ""
}
