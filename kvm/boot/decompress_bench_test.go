package boot

import (
	"bytes"
	"os"
	"os/exec"
	"testing"
)

// BenchmarkDecompressKernel decodes a real vmlinux ($GOVIRT_LINUX_KERNEL,
// a bzImage, is decompressed first) compressed by the system tools with
// the kernel build's options, per method: the host-side cost of booting
// a kernel built with that CONFIG_KERNEL_*. Setup compresses ~50 MB with
// each tool, which takes minutes for xz, lzma and zstd.
func BenchmarkDecompressKernel(b *testing.B) {
	path := os.Getenv("GOVIRT_LINUX_KERNEL")
	if path == "" {
		b.Skip("set GOVIRT_LINUX_KERNEL to a bzImage")
	}
	img, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	bz, err := ParseBzImage(img)
	if err != nil {
		b.Fatal(err)
	}
	p, err := bz.Payload()
	if err != nil {
		b.Fatal(err)
	}
	vmlinux := make([]byte, p.Size)
	if _, err := Decompress(p, vmlinux); err != nil {
		b.Fatal(err)
	}
	for _, tp := range append(toolPayloads, struct {
		file   string
		method Method
		cmd    []string
	}{"", MethodGzip, []string{"gzip", "-9", "-n"}}) {
		b.Run(tp.method.String(), func(b *testing.B) {
			if _, err := exec.LookPath(tp.cmd[0]); err != nil {
				b.Skip(err)
			}
			cmd := exec.Command("nice", append([]string{"-n", "10"}, tp.cmd...)...)
			cmd.Stdin = bytes.NewReader(vmlinux)
			out, err := cmd.Output()
			if err != nil {
				b.Fatal(err)
			}
			if tp.method != MethodGzip {
				out = withSize(out, len(vmlinux))
			}
			pl := Payload{Method: tp.method, Data: out, Size: uint32(len(vmlinux))}
			dst := make([]byte, len(vmlinux))
			b.SetBytes(int64(len(vmlinux)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := Decompress(pl, dst); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
