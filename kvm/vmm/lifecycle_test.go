package vmm

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/govirt/govirt/test/guest"
	"github.com/govirt/govirt/xmlconf"
)

// TestSerialFile: output appended to a file, or the file truncated first
// with append='off'.
func TestSerialFile(t *testing.T) {
	for _, tc := range []struct {
		name    string
		attr    string
		keepOld bool
	}{
		{"append by default", "", true},
		{"append on", " append='on'", true},
		{"append off truncates", " append='off'", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "console.log")
			if err := os.WriteFile(path, []byte("OLD-CONTENT\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			tv := spawnGuest(t, guestOpts{cmdline: "govirt.test=halt",
				serial: fmt.Sprintf("<serial type='file'><source path='%s'%s/></serial>", path, tc.attr)})
			c := &console{path: path, ch: make(chan struct{})}
			c.waitFor(t, "GVTEST halt", 1, 60*time.Second)
			if got := strings.HasPrefix(c.String(), "OLD-CONTENT\n"); got != tc.keepOld {
				t.Fatalf("old content kept: %v, want %v:\n%s", got, tc.keepOld, c.String())
			}
			live := tv.live(t)
			if s := live.Devices.Serials[0]; s.Type != "file" || s.Source.Path != path {
				t.Fatalf("live serial %+v", s)
			}
		})
	}
}

