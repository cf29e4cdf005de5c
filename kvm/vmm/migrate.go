package vmm

import (
	"bufio"
	"context"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"net"
	"sync/atomic"
	"time"

	"github.com/govirt/govirt/kvm/guestmem"
	"github.com/govirt/govirt/xmlconf"
)

// Live migration is pre-copy over one TCP connection:
//
//	source                                  destination (Config.Incoming)
//	magic, version, cookie       ------->   checks the cookie first
//	                             <-------   reply: accepted (or refused)
//	stream: setup, pages...      ------->   pages go into RAM as they come
//	(rounds of dirty pages while the guest runs; then the guest pauses)
//	last pages, state, end       ------->   loads the vCPUs and devices
//	                             <-------   reply: loaded (or failed)
//	commit byte                  ------->   runs the guest (or leaves it paused)
//	                             <-------   reply: running
//
// The source ends with ExitMigrated once it has sent the commit byte; until
// then any failure resumes it exactly as it was. The destination ends with
// ExitFailed when the stream breaks before the commit, so that exactly one
// side runs the guest. A reply is status u8 (0 ok), length u16 and that
// many bytes of message; every length read from the wire is bounded.

// MigrateProtocolVersion is the migration protocol this govirt speaks.
const MigrateProtocolVersion = 1

const (
	migrateMagic = "GovirtMigration\x00"
	commitByte   = 'G'
	maxReplyMsg  = 1024
	// defaultMaxDowntime is the pause a live migration aims at.
	defaultMaxDowntime = 50 * time.Millisecond
	// maxRounds bounds the copy rounds of a live migration before it
	// pauses the guest whatever remains.
	maxRounds = 30
	// Timeouts on the wire: the handshake, silence inside the stream and
	// the replies after it.
	handshakeTimeout = 10 * time.Second
	streamIdle       = 60 * time.Second
	replyWait        = 60 * time.Second
	// maxHandshakes bounds connections being authenticated at once.
	maxHandshakes = 8
)

// MigrateOptions tune Migrate.
type MigrateOptions struct {
	// Live copies memory while the guest runs and pauses it only for the
	// last pages and the device state; without it the guest is paused
	// for the whole copy.
	Live bool
	// BandwidthMiBps caps the stream (MiB/s, 0 for no cap).
	BandwidthMiBps uint64
	// MaxDowntime is the pause a live migration aims at (default 50 ms):
	// copy rounds go on until the dirty pages left can be sent within it
	// at the measured bandwidth, or for at most 30 rounds.
	MaxDowntime time.Duration
	// Cookie authenticates the stream to the destination
	// (Config.IncomingCookie); 16 to 1024 bytes.
	Cookie []byte
}

// MigrateStats describe a finished migration.
type MigrateStats struct {
	// Total is the time from the start to the destination's
	// confirmation; Downtime the time the guest was paused.
	Total    time.Duration `json:"total"`
	Downtime time.Duration `json:"downtime"`
	// Bytes is what went over the wire; Rounds the memory copy rounds
	// (1 for a migration that is not live).
	Bytes  uint64 `json:"bytes"`
	Rounds uint64 `json:"rounds"`
}

// Migrate moves the domain to the VMM listening at uri ("tcp:HOST:PORT",
// started with Config.Incoming and the same domain). On success the guest
// runs there (or stays paused if it was paused here) and this VMM ends
// with exit reason ExitMigrated. On failure (destination gone, connection
// cut, refused, ctx done) the guest goes on here as it was, dirty logging
// off.
func (c *Client) Migrate(ctx context.Context, uri string, opts MigrateOptions) (MigrateStats, error) {
	if _, err := parseTCPURI(uri); err != nil {
		return MigrateStats{}, xmlconf.Errorf(xmlconf.ErrInvalidArg, "%w", err)
	}
	resp, err := c.call(ctx, &request{Op: opMigrate, Job: &jobArgs{URI: uri, Live: opts.Live,
		BandwidthMiBps: opts.BandwidthMiBps, MaxDowntime: opts.MaxDowntime, Cookie: opts.Cookie}})
	if err != nil {
		return MigrateStats{}, err
	}
	if resp.Migrate == nil {
		return MigrateStats{}, xmlconf.Errorf(xmlconf.ErrRPC, "vmm migrate reply without statistics")
	}
	return *resp.Migrate, nil
}

