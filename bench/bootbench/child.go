package bootbench

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"time"

	"github.com/govirt/govirt/kvm"
	"github.com/govirt/govirt/kvm/cpuid"
	"github.com/govirt/govirt/kvm/vmm"
)

// ChildFlag is the hidden flag of a benchmark binary that makes it run one
// govirt VMM (RunChild) instead of the benchmark.
const ChildFlag = "govirt-vmm-child"

// RunChild runs one kvm.Machine as the benchmark's govirt VMM process: the
// guest's serial console on stdout, and on stderr the machine's log, the
// host addresses of guest RAM (GOVIRT-RAM start-end), the boot-marker time
// (GOVIRT-BOOTTIME) and how the machine ended (GOVIRT-EXIT). It returns
// the process exit code.
func RunChild(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(ChildFlag, flag.ContinueOnError)
	fs.SetOutput(stderr)
	kernel := fs.String("kernel", "", "kernel image")
	initrd := fs.String("initrd", "", "initrd")
	cmdline := fs.String("cmdline", "", "kernel command line")
	memMiB := fs.Uint64("mem", 256, "guest memory in MiB")
	hide := fs.String("hide", "", "comma-separated CPU features to hide")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var hidden []string
	if *hide != "" {
		hidden = strings.Split(*hide, ",")
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	// The same runtime settings as govirt's VMM process, so that the
	// memory columns compare like with like.
	vmm.ConfigureRuntime(1)
	m, err := kvm.New(kvm.Config{
		MemoryBytes: *memMiB << 20, VCPUs: 1, Kernel: *kernel, Initrd: *initrd, Cmdline: *cmdline,
		SerialOut: stdout, OnReboot: kvm.RebootStop, Logger: log,
		CPU: cpuid.Config{Disable: hidden},
	})
	if err != nil {
		fmt.Fprintf(stderr, "GOVIRT-EXIT error: %v\n", err)
		return 1
	}
	defer m.Close()
	for _, r := range m.Memory().Regions() {
		s, err := m.Memory().Slice(r.GPA, r.Size)
		if err != nil || len(s) == 0 {
			fmt.Fprintf(stderr, "GOVIRT-EXIT error: guest region %#x: %v\n", r.GPA, err)
			return 1
		}
		a := sliceAddr(s)
		fmt.Fprintf(stderr, "GOVIRT-RAM %x-%x\n", a, a+uintptr(len(s)))
	}
	if err := m.Start(); err != nil {
		fmt.Fprintf(stderr, "GOVIRT-EXIT error: %v\n", err)
		return 1
	}
	vmm.SettleRuntime()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		// The Go side of the VMM's memory, once booting is under way:
		// the table's overhead column is RSS minus guest RAM, this says
		// how much of it is Go heap and stacks.
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Second):
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		fmt.Fprintf(stderr, "GOVIRT-GOMEM heap_inuse=%.1fMiB stacks=%.1fMiB go_sys=%.1fMiB\n",
			float64(ms.HeapInuse)/(1<<20), float64(ms.StackInuse)/(1<<20), float64(ms.Sys)/(1<<20))
	}()
	go func() {
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if d, ok := m.BootTime(); ok {
					fmt.Fprintf(stderr, "GOVIRT-BOOTTIME %d\n", d.Nanoseconds())
					return
				}
			}
		}
	}()
	e, err := m.Wait(context.Background())
	if err != nil {
		fmt.Fprintf(stderr, "GOVIRT-EXIT error: %v\n", err)
		return 1
	}
	fmt.Fprintf(stderr, "GOVIRT-EXIT %s\n", e)
	return 0
}
