package boot

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadImage(t *testing.T) {
	dir := t.TempDir()
	content := bytes.Repeat([]byte("kernel bytes "), 10000)
	file := filepath.Join(dir, "kernel")
	if err := os.WriteFile(file, content, 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(file, link); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		path    string
		limit   int64
		want    []byte
		wantErr string
		is      error
	}{
		{name: "file", path: file, limit: 1 << 20, want: content},
		{name: "exactly the limit", path: file, limit: int64(len(content)), want: content},
		{name: "symlink", path: link, limit: 1 << 20, want: content},
		{name: "empty", path: empty, limit: 1 << 20, want: nil},
		{name: "over the limit", path: file, limit: int64(len(content)) - 1, wantErr: "more than the"},
		{name: "missing", path: filepath.Join(dir, "gone"), limit: 1 << 20, is: fs.ErrNotExist},
		{name: "directory", path: dir, limit: 1 << 20, wantErr: "not a regular file"},
		{name: "character device", path: "/dev/zero", limit: 1 << 20, wantErr: "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := ReadImage(tt.path, tt.limit)
			if tt.wantErr != "" || tt.is != nil {
				if err == nil {
					img.Close()
					t.Fatal("ReadImage succeeded")
				}
				if tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				if tt.is != nil && !errors.Is(err, tt.is) {
					t.Fatalf("err %v, want %v", err, tt.is)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(img.Bytes(), tt.want) {
				t.Fatalf("read %d bytes, want %d", len(img.Bytes()), len(tt.want))
			}
			for i := 0; i < 2; i++ {
				if err := img.Close(); err != nil {
					t.Fatalf("close %d: %v", i+1, err)
				}
			}
			if img.Bytes() != nil {
				t.Fatal("bytes still there after close")
			}
		})
	}
}

// TestReadImageRereads: every read sees the file as it is now.
func TestReadImageRereads(t *testing.T) {
	file := filepath.Join(t.TempDir(), "kernel")
	for i, content := range []string{"first kernel", "second, longer kernel", "third"} {
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		img, err := ReadImage(file, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(img.Bytes()); got != content {
			t.Fatalf("read %d: %q, want %q", i, got, content)
		}
		if err := img.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