// migrate implements Migrate on the source.
func (v *vmm) migrate(ctx context.Context, uri string, opts MigrateOptions) (MigrateStats, error) {
	v.opMu.Lock()
	defer v.opMu.Unlock()
	hw, err := v.jobHW("migrate")
	if err != nil {
		return MigrateStats{}, err
	}
	addr, err := parseTCPURI(uri)
	if err != nil {
		return MigrateStats{}, xmlconf.Errorf(xmlconf.ErrInvalidArg, "%w", err)
	}
	if opts.MaxDowntime <= 0 {
		opts.MaxDowntime = defaultMaxDowntime
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { // a destroy or guest poweroff ends the job
		select {
		case <-v.ended:
			cancel()
		case <-ctx.Done():
		}
	}()
	m := &migration{v: v, hw: hw, mem: hw.m.Memory(), opts: opts, t0: time.Now()}
	stats, err := m.run(ctx, addr)
	if err != nil {
		err = xmlconf.Errorf(xmlconf.ErrOperationFailed, "migrate domain %s to %s: %w", v.cfg.Name, uri, err)
		if m.mem.DirtyLogging() {
			if derr := m.mem.SetDirtyLogging(false); derr != nil {
				err = errors.Join(err, derr)
			}
		}
		if m.job != nil {
			if uerr := m.job.undo(); uerr != nil {
				err = errors.Join(err, uerr)
			}
		}
		v.log.Warn("migration failed; the guest goes on here", "err", err)
		return MigrateStats{}, err
	}
	detail := "to " + uri
	if m.unconfirmed != nil {
		detail += " (the destination did not confirm it runs: " + m.unconfirmed.Error() + ")"
	}
	v.log.Info("domain migrated", "to", uri, "total", stats.Total, "downtime", stats.Downtime,
		"bytes", stats.Bytes, "rounds", stats.Rounds)
	v.endDomain(hw, ExitStatus{Reason: ExitMigrated, Detail: detail})
	return stats, nil
}

// migration is one outgoing migration.
type migration struct {
	v    *vmm
	hw   *hardware
	mem  *guestmem.Memory
	opts MigrateOptions
	t0   time.Time
	job  *pausedJob // set once the guest is paused
	// unconfirmed is why the destination's last reply did not come.
	unconfirmed error
}

func (m *migration) run(ctx context.Context, addr string) (MigrateStats, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return MigrateStats{}, fmt.Errorf("connect: %w", err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if err := sourceHandshake(conn, m.opts.Cookie); err != nil {
		return MigrateStats{}, err
	}
	rw := newRecordWriter(newRateWriter(ctx, conn, m.opts.BandwidthMiBps<<20))
	v := m.v
	if err := rw.setup(setupOf(v.cfg.Name, v.cfg.UUID, v.plan.vcpus, m.mem)); err != nil {
		return MigrateStats{}, err
	}
	v.mu.Lock()
	running := v.state == StateRunning && v.started
	v.mu.Unlock()
	var rounds uint64
	var pending [][]uint64 // dirty pages fetched but not sent yet
	if m.opts.Live && running {
		if err := m.mem.SetDirtyLogging(true); err != nil {
			return MigrateStats{}, err
		}
		if err := sendAllPages(rw, m.mem, true); err != nil {
			return MigrateStats{}, err
		}
		rounds = 1
		for {
			dirty, n, err := m.fetchDirty(nil)
			if err != nil {
				return MigrateStats{}, err
			}
			// What the last pause would cost at the bandwidth so far; keep
			// half the downtime for the state and the replies.
			rate := float64(rw.bytes) / time.Since(m.t0).Seconds()
			left := float64(n * (guestmem.PageSize + 8))
			if left <= rate*m.opts.MaxDowntime.Seconds()/2 || rounds >= maxRounds {
				pending = dirty
				break
			}
			if err := m.sendDirty(rw, dirty); err != nil {
				return MigrateStats{}, err
			}
			rounds++
		}
	}
	if m.job, err = v.pauseForJob(m.hw, ReasonMigrating); err != nil {
		return MigrateStats{}, err
	}
	paused := time.Now()
	img, err := v.captureState(m.hw)
	if err != nil {
		return MigrateStats{}, err
	}
	if err := v.flushDisks(); err != nil {
		return MigrateStats{}, err
	}
	if m.mem.DirtyLogging() {
		final, _, err := m.fetchDirty(pending)
		if err != nil {
			return MigrateStats{}, err
		}
		if err := m.sendDirty(rw, final); err != nil {
			return MigrateStats{}, err
		}
	} else {
		if err := sendAllPages(rw, m.mem, true); err != nil {
			return MigrateStats{}, err
		}
		rounds = 1
	}
	if err := rw.state(img); err != nil {
		return MigrateStats{}, err
	}
	if err := rw.end(m.job.running); err != nil {
		return MigrateStats{}, err
	}
	if err := conn.SetReadDeadline(time.Now().Add(replyWait)); err != nil {
		return MigrateStats{}, err
	}
	if _, err := readReply(conn, "load the state"); err != nil {
		return MigrateStats{}, err
	}
	if err := conn.SetWriteDeadline(time.Now().Add(replyWait)); err != nil {
		return MigrateStats{}, err
	}
	if _, err := conn.Write([]byte{commitByte}); err != nil {
		return MigrateStats{}, fmt.Errorf("commit: %w", err)
	}
	// Committed: the destination runs the guest from here on.
	if err := conn.SetReadDeadline(time.Now().Add(replyWait)); err == nil {
		_, m.unconfirmed = readReply(conn, "run the guest")
	} else {
		m.unconfirmed = err
	}
	now := time.Now()
	return MigrateStats{Total: now.Sub(m.t0), Downtime: now.Sub(paused), Bytes: rw.bytes + handshakeBytes(m.opts.Cookie), Rounds: rounds}, nil
}

// fetchDirty collects the dirty pages of every region (ORed into prev
// when given) and counts them.
func (m *migration) fetchDirty(prev [][]uint64) ([][]uint64, uint64, error) {
	regions := m.mem.Regions()
	out := make([][]uint64, len(regions))
	var n uint64
	for i, r := range regions {
		bm, err := m.mem.FetchDirty(r.Slot)
		if err != nil {
			return nil, 0, err
		}
		if prev != nil {
			for w := range bm {
				bm[w] |= prev[i][w]
			}
		}
		for _, w := range bm {
			n += uint64(bits.OnesCount64(w))
		}
		out[i] = bm
	}
	return out, n, nil
}

// sendDirty sends the pages set in the bitmaps, zero pages as zero
// entries (the destination has an older version of them).
func (m *migration) sendDirty(rw *recordWriter, dirty [][]uint64) error {
	for i, r := range m.mem.Regions() {
		region, err := m.mem.Slice(r.GPA, r.Size)
		if err != nil {
			return err
		}
		for w, word := range dirty[i] {
			for word != 0 {
				b := bits.TrailingZeros64(word)
				word &= word - 1
				off := (uint64(w)*64 + uint64(b)) * guestmem.PageSize
				if off >= r.Size {
					break
				}
				if err := rw.page(r.GPA+off, region[off:off+guestmem.PageSize], false); err != nil {
					return err
				}
			}
		}
	}
	return rw.flushPages()
}

func handshakeBytes(cookie []byte) uint64 { return uint64(len(migrateMagic) + 6 + len(cookie)) }

// sourceHandshake introduces the source and reads the verdict.
func sourceHandshake(conn net.Conn, cookie []byte) error {
	if err := conn.SetDeadline(time.Now().Add(handshakeTimeout)); err != nil {
		return err
	}
	b := make([]byte, 0, handshakeBytes(cookie))
	b = append(b, migrateMagic...)
	b = binary.LittleEndian.AppendUint32(b, MigrateProtocolVersion)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(cookie)))
	b = append(b, cookie...)
	if _, err := conn.Write(b); err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	if _, err := readReply(conn, "accept the migration"); err != nil {
		return err
	}
	return conn.SetDeadline(time.Time{})
}

