// Package daemon serves govirt over libvirt's remote protocol, so that
// virsh, digitalocean/go-libvirt and govirt's own remote driver
// (api/remote) can manage a host through it.
//
// A daemon serves one URI (Config.URI: "kvm:///system" in production,
// "test:///default" in tests). Each client connection gets its own
// *api.Conn, opened when the client sends CONNECT_OPEN; the client may name
// the served URI, "" or any kvm:// or qemu:// URI. Every call goes through
// the api layer, which enforces read-only connections and validates
// arguments exactly as for an in-process caller, and errors travel back
// with their libvirt code, domain and message.
//
// Listeners:
//   - a read-write unix socket (default /run/govirt/govirt-sock, mode 0700)
//   - a read-only unix socket (the same path plus "-ro", mode 0777): every
//     connection on it is read-only whatever CONNECT_OPEN asks
//   - optionally TLS (libvirt's 16514), verifying client certificates
//     against a CA (LoadServerTLS)
//   - optionally plain TCP (libvirt's 16509), for tests and trusted
//     networks
//
// Authentication: per transport, Config.Auth can require a username and
// passphrase through libvirt's SASL exchange with the PLAIN mechanism;
// clients supply them through virConnectOpenAuth's callback
// (VIR_CRED_AUTHNAME, VIR_CRED_PASSPHRASE). Otherwise AUTH_LIST answers
// REMOTE_AUTH_NONE, as libvirtd does on its unix sockets.
//
// Protocol: XDR frames up to 32 MiB (a larger length closes the client),
// the REMOTE program (0x20008086) version 1 and the KEEPALIVE program
// (PING is answered with PONG). Calls of one client run concurrently and
// may be answered out of order; the authentication, open and close
// procedures run in order. Unknown procedures are answered with
// NO_SUPPORT ("unknown procedure: N"), so clients fall back to older
// calls; malformed payloads with an RPC error; neither disturbs the
// connection or any other client.
//
// State: the daemon keeps none of its own. All it knows comes from the
// driver behind its URI (for the native driver, the state directory), so
// killing and restarting it loses nothing; running guests are separate
// processes and keep running. It opens its URI once at start (failing
// early when it cannot) and keeps that connection until it stops, so a
// driver's per-process start-up work happens when the daemon starts.
//
// The CLI starts a daemon with
//
//	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
//	defer stop()
//	err := daemon.Serve(ctx, daemon.Config{URI: "kvm:///system", PIDFile: daemon.DefaultPIDFile, Logger: log})
//
// and offers Bridge as "govirt stdio-bridge --socket PATH" for the
// kvm+ssh:// transport.
package daemon
