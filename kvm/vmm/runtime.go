package vmm

import (
	"os"
	"runtime"
	"runtime/debug"
	"strconv"

	"github.com/govirt/govirt/xmlconf"
)

// A VMM process lives as long as its guest and its own memory is multiplied
// by the number of guests on a host, so its Go runtime is set up for a
// small steady footprint (see BenchmarkVMMRSSOverhead):
//
//   - GOMAXPROCS is one P per vCPU (each vCPU thread needs a P to handle
//     its exits in Go) plus one for device goroutines and the control
//     socket, never more than the runtime's default. The default, one P
//     per host CPU, gives every P its own allocation caches and GC worker
//     and grows the VMM with the host, not the guest: a 1-vCPU VMM with
//     64 Ps held 2 MiB more than with 2. Spawn passes the value in the
//     environment, so the runtime never sets up the extra Ps;
//     ConfigureRuntime lowers it for a VMM started some other way.
//   - The collector keeps its default pace while the VMM starts up (fewer
//     collections then left 0.4 MiB less runtime memory behind) and runs
//     at GOGC=25 once the guest runs (SettleRuntime): the steady heap is
//     small and exits do not allocate, so that costs little CPU.

// steadyGCPercent is the GOGC of a running VMM.
const steadyGCPercent = 25

// maxProcs is the GOMAXPROCS for a VMM of vcpus vCPUs where the runtime's
// default is dflt.
func maxProcs(vcpus, dflt int) int {
	return max(1, min(vcpus+1, dflt))
}

// ConfigureRuntime sets the Go runtime up for a VMM process that runs a
// machine of vcpus vCPUs. Call it before building the machine.
func ConfigureRuntime(vcpus int) {
	cur := runtime.GOMAXPROCS(0)
	if n := maxProcs(vcpus, cur); n < cur {
		runtime.GOMAXPROCS(n)
	}
}

// SettleRuntime is called once the guest runs: start-up garbage (the
// parsed XML, the decoders' buffers) goes back to the host now rather than
// at the next collection, and the heap is collected eagerly from here on.
func SettleRuntime() {
	debug.FreeOSMemory()
	debug.SetGCPercent(steadyGCPercent)
}

// vmmEnv is the environment Spawn gives a VMM: its own, with GOMAXPROCS
// sized to the domain's vCPUs. A definition that does not parse leaves the
// environment alone; the VMM reports the error.
func vmmEnv(cfg *Config) []string {
	env := os.Environ()
	def, err := xmlconf.ParseDomain([]byte(cfg.DomainXML))
	if err != nil || def.VCPU.Count < 1 {
		return env
	}
	return append(env, "GOMAXPROCS="+strconv.Itoa(maxProcs(def.VCPU.Count, runtime.GOMAXPROCS(0))))
}