// TestReboot: Reboot resets in place (on_reboot restart), a guest reboot
// with on_reboot destroy ends the domain.
func TestReboot(t *testing.T) {
	t.Run("restart in place", func(t *testing.T) {
		tv := spawnGuest(t, guestOpts{cmdline: "govirt.test=halt"})
		c := tv.ptyConsole(t)
		c.waitFor(t, "GVTEST halt", 1, 60*time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := tv.c.Reboot(ctx); err != nil {
			t.Fatal(err)
		}
		c.waitFor(t, "GVTEST halt", 2, 60*time.Second)
		s := tv.status(t)
		if s.State != StateRunning || s.Resets != 1 || s.PID != tv.proc.PID {
			t.Fatalf("after reboot: %+v", s)
		}
	})
	t.Run("guest reboot with on_reboot destroy", func(t *testing.T) {
		tv := spawnGuest(t, guestOpts{cmdline: "govirt.test=reboot", lifecycle: "<on_reboot>destroy</on_reboot>"})
		e := tv.wait(t, 60*time.Second)
		if e.Reason != ExitRebootDestroy {
			t.Fatalf("exit %+v, want reboot-destroy", e)
		}
		tv.gone(t)
	})
	t.Run("reboot request with on_reboot destroy", func(t *testing.T) {
		tv := spawnGuest(t, guestOpts{cmdline: "govirt.test=halt", lifecycle: "<on_reboot>destroy</on_reboot>"})
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := tv.c.Reboot(ctx); err != nil {
			t.Fatal(err)
		}
		if e := tv.wait(t, 60*time.Second); e.Reason != ExitRebootDestroy {
			t.Fatalf("exit %+v, want reboot-destroy", e)
		}
		tv.gone(t)
	})
	t.Run("guest poweroff with on_poweroff restart", func(t *testing.T) {
		tv := spawnGuest(t, guestOpts{cmdline: "govirt.test=wait-power", lifecycle: "<on_poweroff>restart</on_poweroff>"})
		c := tv.ptyConsole(t)
		c.waitFor(t, "GVTEST wait-power", 1, 60*time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := tv.c.PinVCPU(ctx, 0, []int{0}); err != nil {
			t.Fatal(err)
		}
		if err := tv.c.PowerButton(ctx); err != nil {
			t.Fatal(err)
		}
		c.waitFor(t, "GVTEST wait-power", 2, 60*time.Second)
		s := tv.status(t)
		if s.State != StateRunning || s.Reason != ReasonRestarted || s.Restarts != 1 {
			t.Fatalf("after poweroff with restart: %s/%s restarts %d", s.State, s.Reason, s.Restarts)
		}
		if !slices.Equal(s.VCPUs[0].Affinity, []int{0}) {
			t.Fatalf("the rebuilt machine lost the pin: affinity %v", s.VCPUs[0].Affinity)
		}
	})
}

// TestDestroy: Destroy ends the domain at once; every waiter learns it.
func TestDestroy(t *testing.T) {
	for _, tc := range []struct {
		name   string
		paused bool
	}{{"running", false}, {"started paused", true}} {
		t.Run(tc.name, func(t *testing.T) {
			tv := spawnGuest(t, guestOpts{cmdline: "govirt.test=halt", startPaused: tc.paused})
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if tc.paused {
				if s := tv.status(t); s.State != StatePaused {
					t.Fatalf("started paused: %s", s.State)
				}
			}
			waited := make(chan error, 1)
			go func() {
				e, err := tv.c.Wait(ctx)
				if err == nil && e.Reason != ExitDestroyed {
					err = fmt.Errorf("wait: %+v", e)
				}
				waited <- err
			}()
			if err := tv.c.Destroy(ctx); err != nil {
				t.Fatal(err)
			}
			if err := <-waited; err != nil {
				t.Fatal(err)
			}
			tv.gone(t)
		})
	}
}

// TestStartPaused: a domain started paused runs nothing until Resume.
func TestStartPaused(t *testing.T) {
	tv := spawnGuest(t, guestOpts{cmdline: "govirt.test=halt", startPaused: true})
	c := tv.ptyConsole(t)
	time.Sleep(200 * time.Millisecond)
	if out := c.String(); out != "" {
		t.Fatalf("a paused guest wrote %q", out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tv.c.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	c.waitFor(t, "GVTEST halt", 1, 60*time.Second)
}

// TestMemoryPeek reads the dirty workload's mailbox through physical and
// virtual addresses and refuses ranges outside RAM.
func TestMemoryPeek(t *testing.T) {
	tv := spawnGuest(t, guestOpts{cmdline: "govirt.test=dirty govirt.dirty_mib=4 govirt.dirty_rounds=2"})
	c := tv.ptyConsole(t)
	c.waitFor(t, "GVTEST dirty round 2", 1, 120*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, virtual := range []bool{false, true} {
		t.Run(fmt.Sprintf("virtual=%v", virtual), func(t *testing.T) {
			b, err := tv.c.MemoryPeek(ctx, guest.MailboxGPA, guest.MailboxSize, virtual)
			if err != nil {
				t.Fatal(err)
			}
			mb, err := guest.ParseMailbox(b)
			if err != nil {
				t.Fatal(err)
			}
			if mb.Magic != guest.MailboxMagic || mb.DirtyMiB != 4 || mb.DirtyRound != 2 || mb.DirtySum != guest.ExpectedDirtySum(2, 4) {
				t.Fatalf("mailbox %+v", mb)
			}
			// A range crossing a page boundary.
			w, err := tv.c.MemoryPeek(ctx, guest.DirtyBase+4096-8, 16, virtual)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 2 {
				if got, want := binary.LittleEndian.Uint64(w[8*i:]), guest.DirtyWord(2, 511+uint64(i)); got != want {
					t.Fatalf("dirty word %d = %#x, want %#x", 511+i, got, want)
				}
			}
		})
	}
	for _, tc := range []struct {
		name    string
		addr    uint64
		n       int
		virtual bool
	}{
		{"physical past ram", 128 << 20, 8, false},
		{"physical straddling the end", 128<<20 - 4, 8, false},
		{"physical in the mmio hole", 0xFEC00000, 4, false},
		{"virtual unmapped", 1 << 40, 8, true},
		{"virtual mapped past ram", 1 << 31, 8, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tv.c.MemoryPeek(ctx, tc.addr, tc.n, tc.virtual); !errors.Is(err, xmlconf.ErrInvalidArg) {
				t.Fatalf("peek %#x+%d: %v, want INVALID_ARG", tc.addr, tc.n, err)
			}
		})
	}
	if _, err := tv.c.MemoryPeek(ctx, 0, MaxPeek+1, false); !errors.Is(err, xmlconf.ErrInvalidArg) {
		t.Fatalf("oversized peek: %v", err)
	}
}

// TestKilledVMM: a VMM killed with SIGKILL is seen as gone by Wait and Dial.
func TestKilledVMM(t *testing.T) {
	tv := spawnGuest(t, guestOpts{cmdline: "govirt.test=halt"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	waited := make(chan error, 1)
	go func() {
		_, err := tv.c.Wait(ctx)
		waited <- err
	}()
	time.Sleep(50 * time.Millisecond) // let Wait reach the VMM
	if err := syscall.Kill(tv.proc.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := <-waited; !errors.Is(err, xmlconf.ErrOperationFailed) || !strings.Contains(err.Error(), "without an exit record") {
		t.Fatalf("wait on a killed vmm: %v", err)
	}
	if err := tv.proc.WaitExit(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := Dial(ctx, tv.cfg.ControlSocket); !errors.Is(err, xmlconf.ErrOperationFailed) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial a killed vmm: %v", err)
	}
	if _, err := ReadExitRecord(tv.dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("exit record of a killed vmm: %v", err)
	}
	if tv.proc.Alive() {
		t.Fatal("killed vmm still alive")
	}
}

// TestSignalDestroys: SIGTERM destroys the domain cleanly.
func TestSignalDestroys(t *testing.T) {
	tv := spawnGuest(t, guestOpts{cmdline: "govirt.test=halt"})
	if err := syscall.Kill(tv.proc.PID, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	tv.gone(t)
	e, err := ReadExitRecord(tv.dir)
	if err != nil || e.Reason != ExitDestroyed {
		t.Fatalf("exit record %+v, %v", e, err)
	}
}

// TestMalformedRequests: garbage on the control socket gets error replies
// and leaves the VMM serving.
func TestMalformedRequests(t *testing.T) {
	tv := spawnGuest(t, guestOpts{cmdline: "govirt.test=halt"})
	frame := func(payload string) []byte {
		b := binary.BigEndian.AppendUint32(nil, uint32(len(payload)))
		return append(b, payload...)
	}
	for _, tc := range []struct {
		name string
		raw  []byte
		code xmlconf.ErrorNumber
	}{
		{"not json", frame("hello?"), xmlconf.ErrInvalidArg},
		{"unknown op", frame(`{"op":"format-disk"}`), xmlconf.ErrArgumentUnsupported},
		{"unknown field", frame(`{"op":"status","evil":1}`), xmlconf.ErrInvalidArg},
		{"trailing data", frame(`{"op":"status"}{"op":"destroy"}`), xmlconf.ErrInvalidArg},
		{"arguments on status", frame(`{"op":"status","vcpu":3}`), xmlconf.ErrInvalidArg},
		{"negative peek", frame(`{"op":"memory-peek","len":-1}`), xmlconf.ErrInvalidArg},
		{"huge peek", frame(`{"op":"memory-peek","len":100000000}`), xmlconf.ErrInvalidArg},
		{"huge frame", binary.BigEndian.AppendUint32(nil, 1<<30), xmlconf.ErrInvalidArg},
		{"short frame", append(binary.BigEndian.AppendUint32(nil, 100), "{}"...), xmlconf.ErrInvalidArg},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("unix", tv.cfg.ControlSocket)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := conn.Write(tc.raw); err != nil {
				t.Fatal(err)
			}
			if tc.name == "short frame" {
				conn.(*net.UnixConn).CloseWrite()
			}
			if err := conn.SetReadDeadline(time.Now().Add(15 * time.Second)); err != nil {
				t.Fatal(err)
			}
			b, err := readFrame(conn, MaxResponseSize)
			if err != nil {
				t.Fatal(err)
			}
			var resp response
			if err := json.Unmarshal(b, &resp); err != nil {
				t.Fatal(err)
			}
			if resp.Error == nil || xmlconf.ErrorNumber(resp.Error.Code) != tc.code {
				t.Fatalf("reply %s, want error %v", b, tc.code)
			}
		})
	}
	if s := tv.status(t); s.State != StateRunning {
		t.Fatalf("after garbage: %s", s.State)
	}
}

// TestConcurrentClients: many clients at once all get answers.
func TestConcurrentClients(t *testing.T) {
	tv := spawnGuest(t, guestOpts{cmdline: "govirt.test=halt"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errs := make(chan error, 32)
	for range 32 {
		go func() {
			c, err := Dial(ctx, tv.cfg.ControlSocket)
			if err == nil {
				_, err = c.Status(ctx)
			}
			errs <- err
		}()
	}
	for range 32 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// TestSpawnFailure: a VMM that cannot start reports why, quoting its log.
func TestSpawnFailure(t *testing.T) {
	requireKVM(t)
	img := testGuest(t)
	const nic = "<interface type='ethernet'><mac address='52:54:00:00:00:09'/></interface>"
	for _, tc := range []struct {
		name   string
		xml    string
		taps   []Tap
		naming string
	}{
		{"missing kernel", strings.Replace(domainXML(img, "b", guestOpts{}), img.ELF, "/nonexistent/kernel", 1), nil, "/nonexistent/kernel"},
		{"unsupported device", domainXML(img, "b", guestOpts{devices: "<sound model='ich9'/>"}), nil, "<sound model='ich9'>"},
		{"missing tap", domainXML(img, "b", guestOpts{devices: nic}), []Tap{{Name: "gvnosuchtap0", MAC: "52:54:00:00:00:09"}}, "gvnosuchtap0"},
		{"tap count", domainXML(img, "b", guestOpts{devices: nic}), nil, "0 taps for 1 interfaces"},
		{"tap mac", domainXML(img, "b", guestOpts{devices: nic}), []Tap{{Name: "lo", MAC: "52:54:00:00:00:08"}}, "differs"},
		{"malformed xml", "<domain", nil, "XML"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, err := os.MkdirTemp("", "gvvmm")
			if err != nil {
				t.Fatal(err)
			}
			defer os.RemoveAll(dir)
			cfg := &Config{Name: "broken", DomainXML: tc.xml, Taps: tc.taps,
				RuntimeDir: dir, ControlSocket: filepath.Join(dir, "s"), LogFile: filepath.Join(dir, "log")}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, err = Spawn(ctx, os.Args[0], []string{"__vmm"}, cfg)
			if !errors.Is(err, xmlconf.ErrOperationFailed) || !strings.Contains(err.Error(), tc.naming) {
				t.Fatalf("spawn: %v, want OPERATION_FAILED naming %q", err, tc.naming)
			}
			if _, err := os.Lstat(cfg.ControlSocket); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a failed vmm left its socket: %v", err)
			}
		})
	}
}
