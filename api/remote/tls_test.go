package remote_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket/dialers"

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/api/daemon"
)

// testCA is a certificate authority made for one test; its keys and those
// of the certificates it issues are RSA or ECDSA.
type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
	pem  []byte
	rsa  bool
}

func newKey(t *testing.T, useRSA bool) crypto.Signer {
	t.Helper()
	var key crypto.Signer
	var err error
	if useRSA {
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	} else {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func newCA(t *testing.T, name string, useRSA bool) *testCA {
	t.Helper()
	key := newKey(t, useRSA)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), rsa: useRSA}
}

// issue returns a certificate and key signed by the CA, as PEM.
func (ca *testCA) issue(t *testing.T, cn string, server bool) (certPEM, keyPEM []byte) {
	t.Helper()
	key := newKey(t, ca.rsa)
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		// libvirt's client and daemon insist on both usages.
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		tmpl.DNSNames = []string{"localhost"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

func writeFiles(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTLS serves TLS with client certificates checked against a CA, set up
// from a pkipath directory as an operator would (daemon.LoadServerTLS), and
// connects with govirt's remote driver, virsh (libvirt's GnuTLS client) and
// go-libvirt.
//
// With RSA keys the daemon is held to TLS 1.2: Debian 12's virsh does not
// present an RSA client certificate to Go's TLS 1.3 server (see
// daemon.LoadServerTLS), so RSA deployments with virsh clients need that
// cap.
func TestTLS(t *testing.T) {
	for _, kt := range []struct {
		name   string
		rsa    bool
		maxVer uint16
	}{
		{"ecdsa", false, 0},
		{"rsa tls1.2", true, tls.VersionTLS12},
	} {
		t.Run(kt.name, func(t *testing.T) { testTLS(t, kt.rsa, kt.maxVer) })
	}
}

func testTLS(t *testing.T, useRSA bool, maxVersion uint16) {
	ca := newCA(t, "govirt test CA", useRSA)
	rogue := newCA(t, "someone else's CA", useRSA)
	base := t.TempDir()

	serverCert, serverKey := ca.issue(t, "daemon", true)
	serverDir := filepath.Join(base, "server")
	writeFiles(t, serverDir, map[string][]byte{"servercert.pem": serverCert, "serverkey.pem": serverKey, "cacert.pem": ca.pem})
	tlsCfg, err := daemon.LoadServerTLS(serverDir)
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg.MaxVersion = maxVersion
	d := startDaemon(t, daemon.Config{TLSAddr: "127.0.0.1:0", TLS: tlsCfg})
	addr := d.srv.Addr(daemon.TransportTLS).String()

	client := func(name string, ca *testCA, trust []byte) string {
		c, k := ca.issue(t, name, false)
		dir := filepath.Join(base, name)
		writeFiles(t, dir, map[string][]byte{"clientcert.pem": c, "clientkey.pem": k, "cacert.pem": trust})
		return dir
	}
	good := client("good", ca, ca.pem)
	untrusted := client("untrusted", rogue, ca.pem)
	distrustful := client("distrustful", ca, rogue.pem)

	tests := []struct {
		name string
		uri  string
		ok   bool
	}{
		{"client certificate signed by the CA", "kvm+tls://" + addr + "/system?pkipath=" + good, true},
		{"host without transport means tls", "qemu://" + addr + "/system?pkipath=" + good, true},
		{"client certificate from another CA", "kvm+tls://" + addr + "/system?pkipath=" + untrusted, false},
		{"server certificate not trusted", "kvm+tls://" + addr + "/system?pkipath=" + distrustful, false},
		{"server certificate not checked", "kvm+tls://" + addr + "/system?no_verify=1&pkipath=" + distrustful, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := api.Open(ctx, tc.uri)
			if !tc.ok {
				// A refused client certificate shows as the missing
				// confirmation byte.
				if !errors.Is(err, api.ErrSystemError) {
					if err == nil {
						c.Close(ctx)
					}
					t.Fatalf("Open = %v, want a SYSTEM_ERROR", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(ctx)
			d, err := c.LookupDomainByName(ctx, "test")
			if err != nil || d.ID() != 1 {
				t.Fatalf("lookup over TLS: %v", err)
			}
			uri, err := c.GetURI(ctx)
			if err != nil || uri != tc.uri {
				t.Fatalf("GetURI = %q, %v", uri, err)
			}
		})
	}
	t.Run("virsh", func(t *testing.T) {
		bin := requireVirsh(t)
		v := virshRunner{t: t, bin: bin, uri: "qemu+tls://" + addr + "/system?pkipath=" + good}
		v.ok([]string{"list", "--all"}, `^\s*1\s+test\s+running$`)
		bad := virshRunner{t: t, bin: bin, uri: "qemu+tls://" + addr + "/system?pkipath=" + untrusted}
		bad.fails([]string{"list", "--all"}, `TLS|certificate|verification`)
	})
	t.Run("go-libvirt", func(t *testing.T) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatal(err)
		}
		l := golibvirt.NewWithDialer(dialers.NewTLS(host, dialers.UseTLSPort(port), dialers.UsePKIPath(good)))
		if err := l.ConnectToURI(golibvirt.QEMUSystem); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := l.Disconnect(); err != nil {
				t.Error(err)
			}
		}()
		doms, _, err := l.ConnectListAllDomains(1, 0)
		if err != nil || len(doms) != 1 || doms[0].Name != "test" {
			t.Fatalf("domains over TLS: %+v, %v", doms, err)
		}
	})
}
