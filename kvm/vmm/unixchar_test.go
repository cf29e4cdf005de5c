package vmm

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// readUntil reads conn until its output holds want count times.
func readUntil(t *testing.T, conn net.Conn, want string, count int) string {
	t.Helper()
	if err := conn.SetReadDeadline(time.Now().Add(60 * time.Second)); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	b := make([]byte, 4096)
	for strings.Count(out.String(), want) < count {
		n, err := conn.Read(b)
		out.Write(b[:n])
		if err != nil {
			t.Fatalf("read console: %v; so far:\n%s", err, out.String())
		}
	}
	return out.String()
}

// TestSerialUnix: the console on a unix socket the VMM connects to, and on
// one it listens on.
func TestSerialUnix(t *testing.T) {
	t.Run("connect", func(t *testing.T) {
		dir, err := os.MkdirTemp("", "gvcon")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		sock := filepath.Join(dir, "c")
		ln, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		tv := spawnGuest(t, guestOpts{cmdline: "govirt.test=halt",
			serial: fmt.Sprintf("<serial type='unix'><source mode='connect' path='%s'/></serial>", sock)})
		conn, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		readUntil(t, conn, "GVTEST halt", 1)
		if s := tv.live(t).Devices.Serials[0]; s.Type != "unix" || s.Source.Mode != "connect" {
			t.Fatalf("live serial %+v", s)
		}
	})
	t.Run("bind", func(t *testing.T) {
		dir, err := os.MkdirTemp("", "gvcon")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		sock := filepath.Join(dir, "c")
		tv := spawnGuest(t, guestOpts{cmdline: "govirt.test=halt",
			serial: fmt.Sprintf("<serial type='unix'><source mode='bind' path='%s'/></serial>", sock)})
		conn, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		time.Sleep(50 * time.Millisecond) // let the VMM accept before the reset
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// Output before the client came was dropped; a reset boots again.
		if err := tv.c.Reset(ctx); err != nil {
			t.Fatal(err)
		}
		readUntil(t, conn, "GVTEST halt", 1)
		if err := tv.c.Destroy(ctx); err != nil {
			t.Fatal(err)
		}
		tv.gone(t)
		if _, err := os.Lstat(sock); !os.IsNotExist(err) {
			t.Fatalf("serial socket left behind: %v", err)
		}
	})
}
