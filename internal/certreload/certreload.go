// Package certreload serves a TLS certificate and key from files and picks up
// a new pair when the files change, so that certificates can be rotated (by
// cert-manager, a Kubernetes secret update or a script) without restarting
// the service. The files are looked at no more often than a check interval;
// a pair that fails to load (half written, key not matching the certificate)
// is logged and the last good pair keeps being served.
package certreload

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultCheckInterval is how often, at most, the files are looked at: a
// rotated certificate is served within a few seconds, and a busy server does
// not stat two files on every handshake.
const DefaultCheckInterval = 3 * time.Second

// Option changes a Keypair.
type Option func(*Keypair)

// WithCheckInterval sets how often, at most, the files are checked for a
// change; 0 checks on every use.
func WithCheckInterval(d time.Duration) Option {
	return func(k *Keypair) { k.interval = d }
}

// Keypair is a certificate and its private key loaded from two PEM files and
// reloaded when either file changes. It is safe for concurrent use; its
// GetCertificate and GetClientCertificate methods go into a tls.Config.
type Keypair struct {
	certFile, keyFile string
	log               *slog.Logger
	interval          time.Duration
	now               func() time.Time

	cert atomic.Pointer[tls.Certificate]

	mu      sync.Mutex // guards the fields below and serializes reloads
	checked time.Time  // when the files were last looked at
	seen    stamp      // the files' state at the last load attempt, good or bad
}

// stamp identifies a state of both files cheaply, by modification time and
// size (os.Stat follows symlinks, so a Kubernetes secret's symlink swap
// counts as a change).
type stamp struct {
	certMod, keyMod   time.Time
	certSize, keySize int64
}

// New loads the pair from certFile and keyFile (PEM). An error here means the
// service must not start: there is no last good pair yet.
func New(certFile, keyFile string, log *slog.Logger, opts ...Option) (*Keypair, error) {
	if certFile == "" || keyFile == "" {
		return nil, errors.New("certreload: both a certificate file and a key file are needed")
	}
	k := &Keypair{certFile: certFile, keyFile: keyFile, log: log, interval: DefaultCheckInterval, now: time.Now}
	for _, o := range opts {
		o(k)
	}
	st, err := k.stat()
	if err != nil {
		return nil, err
	}
	c, err := k.load()
	if err != nil {
		return nil, err
	}
	k.cert.Store(c)
	k.seen, k.checked = st, k.now()
	return k, nil
}

// Certificate returns the current pair, first reloading it if the check
// interval has passed and the files changed.
func (k *Keypair) Certificate() *tls.Certificate {
	k.maybeReload()
	return k.cert.Load()
}

// GetCertificate is a tls.Config.GetCertificate for servers.
func (k *Keypair) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return k.Certificate(), nil
}

// GetClientCertificate is a tls.Config.GetClientCertificate for clients
// presenting this pair (mutual TLS).
func (k *Keypair) GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return k.Certificate(), nil
}

// Leaf is the current certificate, parsed.
func (k *Keypair) Leaf() *x509.Certificate { return k.Certificate().Leaf }

// Reload looks at the files now, whatever the interval, and loads them if
// they changed since the last attempt. It returns the load error of a
// changed pair that is bad (the last good pair stays in use).
func (k *Keypair) Reload() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.reloadLocked()
}

func (k *Keypair) maybeReload() {
	now := k.now()
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.interval > 0 && now.Sub(k.checked) < k.interval {
		return
	}
	_ = k.reloadLocked() // logged there
}

func (k *Keypair) reloadLocked() error {
	k.checked = k.now()
	st, err := k.stat()
	if err != nil {
		if st != k.seen {
			k.log.Warn("TLS certificate files unreadable; serving the previous certificate", "cert_file", k.certFile, "key_file", k.keyFile, "err", err)
		}
		k.seen = st
		return err
	}
	if st == k.seen {
		return nil
	}
	k.seen = st
	c, err := k.load()
	if err != nil {
		k.log.Warn("TLS certificate files changed but do not load; serving the previous certificate", "cert_file", k.certFile, "key_file", k.keyFile, "err", err)
		return err
	}
	k.cert.Store(c)
	k.log.Info("TLS certificate reloaded", "cert_file", k.certFile, "subject", c.Leaf.Subject.String(), "serial", c.Leaf.SerialNumber.String(), "not_after", c.Leaf.NotAfter)
	return nil
}

func (k *Keypair) stat() (stamp, error) {
	var st stamp
	ci, err := os.Stat(k.certFile)
	if err != nil {
		return st, fmt.Errorf("certreload: certificate file: %w", err)
	}
	st.certMod, st.certSize = ci.ModTime(), ci.Size()
	ki, err := os.Stat(k.keyFile)
	if err != nil {
		return st, fmt.Errorf("certreload: key file: %w", err)
	}
	st.keyMod, st.keySize = ki.ModTime(), ki.Size()
	return st, nil
}

func (k *Keypair) load() (*tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(k.certFile, k.keyFile)
	if err != nil {
		return nil, fmt.Errorf("certreload: load %s and %s: %w", k.certFile, k.keyFile, err)
	}
	if c.Leaf == nil {
		leaf, err := x509.ParseCertificate(c.Certificate[0])
		if err != nil {
			return nil, fmt.Errorf("certreload: parse %s: %w", k.certFile, err)
		}
		c.Leaf = leaf
	}
	return &c, nil
}