// errRefused marks a destination's refusal.
var errRefused = errors.New("destination refused")

// readReply reads a reply; a failure status is an error with the peer's
// message.
func readReply(r io.Reader, what string) (string, error) {
	var h [3]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return "", fmt.Errorf("destination did not %s: %w", what, err)
	}
	n := binary.LittleEndian.Uint16(h[1:])
	if n > maxReplyMsg {
		return "", fmt.Errorf("destination reply of %d bytes", n)
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(r, msg); err != nil {
		return "", fmt.Errorf("destination did not %s: %w", what, err)
	}
	if h[0] != 0 {
		return "", fmt.Errorf("%w to %s: %s", errRefused, what, msg)
	}
	return string(msg), nil
}

// writeReply sends a reply (the message cut to its bound).
func writeReply(w io.Writer, ok bool, msg string) error {
	if len(msg) > maxReplyMsg {
		msg = msg[:maxReplyMsg]
	}
	b := make([]byte, 3, 3+len(msg))
	if !ok {
		b[0] = 1
	}
	binary.LittleEndian.PutUint16(b[1:], uint16(len(msg)))
	_, err := w.Write(append(b, msg...))
	return err
}

// rateWriter is a token bucket in front of w: at most rate bytes per
// second, in bursts of at most a twentieth of a second's worth.
type rateWriter struct {
	ctx    context.Context
	w      io.Writer
	rate   float64 // bytes per second, 0 for no limit
	burst  float64
	tokens float64
	last   time.Time
}

