package bootbench

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Report is a benchmark run: what was booted, where, and each VMM's result.
type Report struct {
	Date    time.Time
	Host    string
	Kernel  string
	Spec    Spec
	Results []*Result
	Notes   []string
}

// WriteMarkdown writes the report as a Markdown table with notes.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Boot benchmark %s\n\n", r.Date.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "- host: %s\n- kernel: `%s`\n- guest: 1 vCPU, %d MiB, initramfs `%s`\n- command line: `%s`\n- hidden CPU features: %s\n\n",
		r.Host, r.Kernel, r.Spec.MemoryMiB, r.Spec.Initrd, r.Spec.Cmdline, strings.Join(HiddenFeatures, ", "))
	b.WriteString("Times are from the VMM process's start to the first console line of each milestone; — is not reached.\n\n")
	b.WriteString("| VMM |")
	for _, m := range Milestones {
		fmt.Fprintf(&b, " %s |", m.Name)
	}
	b.WriteString(" boot marker | run ended | VMM RSS | guest RAM resident | overhead RSS (end) | overhead PSS (end) | overhead private (end) | overhead RSS (peak) |\n|---|")
	for range Milestones {
		b.WriteString("---:|")
	}
	b.WriteString("---:|---|---:|---:|---:|---:|---:|---:|\n")
	for _, res := range r.Results {
		fmt.Fprintf(&b, "| %s |", res.VMM)
		for _, m := range Milestones {
			if d, ok := res.Reached[m.Name]; ok {
				fmt.Fprintf(&b, " %s |", seconds(d))
			} else {
				b.WriteString(" — |")
			}
		}
		marker := "—"
		if res.BootMarkerSeen {
			marker = seconds(res.BootMarker)
		}
		fmt.Fprintf(&b, " %s | %s after %s | %s | %s | %s | %s | %s | %s |\n", marker, escape(res.End), seconds(res.Elapsed),
			mib(res.RSS), mib(res.GuestRSS), mib(res.Overhead), mib(res.OverheadPSS), mib(res.OverheadPrivate), mib(res.PeakOverhead))
	}
	b.WriteString("\n")
	for _, res := range r.Results {
		fmt.Fprintf(&b, "- %s: last console line `%s`", res.VMM, strings.TrimSpace(res.LastLine))
		if res.Decompress != "" {
			fmt.Fprintf(&b, "; `%s`", res.Decompress)
		}
		if len(res.VMMErrors) > 0 {
			fmt.Fprintf(&b, "; VMM said `%s`", strings.Join(res.VMMErrors[:min(len(res.VMMErrors), 3)], " / "))
		}
		if res.GoMemory != "" {
			fmt.Fprintf(&b, "; Go memory %s", res.GoMemory)
		}
		b.WriteString("\n")
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "- %s\n", n)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func mib(n int64) string {
	if n == 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

func escape(s string) string { return strings.ReplaceAll(s, "|", "\\|") }
