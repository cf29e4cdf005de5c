// Command boot is the boot benchmark: it boots Debian's stock cloud kernel
// with a busybox initramfs under govirt (a kvm.Machine in a child process)
// and, with -qemu, under QEMU, and writes a Markdown table of the time to
// each boot milestone and each VMM's memory beyond guest RAM to stdout and
// to bench/results/. See bench/README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/govirt/govirt/bench/bootbench"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-"+bootbench.ChildFlag {
		os.Exit(bootbench.RunChild(os.Args[2:], os.Stdout, os.Stderr))
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "boot benchmark:", err)
		os.Exit(1)
	}
}

func run() error {
	kernel := flag.String("kernel", "", "bzImage to boot (default: fetch Debian's linux-image-cloud-amd64 with apt-get download)")
	memMiB := flag.Uint64("mem", 256, "guest memory in MiB")
	timeout := flag.Duration("timeout", 10*time.Minute, "how long the govirt leg may run")
	withQEMU := flag.Bool("qemu", false, "also boot under QEMU (about 90 s to the banner where KVM emulates kernel mode)")
	qemuBin := flag.String("qemu-bin", "qemu-system-x86_64", "QEMU binary")
	qemuTimeout := flag.Duration("qemu-timeout", 5*time.Minute, "how long the QEMU leg may run")
	emulated := flag.Bool("emulated-host-cmdline", true, "on a host that emulates guest kernel mode (kvm_pvm), add bootbench.EmulatedHostCmdline (skip slow initcalls, dilate guest time)")
	extra := flag.String("cmdline-extra", "", "appended to the kernel command line of both legs")
	outDir := flag.String("out", "bench/results", "directory for the Markdown report (empty: stdout only)")
	console := flag.Bool("console", false, "print each leg's console after the table")
	withBusybox := flag.Bool("busybox", true, "put busybox in the initramfs (without it /init powers off itself; a smaller archive unpacks faster)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	work, err := os.MkdirTemp("", "govirt-bootbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if *kernel == "" {
		fmt.Fprintln(os.Stderr, "fetching linux-image-cloud-amd64 ...")
		if *kernel, err = bootbench.FetchDebianKernel(ctx, work); err != nil {
			return err
		}
	}
	initrd, err := bootbench.BuildInitramfs(ctx, work, *withBusybox)
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	spec := bootbench.Spec{Kernel: *kernel, Initrd: initrd, MemoryMiB: *memMiB, Timeout: *timeout,
		Cmdline: bootbench.BaseCmdline() + " rdinit=/init"}
	if *emulated && bootbench.EmulatedHost() {
		spec.Cmdline += " " + bootbench.EmulatedHostCmdline()
	}
	if *extra != "" {
		spec.Cmdline += " " + *extra
	}
	rep := &bootbench.Report{Date: time.Now(), Host: bootbench.HostDescription(), Kernel: filepath.Base(*kernel), Spec: spec}

	fmt.Fprintln(os.Stderr, "govirt leg ...")
	res, err := bootbench.Run(ctx, "govirt", bootbench.GovirtCommand(exe, spec), *timeout)
	if err != nil {
		return err
	}
	rep.Results = append(rep.Results, res)
	if *withQEMU {
		path, err := exec.LookPath(*qemuBin)
		if err != nil {
			return fmt.Errorf("qemu leg: %w (apt-get install qemu-system-x86)", err)
		}
		fmt.Fprintln(os.Stderr, "qemu leg ...")
		res, err := bootbench.Run(ctx, "qemu", bootbench.QEMUCommand(path, spec), *qemuTimeout)
		if err != nil {
			return err
		}
		rep.Results = append(rep.Results, res)
	} else {
		rep.Notes = append(rep.Notes, "QEMU leg skipped (run with -qemu)")
	}
	outputs := []io.Writer{os.Stdout}
	if *outDir != "" {
		if err := os.MkdirAll(*outDir, 0o755); err != nil {
			return err
		}
		name := filepath.Join(*outDir, "boot-"+rep.Date.UTC().Format("20060102-150405")+".md")
		f, err := os.Create(name)
		if err != nil {
			return err
		}
		defer f.Close()
		outputs = append(outputs, f)
		fmt.Fprintln(os.Stderr, "report:", name)
	}
	if err := rep.WriteMarkdown(io.MultiWriter(outputs...)); err != nil {
		return err
	}
	if *console {
		for _, r := range rep.Results {
			fmt.Printf("\n## %s console\n\n```\n%s```\n", r.VMM, r.Console)
		}
	}
	return nil
}