func newRateWriter(ctx context.Context, w io.Writer, rate uint64) *rateWriter {
	r := &rateWriter{ctx: ctx, w: w, rate: float64(rate)}
	if rate > 0 {
		r.burst = max(64<<10, r.rate/20)
		r.last = time.Now() // the bucket starts empty: no initial burst
	}
	return r
}

func (r *rateWriter) Write(p []byte) (int, error) {
	if r.rate == 0 {
		return r.w.Write(p)
	}
	done := 0
	for len(p) > 0 {
		chunk := p[:min(len(p), int(r.burst))]
		now := time.Now()
		r.tokens = min(r.burst, r.tokens+now.Sub(r.last).Seconds()*r.rate)
		r.last = now
		if need := float64(len(chunk)); r.tokens < need {
			wait := time.Duration((need - r.tokens) / r.rate * float64(time.Second))
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-r.ctx.Done():
				t.Stop()
				return done, r.ctx.Err()
			}
			now = time.Now()
			r.tokens = min(r.burst, r.tokens+now.Sub(r.last).Seconds()*r.rate)
			r.last = now
		}
		r.tokens -= float64(len(chunk))
		n, err := r.w.Write(chunk)
		done += n
		if err != nil {
			return done, err
		}
		p = p[n:]
	}
	return done, nil
}

// startIncoming listens for a migration of this domain and returns; the
// domain stays paused (reason inmigrate) until a stream completes.
func (v *vmm) startIncoming(hw *hardware) error {
	addr, err := parseTCPURI(v.cfg.Incoming)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("incoming migration: %w", err)
	}
	v.mu.Lock()
	v.incomingAddr = "tcp:" + ln.Addr().String()
	v.state, v.reason = StatePaused, ReasonInMigrate
	v.mu.Unlock()
	v.log.Info("waiting for an incoming migration", "addr", ln.Addr().String())
	go v.serveIncoming(hw, ln)
	return nil
}

// serveIncoming authenticates connections until one carries the right
// cookie, then receives its stream.
func (v *vmm) serveIncoming(hw *hardware, ln net.Listener) {
	claimed := make(chan net.Conn, 1)
	var taken atomic.Bool
	stop := make(chan struct{})
	go func() {
		select {
		case <-v.ended:
		case <-stop:
		}
		ln.Close()
	}()
	go func() {
		sem := make(chan struct{}, maxHandshakes)
		for {
			c, err := ln.Accept()
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				v.log.Warn("incoming migration accept", "err", err)
				time.Sleep(10 * time.Millisecond)
				continue
			}
			select {
			case sem <- struct{}{}:
				go func() {
					defer func() { <-sem }()
					if v.authenticate(c, &taken) {
						claimed <- c
					}
				}()
			default:
				v.log.Warn("incoming migration: too many connections authenticating", "peer", c.RemoteAddr().String())
				c.Close()
			}
		}
	}()
	var conn net.Conn
	select {
	case conn = <-claimed:
	case <-v.ended:
		return
	}
	close(stop)
	defer conn.Close()
	if err := v.receiveMigration(hw, conn); err != nil {
		v.log.Error("incoming migration failed", "err", err)
		v.endDomain(hw, ExitStatus{Reason: ExitFailed, Detail: "incoming migration: " + err.Error()})
	}
}

