package remote_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
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

	"github.com/govirt/govirt/api"
	"github.com/govirt/govirt/api/daemon"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a certificate and key signed by the CA, as PEM.
func (ca *testCA) issue(t *testing.T, cn string, server bool) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		tmpl.DNSNames = []string{"localhost"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
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
// from a pkipath directory as an operator would (daemon.LoadServerTLS).
func TestTLS(t *testing.T) {
	ca := newCA(t, "govirt test CA")
	rogue := newCA(t, "someone else's CA")
	base := t.TempDir()

	serverCert, serverKey := ca.issue(t, "daemon", true)
	serverDir := filepath.Join(base, "server")
	writeFiles(t, serverDir, map[string][]byte{"servercert.pem": serverCert, "serverkey.pem": serverKey, "cacert.pem": ca.pem})
	tlsCfg, err := daemon.LoadServerTLS(serverDir)
	if err != nil {
		t.Fatal(err)
	}
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
				if err == nil {
					// TLS 1.3 reports a refused client certificate on
					// the first read, not in the handshake.
					_, err = c.GetHostname(ctx)
					c.Close(ctx)
				}
				if err == nil {
					t.Fatal("connection succeeded")
				}
				if !errors.Is(err, api.ErrSystemError) && !errors.Is(err, api.ErrRPC) {
					t.Fatalf("err = %v, want a connection error", err)
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
}
