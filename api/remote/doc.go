// Package remote is govirt's remote driver: it implements api.ConnDriver by
// calling a govirt daemon (package api/daemon) over libvirt's remote
// protocol, and so also talks to anything else that speaks it.
//
// Import it for its side effect; it registers for every URI with a
// transport or a host:
//
//	import _ "github.com/govirt/govirt/api/remote"
//
//	conn, err := api.Open(ctx, "kvm+unix:///system")
//
// URIs and transports:
//
//	kvm+unix:///system           the system daemon's socket, /run/govirt/govirt-sock
//	                             (govirt-sock-ro for read-only opens); ?socket=PATH
//	                             names another
//	kvm+unix:///session          $XDG_RUNTIME_DIR/govirt/govirt-sock
//	kvm+tcp://HOST[:PORT]/system plain TCP, port 16509 (unencrypted: tests only)
//	kvm+tls://HOST[:PORT]/system TLS, port 16514; ?pkipath=DIR holds cacert.pem,
//	                             clientcert.pem and clientkey.pem (default
//	                             /etc/pki/govirt, or $HOME/.pki/govirt for
//	                             other users); ?no_verify=1 skips checking the
//	                             server's certificate
//	kvm+ssh://[USER@]HOST[:PORT]/system
//	                             runs "ssh [-p PORT] [-l USER] HOST govirt
//	                             stdio-bridge --socket PATH" (see
//	                             daemon.Bridge); ?netcat=nc runs "nc -U PATH"
//	                             instead, ?command= replaces the bridge
//	                             command, ?keyfile=, ?no_verify=1 and
//	                             ?no_tty=1 are passed to ssh as libvirt does,
//	                             ?sshbin= replaces the ssh binary
//
// "qemu+..." works the same. A host without a transport means TLS, as in
// libvirt. The daemon is asked to open the URI without its transport and
// host ("kvm:///system"); ?name= overrides that.
//
// OpenReadOnly opens a read-only connection on the daemon too. When the
// daemon requires authentication, OpenAuth's callback is asked for
// VIR_CRED_AUTHNAME (defaulting to the URI's user) and VIR_CRED_PASSPHRASE,
// which go to the daemon with SASL PLAIN; the driver refuses to send them
// over plain TCP.
//
// Errors keep the daemon's libvirt code, domain and message, so
// errors.Is(err, api.ErrNoDomain) holds across the socket. A lost
// connection fails calls with an RPC error.
package remote
