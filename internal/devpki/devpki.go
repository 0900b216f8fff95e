// Package devpki makes a development public key infrastructure for the
// cluster's mutual TLS: a CA and leaf certificates (ECDSA P-256, crypto/x509)
// written as PEM files into a directory, so that the dev stack and the tests
// run with the same certificate checks as production without anyone running
// openssl. Valid existing files are reused, so a dev stack restarted on the
// same data directory keeps its CA. It is for development only: production
// certificates come from the operator's CA (cert-manager, Vault, a script).
package devpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// Validity of what Ensure makes; files valid for less than Renew more are
// replaced.
const (
	CAValidity   = 10 * 365 * 24 * time.Hour
	LeafValidity = 365 * 24 * time.Hour
	Renew        = 24 * time.Hour
)

// CA is a development certificate authority kept in Dir as ca.pem and
// ca-key.pem.
type CA struct {
	Dir  string
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// Files names a leaf's PEM files and the CA's certificate.
type Files struct {
	CA, Cert, Key string
}

// Leaf is what a leaf certificate names: URI SANs (the cluster identity,
// spiffe://…), DNS names and IP addresses.
type Leaf struct {
	// Name is the file stem: <Name>.pem and <Name>-key.pem.
	Name string
	URIs []string
	DNS  []string
	IPs  []net.IP
}

// EnsureCA loads the CA from dir, or makes a new one when it is missing,
// unreadable or close to expiry (leaves signed by an old CA are then made
// again by EnsureLeaf, which checks their chain).
func EnsureCA(dir string) (*CA, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("devpki: %w", err)
	}
	ca := &CA{Dir: dir}
	certFile, keyFile := ca.files()
	if pair, err := tls.LoadX509KeyPair(certFile, keyFile); err == nil && pair.Leaf.IsCA && time.Until(pair.Leaf.NotAfter) > Renew {
		if k, ok := pair.PrivateKey.(*ecdsa.PrivateKey); ok {
			ca.cert, ca.key = pair.Leaf, k
			return ca, nil
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("devpki: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "auction development CA", Organization: []string{"auction dev stack"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(CAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("devpki: create CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("devpki: %w", err)
	}
	if err := writePair(certFile, keyFile, der, key); err != nil {
		return nil, err
	}
	ca.cert, ca.key = cert, key
	return ca, nil
}

func (ca *CA) files() (string, string) {
	return filepath.Join(ca.Dir, "ca.pem"), filepath.Join(ca.Dir, "ca-key.pem")
}

// CertFile is the CA certificate's file, the trust anchor every service is
// given (CLUSTER_TLS_CA_FILE).
func (ca *CA) CertFile() string { f, _ := ca.files(); return f }

// Pool is a pool holding the CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// EnsureLeaf returns the files of a leaf certificate for l signed by ca,
// made (or made again) unless a valid one naming exactly l's names and
// chaining to ca is already there. The certificate serves both as a server
// and as a client certificate (mutual TLS).
func (ca *CA) EnsureLeaf(l Leaf) (Files, error) {
	f := Files{CA: ca.CertFile(), Cert: filepath.Join(ca.Dir, l.Name+".pem"), Key: filepath.Join(ca.Dir, l.Name+"-key.pem")}
	if l.Name == "" || l.Name != filepath.Base(l.Name) || l.Name == "ca" {
		return f, fmt.Errorf("devpki: bad leaf name %q", l.Name)
	}
	if ca.reusable(f, l) {
		return f, nil
	}
	_, err := ca.Issue(l, f.Cert, f.Key, LeafValidity)
	return f, err
}

// Issue signs a new leaf for l valid for validity and writes it to certFile
// and keyFile (tests use it to rotate a certificate).
func (ca *CA) Issue(l Leaf, certFile, keyFile string, validity time.Duration) (*x509.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("devpki: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: l.Name, Organization: []string{"auction dev stack"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     l.DNS,
		IPAddresses:  l.IPs,
	}
	for _, s := range l.URIs {
		u, err := url.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("devpki: URI SAN %q: %w", s, err)
		}
		tmpl.URIs = append(tmpl.URIs, u)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, fmt.Errorf("devpki: issue %s: %w", l.Name, err)
	}
	if err := writePair(certFile, keyFile, der, key); err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// reusable reports whether f holds a pair for exactly l's names, chaining to
// ca and valid for more than Renew.
func (ca *CA) reusable(f Files, l Leaf) bool {
	pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil || time.Until(pair.Leaf.NotAfter) < Renew {
		return false
	}
	if _, err := pair.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return false
	}
	var uris []string
	for _, u := range pair.Leaf.URIs {
		uris = append(uris, u.String())
	}
	var ips []string
	for _, ip := range pair.Leaf.IPAddresses {
		ips = append(ips, ip.String())
	}
	var want []string
	for _, ip := range l.IPs {
		want = append(want, ip.String())
	}
	return equal(uris, l.URIs) && equal(pair.Leaf.DNSNames, l.DNS) && equal(ips, want)
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	return n
}

// writePair writes the certificate and the key (mode 0600) through
// temporary files renamed into place, so that a reader never sees half a
// file.
func writePair(certFile, keyFile string, der []byte, key *ecdsa.PrivateKey) error {
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("devpki: %w", err)
	}
	return errors.Join(
		writeAtomic(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600),
		writeAtomic(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644))
}

func writeAtomic(name string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), ".tmp-"+filepath.Base(name))
	if err != nil {
		return fmt.Errorf("devpki: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("devpki: write %s: %w", name, err)
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("devpki: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("devpki: %w", err)
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return fmt.Errorf("devpki: %w", err)
	}
	return nil
}
