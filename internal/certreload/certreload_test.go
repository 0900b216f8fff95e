package certreload_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pawnshop/auction/internal/certreload"
)

// pair is a generated self-signed certificate and its key, PEM-encoded.
type pair struct {
	certPEM, keyPEM []byte
	serial          *big.Int
	cert            *x509.Certificate
}

// newPair generates a self-signed certificate for 127.0.0.1 with serial n.
func newPair(t testing.TB, n int64) pair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(n),
		Subject:               pkix.Name{CommonName: "certreload test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pair{
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}),
		serial:  big.NewInt(n),
		cert:    cert,
	}
}

// files holds the paths of a certificate and key file in a test directory.
type files struct{ cert, key string }

func newFiles(t testing.TB) files {
	d := t.TempDir()
	return files{cert: filepath.Join(d, "tls.crt"), key: filepath.Join(d, "tls.key")}
}

// write writes p to f with modification time mod, so that each write is a
// visible change whatever the file system's time granularity.
func (f files) write(t testing.TB, certPEM, keyPEM []byte, mod time.Time) {
	t.Helper()
	for _, w := range []struct {
		path string
		data []byte
	}{{f.cert, certPEM}, {f.key, keyPEM}} {
		if err := os.WriteFile(w.path, w.data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(w.path, mod, mod); err != nil {
			t.Fatal(err)
		}
	}
}

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func serialOf(t testing.TB, k *certreload.Keypair) int64 {
	t.Helper()
	c, err := k.GetCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	return c.Leaf.SerialNumber.Int64()
}

func TestNewRefusesMissingOrBadFiles(t *testing.T) {
	f := newFiles(t)
	log := slog.New(slog.DiscardHandler)
	if _, err := certreload.New(f.cert, f.key, log); err == nil {
		t.Fatal("New with missing files succeeded")
	}
	a, b := newPair(t, 1), newPair(t, 2)
	f.write(t, a.certPEM, b.keyPEM, time.Now())
	if _, err := certreload.New(f.cert, f.key, log); err == nil {
		t.Fatal("New with a key that does not match the certificate succeeded")
	}
	if _, err := certreload.New("", f.key, log); err == nil {
		t.Fatal("New without a certificate file succeeded")
	}
}

func TestRotation(t *testing.T) {
	f := newFiles(t)
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	a := newPair(t, 1)
	f.write(t, a.certPEM, a.keyPEM, t0)
	k, err := certreload.New(f.cert, f.key, log, certreload.WithCheckInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	if got := serialOf(t, k); got != 1 {
		t.Fatalf("serial %d, want 1", got)
	}

	b := newPair(t, 2)
	f.write(t, b.certPEM, b.keyPEM, t0.Add(time.Second))
	if got := serialOf(t, k); got != 2 {
		t.Fatalf("after rotation: serial %d, want 2", got)
	}
	if !strings.Contains(logs.String(), "TLS certificate reloaded") {
		t.Errorf("no reload logged: %s", logs)
	}

	// A half-written rotation (new certificate, old key) keeps the last good
	// pair and is logged once.
	c := newPair(t, 3)
	f.write(t, c.certPEM, b.keyPEM, t0.Add(2*time.Second))
	for range 3 {
		if got := serialOf(t, k); got != 2 {
			t.Fatalf("after a bad pair: serial %d, want the last good 2", got)
		}
	}
	if n := strings.Count(logs.String(), "do not load"); n != 1 {
		t.Errorf("bad pair logged %d times, want once: %s", n, logs)
	}
	if err := k.Reload(); err != nil {
		t.Errorf("Reload of an unchanged bad pair: %v, want nil (already reported)", err)
	}

	// Garbage, then a good pair again.
	f.write(t, []byte("not a certificate"), []byte("not a key"), t0.Add(3*time.Second))
	if err := k.Reload(); err == nil {
		t.Error("Reload of garbage files succeeded")
	}
	if got := serialOf(t, k); got != 2 {
		t.Fatalf("after garbage: serial %d, want 2", got)
	}
	f.write(t, c.certPEM, c.keyPEM, t0.Add(4*time.Second))
	if got := serialOf(t, k); got != 3 {
		t.Fatalf("after the pair was completed: serial %d, want 3", got)
	}

	// Files removed: the last good pair stays.
	if err := os.Remove(f.key); err != nil {
		t.Fatal(err)
	}
	if got := serialOf(t, k); got != 3 {
		t.Fatalf("after the key file was removed: serial %d, want 3", got)
	}
}

func TestCheckInterval(t *testing.T) {
	f := newFiles(t)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	a, b := newPair(t, 1), newPair(t, 2)
	f.write(t, a.certPEM, a.keyPEM, t0)
	k, err := certreload.New(f.cert, f.key, slog.New(slog.DiscardHandler), certreload.WithCheckInterval(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	clock := t0
	certreload.SetClock(k, func() time.Time { return clock })
	if err := k.Reload(); err != nil { // the interval now counts from clock
		t.Fatal(err)
	}
	f.write(t, b.certPEM, b.keyPEM, t0.Add(time.Second))
	clock = t0.Add(59 * time.Second)
	if got := serialOf(t, k); got != 1 {
		t.Fatalf("within the check interval: serial %d, want 1 (files not looked at yet)", got)
	}
	clock = t0.Add(61 * time.Second)
	if got := serialOf(t, k); got != 2 {
		t.Fatalf("after the check interval: serial %d, want 2", got)
	}
}

// TestHandshakeAfterRotation serves TLS through GetCertificate and checks a
// client sees the rotated certificate on its next connection, and that the
// client side (GetClientCertificate) presents the current pair too.
func TestHandshakeAfterRotation(t *testing.T) {
	sf, cf := newFiles(t), newFiles(t)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	s1, s2, cl := newPair(t, 11), newPair(t, 12), newPair(t, 21)
	sf.write(t, s1.certPEM, s1.keyPEM, t0)
	cf.write(t, cl.certPEM, cl.keyPEM, t0)
	log := slog.New(slog.DiscardHandler)
	srvPair, err := certreload.New(sf.cert, sf.key, log, certreload.WithCheckInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	cliPair, err := certreload.New(cf.cert, cf.key, log, certreload.WithCheckInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	clientCAs := x509.NewCertPool()
	clientCAs.AddCert(cl.cert)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		GetCertificate: srvPair.GetCertificate,
		ClientAuth:     tls.RequireAndVerifyClientCert,
		ClientCAs:      clientCAs,
		MinVersion:     tls.VersionTLS12,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			_ = c.Close()
		}
	}()

	roots := x509.NewCertPool()
	roots.AddCert(s1.cert)
	roots.AddCert(s2.cert)
	dial := func() *big.Int {
		t.Helper()
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: roots, GetClientCertificate: cliPair.GetClientCertificate, MinVersion: tls.VersionTLS12})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber
	}
	if got := dial(); got.Cmp(s1.serial) != 0 {
		t.Fatalf("served serial %v, want %v", got, s1.serial)
	}
	sf.write(t, s2.certPEM, s2.keyPEM, t0.Add(time.Second))
	if got := dial(); got.Cmp(s2.serial) != 0 {
		t.Fatalf("after rotation: served serial %v, want %v", got, s2.serial)
	}
}