// authenticate reads a source's handshake and answers it; it reports
// whether c is now the migration stream (the first with the right cookie).
func (v *vmm) authenticate(c net.Conn, taken *atomic.Bool) bool {
	peer := c.RemoteAddr().String()
	refuse := func(msg string) bool {
		v.log.Warn("incoming migration refused", "peer", peer, "why", msg)
		if err := writeReply(c, false, msg); err != nil {
			v.log.Debug("refuse incoming migration", "err", err)
		}
		c.Close()
		return false
	}
	if err := c.SetDeadline(time.Now().Add(handshakeTimeout)); err != nil {
		c.Close()
		return false
	}
	cookie, err := readHandshake(c)
	if err != nil {
		return refuse(err.Error())
	}
	if len(v.cfg.IncomingCookie) == 0 || subtle.ConstantTimeCompare(cookie, v.cfg.IncomingCookie) != 1 {
		return refuse("authentication failed: wrong cookie")
	}
	if !taken.CompareAndSwap(false, true) {
		return refuse("another migration is already coming in")
	}
	if err := writeReply(c, true, "accepted"); err != nil {
		v.log.Warn("accept incoming migration", "err", err)
		taken.Store(false)
		c.Close()
		return false
	}
	if err := c.SetDeadline(time.Time{}); err != nil {
		taken.Store(false)
		c.Close()
		return false
	}
	v.log.Info("incoming migration accepted", "peer", peer)
	return true
}

// readHandshake reads a source's introduction and returns its cookie. The
// error says why the source is refused.
func readHandshake(r io.Reader) ([]byte, error) {
	var h [len(migrateMagic) + 6]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, errors.New("short handshake")
	}
	if string(h[:len(migrateMagic)]) != migrateMagic {
		return nil, errors.New("not a govirt migration stream")
	}
	if ver := binary.LittleEndian.Uint32(h[len(migrateMagic):]); ver != MigrateProtocolVersion {
		return nil, fmt.Errorf("migration protocol version %d, this govirt speaks %d", ver, MigrateProtocolVersion)
	}
	n := int(binary.LittleEndian.Uint16(h[len(migrateMagic)+4:]))
	if n > maxCookie {
		return nil, errors.New("cookie too long")
	}
	cookie := make([]byte, n)
	if _, err := io.ReadFull(r, cookie); err != nil {
		return nil, errors.New("short handshake")
	}
	return cookie, nil
}

// receiveMigration loads the stream and, once the source commits, runs
// the guest. An error leaves the domain to end as failed.
func (v *vmm) receiveMigration(hw *hardware, conn net.Conn) error {
	v.opMu.Lock()
	defer v.opMu.Unlock()
	if _, err := v.current(); err != nil {
		return err
	}
	done := make(chan struct{})
	defer close(done)
	go func() { // a destroy ends the transfer
		select {
		case <-v.ended:
			conn.Close()
		case <-done:
		}
	}()
	t0 := time.Now()
	rr := newRecordReader(bufio.NewReaderSize(idleReader{conn}, 1<<20))
	l := &streamLoader{mem: guestRAM{hw.m.Memory()}, want: setupOf(v.cfg.Name, v.cfg.UUID, v.plan.vcpus, hw.m.Memory())}
	fail := func(err error) error {
		if werr := writeReply(conn, false, err.Error()); werr != nil {
			v.log.Debug("report incoming migration failure", "err", werr)
		}
		return err
	}
	if err := l.load(rr); err != nil {
		return fail(err)
	}
	if err := v.applyState(hw, l.state); err != nil {
		return fail(err)
	}
	if err := conn.SetDeadline(time.Now().Add(replyWait)); err != nil {
		return err
	}
	if err := writeReply(conn, true, "loaded"); err != nil {
		return fmt.Errorf("report the state loaded: %w", err)
	}
	var b [1]byte
	if _, err := io.ReadFull(conn, b[:]); err != nil {
		return fmt.Errorf("source did not commit the migration: %w", err)
	}
	if b[0] != commitByte {
		return fmt.Errorf("source sent %#x instead of the commit", b[0])
	}
	if err := v.runLoaded(hw, l.end.Running, ReasonMigrated); err != nil {
		return fail(err)
	}
	v.mu.Lock()
	v.incomingAddr = ""
	v.mu.Unlock()
	if err := writeReply(conn, true, "running"); err != nil {
		v.log.Warn("confirm the migration", "err", err)
	}
	v.log.Info("incoming migration done", "bytes", rr.bytes, "took", time.Since(t0), "running", l.end.Running)
	return nil
}

// idleReader fails a read that waits longer than streamIdle.
type idleReader struct{ c net.Conn }

func (r idleReader) Read(p []byte) (int, error) {
	if err := r.c.SetReadDeadline(time.Now().Add(streamIdle)); err != nil {
		return 0, err
	}
	return r.c.Read(p)
}
